"""What an operator reads about the store itself: what each project holds, what retention
would free, processing's queue, the disk (`footlight status`, `/ui/status`, `/metrics`).

Each figure comes from what the store already keeps small: a session's payload bytes are
`session_sizes` (kept by the push that stores them), sessions are counted per project, the
queue is its own table. The last hour's payloads are found without an index on their time:
payloads are appended in `seq` order as they arrive, so a binary search over `seq` finds
the first of the hour in ~30 point reads, and only the hour itself is scanned.
"""

from __future__ import annotations

from collections.abc import Sequence

from footlight.store.base import ProjectStorage, QueueState, StoreFootprint, StoreGauges
from footlight.store.sql.access import Access, in_projects
from footlight.store.sql.derived import DERIVED_BY_ORIGIN
from footlight.store.sql.engine import Connection

HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def first_seq_since(conn: Connection, cutoff: int) -> int | None:
    """The first payload (by seq) received at or after `cutoff`; None if none was.

    Assumes arrival order: `received_at` grows with `seq` (both are taken as the push is
    stored; pushes committed together may be a few milliseconds out of order, which moves
    the hour's edge by as much).
    """
    bounds = conn.execute("SELECT min(seq), max(seq) FROM payloads").fetchone()
    low, high = bounds[0], bounds[1]
    if high is None:
        return None
    last = conn.execute("SELECT received_at FROM payloads WHERE seq = ?", (high,)).fetchone()
    if last[0] < cutoff:
        return None
    # Invariant: the answer is the first payload at or after some seq in [low, high].
    while low < high:
        middle = (low + high) // 2
        row = conn.execute(
            "SELECT seq, received_at FROM payloads WHERE seq >= ? ORDER BY seq LIMIT 1",
            (middle,),
        ).fetchone()
        if row[1] >= cutoff:
            high = middle
        else:
            low = int(row[0]) + 1
    return int(low)


_PROJECT_TABLES = ("errors", "logs")
"""Derived tables whose rows name their project themselves (a backend's rows may name no
session); the others are a session's, and count towards the session's project."""


class OperatingQueries(Access):
    async def derived_rows(self, project_ids: Sequence[int] | None = None) -> dict[int, int]:
        def read(conn: Connection) -> dict[int, int]:
            counts: dict[int, int] = {}
            where, args = in_projects("project_id", project_ids)
            joined, _ = in_projects("s.project_id", project_ids)
            for table in (*DERIVED_BY_ORIGIN, "session_pages"):
                if table in _PROJECT_TABLES:
                    query = (
                        f"SELECT project_id, count(*) FROM {table}"
                        f" WHERE {where} GROUP BY project_id"
                    )
                elif table == "session_pages":
                    query = (
                        "SELECT s.project_id, count(*) FROM session_pages t"
                        " JOIN sessions s ON s.id = t.session_id"
                        f" WHERE {joined}"
                        " GROUP BY s.project_id"
                    )
                else:
                    query = (
                        f"SELECT s.project_id, count(*) FROM {table} t"
                        " JOIN sessions s ON s.secure_id = t.session_secure_id"
                        f" WHERE {joined}"
                        " GROUP BY s.project_id"
                    )
                for project_id, rows in conn.execute(query, args):
                    if project_id is not None:
                        counts[int(project_id)] = counts.get(int(project_id), 0) + int(rows)
            return counts

        return await self._read(read)

    async def store_gauges(self, now: int) -> StoreGauges:
        def read(conn: Connection) -> tuple[list[QueueState], int]:
            queue = [
                QueueState(
                    kind=r[0],
                    waiting=int(r[1]),
                    due=int(r[2]),
                    oldest_due_at=None if r[3] is None else int(r[3]),
                    quarantined=int(r[4]),
                )
                for r in conn.execute(
                    "SELECT kind,"
                    " count(*) - count(quarantined_at),"
                    " sum(CASE WHEN quarantined_at IS NULL AND due_at <= ?"
                    "  AND (lease_until IS NULL OR lease_until < ?) THEN 1 ELSE 0 END),"
                    " min(CASE WHEN quarantined_at IS NULL AND due_at <= ?"
                    "  AND (lease_until IS NULL OR lease_until < ?) THEN due_at END),"
                    " count(quarantined_at)"
                    " FROM processing_queue GROUP BY kind ORDER BY kind",
                    (now, now, now, now),
                )
            ]
            recording = next(
                (q.waiting for q in queue if q.kind == "session"),
                0,
            )
            return queue, recording

        queue, recording = await self._read(read)
        return StoreGauges(queue, recording, await self.engine.footprint(tables=False))

    async def footprint(self, tables: bool = False) -> StoreFootprint:
        return await self.engine.footprint(tables=tables)

    async def project_storage(
        self, now: int, project_ids: Sequence[int] | None = None
    ) -> list[ProjectStorage]:
        hour_ago = now - HOUR_MS

        def read(conn: Connection) -> list[ProjectStorage]:
            where, args = in_projects("p.id", project_ids)
            # BIGINT: days in ms pass PostgreSQL's 32-bit integer beyond 24 days.
            expired = (
                "p.retention_days IS NOT NULL"
                " AND s.created_at < ? - p.retention_days * CAST(? AS BIGINT)"
            )
            rows = conn.execute(
                "SELECT p.id, p.name, p.retention_days, count(s.id),"
                " coalesce(sum(z.stored_bytes), 0), min(s.created_at),"
                f" coalesce(sum(CASE WHEN {expired} THEN 1 ELSE 0 END), 0),"
                f" coalesce(sum(CASE WHEN {expired} THEN coalesce(z.stored_bytes, 0)"
                " ELSE 0 END), 0),"
                " coalesce(sum(CASE WHEN s.created_at >= ? THEN 1 ELSE 0 END), 0)"
                " FROM projects p LEFT JOIN sessions s ON s.project_id = p.id"
                " LEFT JOIN session_sizes z ON z.session_id = s.id"
                f" WHERE {where} GROUP BY p.id, p.name, p.retention_days ORDER BY p.id",
                (now, DAY_MS, now, DAY_MS, hour_ago, *args),
            ).fetchall()
            recent: dict[int, tuple[int, int]] = {}
            first = first_seq_since(conn, hour_ago)
            if first is not None:
                for r in conn.execute(
                    "SELECT s.project_id, count(*), sum(length(p.body)) FROM payloads p"
                    " JOIN sessions s ON s.id = p.session_id"
                    " WHERE p.seq >= ? AND p.received_at >= ? GROUP BY s.project_id",
                    (first, hour_ago),
                ):
                    recent[int(r[0])] = (int(r[1]), int(r[2] or 0))
            return [
                ProjectStorage(
                    project_id=int(r[0]),
                    name=r[1],
                    retention_days=r[2],
                    sessions=int(r[3]),
                    payload_bytes=int(r[4]),
                    oldest_session_at=None if r[5] is None else int(r[5]),
                    expired_sessions=int(r[6]),
                    expired_bytes=int(r[7]),
                    recent_sessions=int(r[8]),
                    recent_payloads=recent.get(int(r[0]), (0, 0))[0],
                    recent_bytes=recent.get(int(r[0]), (0, 0))[1],
                )
                for r in rows
            ]

        return await self._read(read)
