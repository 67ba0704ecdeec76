"""The read side of the SQL store for what spans sessions: errors and their groups, traces,
backend logs and the backend services that report. Read on the operator lane, as
`footlight.store.sql.queries` explains, each list bounded by its `limit`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from footlight.store.base import (
    BackendService,
    ErrorGroupView,
    ErrorView,
    LogQuery,
    LogView,
    SpanView,
)
from footlight.store.sql.access import Access, in_projects, like_pattern
from footlight.store.sql.engine import Connection
from footlight.store.sql.rows import (
    error_occurrence,
    error_view,
    log_view,
    span_view,
)


class TelemetryQueries(Access):
    # -- errors -----------------------------------------------------------------------------

    async def errors(
        self,
        project_ids: Sequence[int] | None,
        *,
        session_secure_id: str | None = None,
        fingerprint: str | None = None,
        trace_id: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[ErrorView]:
        clause, args = in_projects("project_id", project_ids)
        where = [clause]
        if session_secure_id is not None:
            where.append("session_secure_id = ?")
            args.append(session_secure_id)
        if fingerprint is not None:
            where.append("fingerprint = ?")
            args.append(fingerprint)
        if trace_id is not None:
            where.append("trace_id = ?")
            args.append(trace_id)
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        order = "timestamp, id" if session_secure_id is not None else "id DESC"
        sql = f"SELECT * FROM errors WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"

        def read(conn: Connection) -> list[ErrorView]:
            return [error_view(r) for r in conn.execute(sql, [*args, limit])]

        return await self._operator_read(read)

    async def error_groups(
        self,
        project_ids: Sequence[int] | None,
        *,
        fingerprint: str | None = None,
        after: tuple[int, int, str] | None = None,
        limit: int = 50,
    ) -> list[ErrorGroupView]:
        """Groups (project, fingerprint), most recently seen first; counts are aggregates.

        `after` is the (last_seen, project_id, fingerprint) of the previous page's last group.

        A group's type, message and `latest` are those of its most recent occurrence (by
        timestamp, then id): the one `last_seen` tells of, whatever order errors were stored in.
        """
        clause, args = in_projects("e.project_id", project_ids)
        where = [clause, "e.project_id IS NOT NULL"]
        if fingerprint is not None:
            where.append("e.fingerprint = ?")
            args.append(fingerprint)
        having = ""
        if after is not None:
            having = (
                "HAVING max(e.timestamp) < ? OR (max(e.timestamp) = ?"
                " AND (e.project_id, e.fingerprint) > (?, ?))"
            )
            args_having: list[Any] = [after[0], after[0], after[1], after[2]]
        else:
            args_having = []
        sql = (
            "SELECT e.project_id, e.fingerprint, count(*) AS count,"
            " count(DISTINCT e.session_secure_id) AS sessions, min(e.timestamp) AS first_seen,"
            " max(e.timestamp) AS last_seen, (SELECT l.id FROM errors l"
            " WHERE l.project_id = e.project_id AND l.fingerprint = e.fingerprint"
            " ORDER BY l.timestamp DESC, l.id DESC LIMIT 1) AS latest_id FROM errors e"
            f" WHERE {' AND '.join(where)} GROUP BY e.project_id, e.fingerprint {having}"
            " ORDER BY last_seen DESC, e.project_id, e.fingerprint LIMIT ?"
        )

        def read(conn: Connection) -> list[ErrorGroupView]:
            groups = []
            for g in conn.execute(sql, [*args, *args_having, limit]).fetchall():
                latest = error_occurrence(
                    conn.execute("SELECT * FROM errors WHERE id = ?", (g["latest_id"],)).fetchone()
                )
                groups.append(
                    ErrorGroupView(
                        project_id=g["project_id"],
                        fingerprint=g["fingerprint"],
                        type=latest.type,
                        message=latest.message,
                        count=g["count"],
                        sessions=g["sessions"],
                        first_seen=g["first_seen"],
                        last_seen=g["last_seen"],
                        latest=latest,
                    )
                )
            return groups

        return await self._operator_read(read)

    async def trace_spans(
        self,
        trace_ids: Sequence[str],
        project_ids: Sequence[int] | None,
        after: tuple[float, int] | None = None,
        limit: int = 200,
    ) -> list[SpanView]:
        if not trace_ids:
            return []
        clause, args = in_projects("s.project_id", project_ids)
        where = [f"sp.trace_id IN ({', '.join('?' * len(trace_ids))})", clause]
        args = [*trace_ids, *args]
        if after is not None:
            where.append("(sp.started_at > ? OR (sp.started_at = ? AND sp.id > ?))")
            args += [after[0], after[0], after[1]]
        sql = (
            "SELECT sp.*, s.project_id FROM spans sp"
            " LEFT JOIN sessions s ON s.secure_id = sp.session_secure_id"
            f" WHERE {' AND '.join(where)} ORDER BY sp.started_at, sp.id LIMIT ?"
        )

        def read(conn: Connection) -> list[SpanView]:
            return [span_view(r) for r in conn.execute(sql, [*args, limit])]

        return await self._operator_read(read)

    async def backend_services(self, project_ids: Sequence[int] | None) -> list[BackendService]:
        clause, args = in_projects("project_id", project_ids)

        def read(conn: Connection) -> list[BackendService]:
            return [
                BackendService(r["project_id"], r["name"], r["first_seen"], r["last_seen"])
                for r in conn.execute(
                    f"SELECT * FROM backend_services WHERE {clause} ORDER BY project_id, name",
                    args,
                )
            ]

        return await self._operator_read(read)

    async def logs(self, query: LogQuery) -> list[LogView]:
        clause, args = in_projects("project_id", query.project_ids)
        where = [clause]
        for column, value in (
            ("session_secure_id", query.session_secure_id),
            ("service_name", query.service_name),
            ("level", query.level),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if query.text is not None:
            where.append("lower(message) LIKE lower(?) ESCAPE '\\'")
            args.append(like_pattern(query.text))
        if query.after is not None:
            where.append("timestamp >= ?")
            args.append(query.after)
        if query.before is not None:
            where.append("timestamp < ?")
            args.append(query.before)
        if query.cursor is not None:
            where.append("(timestamp < ? OR (timestamp = ? AND id < ?))")
            args += [query.cursor[0], query.cursor[0], query.cursor[1]]
        sql = (
            f"SELECT * FROM logs WHERE {' AND '.join(where)}"
            " ORDER BY timestamp DESC, id DESC LIMIT ?"
        )

        def read(conn: Connection) -> list[LogView]:
            return [log_view(r) for r in conn.execute(sql, [*args, query.limit])]

        return await self._operator_read(read)
