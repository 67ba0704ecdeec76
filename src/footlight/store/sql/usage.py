"""Daily quotas and usage counters in the SQL store (see footlight.ingest.quotas).

Every footlight process keeps its own counters in memory and adds them to `project_usage`
every few seconds with `sync_usage`, which also reads back the quotas and today's totals:
one short write per process per sync, never one per request. Adding is an upsert
(`count = count + excluded.count`), so processes on several nodes never overwrite each
other's counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from footlight.errors import UnknownProject
from footlight.store.base import QUOTAS, Project, UsageCount, UsageTotals
from footlight.store.sql.access import Access
from footlight.store.sql.engine import Connection

PROJECT_COLUMNS = (
    "id, name, created_at, retention_days, quota_bytes_per_day, quota_sessions_per_day"
)


def project_of(row: Any, keys: tuple[str, ...] = ()) -> Project:
    return Project(
        row["id"],
        row["name"],
        row["created_at"],
        keys,
        row["retention_days"],
        row["quota_bytes_per_day"],
        row["quota_sessions_per_day"],
    )


class UsageQueries(Access):
    async def set_quotas(self, project_id: int, quotas: Mapping[str, int | None]) -> Project:
        unknown = set(quotas) - set(QUOTAS)
        if unknown:
            raise ValueError(f"no such quota: {', '.join(sorted(unknown))}")

        def update(conn: Connection) -> Project:
            for name, value in quotas.items():
                # `name` is one of QUOTAS, checked above: never a stranger's text.
                conn.execute(
                    f"UPDATE projects SET quota_{name} = ? WHERE id = ?", (value, project_id)
                )
            row = conn.execute(
                f"SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?", (project_id,)
            ).fetchone()
            if row is None:
                raise UnknownProject(project_id)
            keys = tuple(
                r[0]
                for r in conn.execute(
                    "SELECT key FROM project_keys WHERE project_id = ? ORDER BY key", (project_id,)
                )
            )
            return project_of(row, keys)

        return await self._write(update)

    async def sync_usage(self, counts: Sequence[UsageCount], day: int) -> UsageTotals:
        rows = [(c.project_id, c.day, c.kind, c.count, c.bytes) for c in counts]

        def sync(conn: Connection) -> UsageTotals:
            if rows:
                conn.executemany(
                    "INSERT INTO project_usage (project_id, day, kind, count, bytes)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (project_id, day, kind) DO UPDATE"
                    " SET count = project_usage.count + excluded.count,"
                    " bytes = project_usage.bytes + excluded.bytes",
                    rows,
                )
            quotas = {
                row["id"]: project_of(row)
                for row in conn.execute(
                    f"SELECT {PROJECT_COLUMNS} FROM projects WHERE quota_bytes_per_day"
                    " IS NOT NULL OR quota_sessions_per_day IS NOT NULL"
                )
            }
            today: dict[int, tuple[int, int]] = {}
            if quotas:
                for row in conn.execute(
                    "SELECT u.project_id, u.kind, u.count, u.bytes FROM project_usage u"
                    " JOIN projects p ON p.id = u.project_id"
                    " WHERE u.day = ? AND u.kind IN ('accepted', 'sessions')"
                    " AND (p.quota_bytes_per_day IS NOT NULL"
                    " OR p.quota_sessions_per_day IS NOT NULL)",
                    (day,),
                ):
                    used_bytes, sessions = today.get(row[0], (0, 0))
                    if row[1] == "accepted":
                        used_bytes = int(row[3])
                    else:
                        sessions = int(row[2])
                    today[int(row[0])] = (used_bytes, sessions)
            return UsageTotals(quotas, today)

        return await self._write(sync)

    async def usage(self, project_ids: Sequence[int] | None, since_day: int) -> list[UsageCount]:
        if project_ids is not None and not project_ids:
            return []

        def read(conn: Connection) -> list[UsageCount]:
            sql = "SELECT project_id, day, kind, count, bytes FROM project_usage WHERE day >= ?"
            parameters: list[Any] = [since_day]
            if project_ids is not None:
                sql += f" AND project_id IN ({', '.join('?' * len(project_ids))})"
                parameters += project_ids
            sql += " ORDER BY day, project_id, kind"
            return [
                UsageCount(int(r[0]), int(r[1]), str(r[2]), int(r[3]), int(r[4]))
                for r in conn.execute(sql, parameters)
            ]

        return await self._read(read)
