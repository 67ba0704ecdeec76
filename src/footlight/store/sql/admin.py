"""What operators change in the SQL store: deleting sessions, retention and its purge, API
tokens, and the UI's signed-in sessions."""

from __future__ import annotations

from collections.abc import Callable

from footlight.errors import UnknownProject
from footlight.store.base import (
    ApiToken,
    PurgeResult,
    Reclaimed,
    TokenScope,
)
from footlight.store.sql.access import Access, require_project
from footlight.store.sql.assets import delete_orphan_assets, delete_session_assets
from footlight.store.sql.derived import DERIVED_BY_ORIGIN
from footlight.store.sql.engine import Connection
from footlight.store.sql.rows import (
    api_token,
)

DAY_MS = 86_400_000
_TOKEN_COLUMNS = "t.id, t.name, t.project_id, t.created_at, t.scope"  # noqa: S105 - columns


PurgeProgress = Callable[[int, int], None]
"""Told after each session a purge deletes: sessions deleted so far, and their payload bytes."""


def _past_every_retention(conn: Connection, now: int) -> int | None:
    """What is older than this is past every project's retention: stored OTLP exports (they
    may span projects) and whole months of payloads go then. None: some project keeps
    everything."""
    row = conn.execute(
        "SELECT count(*) AS projects, count(retention_days) AS limited,"
        " max(retention_days) AS longest FROM projects"
    ).fetchone()
    if row["projects"] == 0 or row["limited"] < row["projects"]:
        return None
    return int(now - row["longest"] * DAY_MS)


def delete_session_rows(conn: Connection, session_id: int, secure_id: str) -> None:
    """Remove a session, its input and everything derived from it, in one transaction."""
    for table in DERIVED_BY_ORIGIN:
        conn.execute(
            f"DELETE FROM {table} WHERE origin = ? OR session_secure_id = ?",
            (f"session:{session_id}", secure_id),
        )
    backend = [
        r[0]
        for r in conn.execute("SELECT id FROM backend_errors WHERE session_id = ?", (session_id,))
    ]
    for error_id in backend:
        conn.execute("DELETE FROM errors WHERE origin = ?", (f"backend:{error_id}",))
        conn.execute("DELETE FROM processing_queue WHERE kind = 'backend' AND key = ?", (error_id,))
    for table in ("payloads", "session_fields", "feedback", "metrics", "backend_errors"):
        conn.execute(f"DELETE FROM {table} WHERE session_id = ?", (session_id,))
    conn.execute(
        "DELETE FROM processing_queue WHERE kind IN ('session', 'live') AND key = ?", (session_id,)
    )
    conn.execute("DELETE FROM live_cursors WHERE session_id = ?", (session_id,))
    delete_session_assets(conn, session_id)
    conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


class AdminQueries(Access):
    # -- deletion and retention -------------------------------------------------------------

    async def delete_session(self, secure_id: str) -> bool:
        def delete(conn: Connection) -> bool:
            row = conn.execute(
                "SELECT id FROM sessions WHERE secure_id = ?", (secure_id,)
            ).fetchone()
            if row is None:
                return False
            delete_session_rows(conn, int(row[0]), secure_id)
            return True

        return await self._write(delete)

    async def expired_otlp_batches(self, now: int) -> int:
        def count(conn: Connection) -> int:
            cutoff = _past_every_retention(conn, now)
            if cutoff is None:
                return 0
            row = conn.execute(
                "SELECT count(*) FROM otlp_batches WHERE received_at < ?", (cutoff,)
            ).fetchone()
            return int(row[0])

        return await self._read(count)

    async def reclaim_space(self) -> Reclaimed:
        return await self.engine.reclaim()

    async def compact(self) -> Reclaimed:
        return await self.engine.compact()

    async def set_retention(self, project_id: int, days: int | None) -> None:
        def update(conn: Connection) -> None:
            cur = conn.execute(
                "UPDATE projects SET retention_days = ? WHERE id = ?", (days, project_id)
            )
            if cur.rowcount == 0:
                raise UnknownProject(project_id)

        await self._write(update)

    async def purge_expired(
        self, now: int, batch: int = 100, progress: PurgeProgress | None = None
    ) -> PurgeResult:
        """Delete sessions older than their project's retention, `batch` at a time.

        Sessions go one transaction each, so a purge never holds the writer for long and a
        crash mid-purge leaves whole sessions, never half of one. OTLP batches and what they
        produced go once older than every project's retention (they can span projects).
        """
        # Where the engine keeps each month's payloads apart (PostgreSQL), the months older
        # than every project's retention go whole first: their disk comes back at once, and
        # the sessions' own deletes below find no payloads left to delete row by row.
        cutoff = await self._read(lambda conn: _past_every_retention(conn, now))
        dropped = 0 if cutoff is None else await self.engine.drop_payloads_before(cutoff)
        await self.engine.prepare_partitions(now)
        sessions = freed = 0
        while True:

            def expired(conn: Connection) -> list[tuple[int, str, int]]:
                return [
                    (r[0], r[1], int(r[2] or 0))
                    for r in conn.execute(
                        "SELECT s.id, s.secure_id, z.stored_bytes FROM sessions s JOIN projects p"
                        " ON p.id = s.project_id LEFT JOIN session_sizes z ON z.session_id = s.id"
                        " WHERE p.retention_days IS NOT NULL"
                        " AND s.created_at < ? - p.retention_days * CAST(? AS BIGINT) LIMIT ?",
                        (now, DAY_MS, batch),
                    )
                ]

            found = await self._read(expired)
            for session_id, secure_id, stored_bytes in found:

                def delete(conn: Connection, sid: int = session_id, sec: str = secure_id) -> None:
                    delete_session_rows(conn, sid, sec)

                await self._write(delete)
                freed += stored_bytes
                sessions += 1
                if progress is not None:
                    progress(sessions, freed)
            if len(found) < batch:
                break

        def purge_otlp(conn: Connection) -> int:
            cutoff = _past_every_retention(conn, now)
            if cutoff is None:
                return 0
            old = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM otlp_batches WHERE received_at < ? LIMIT ?", (cutoff, batch)
                )
            ]
            for batch_id in old:
                for table in DERIVED_BY_ORIGIN:
                    conn.execute(f"DELETE FROM {table} WHERE origin = ?", (f"otlp:{batch_id}",))
                conn.execute(
                    "DELETE FROM processing_queue WHERE kind = 'otlp' AND key = ?", (batch_id,)
                )
                conn.execute("DELETE FROM otlp_batches WHERE id = ?", (batch_id,))
            return len(old)

        orphans = 0
        while (purged := await self._write(purge_otlp)) > 0:
            orphans += purged
        assets = await self._write(lambda conn: delete_orphan_assets(conn, now))
        return PurgeResult(
            sessions=sessions,
            orphans=orphans,
            bytes_freed=freed,
            returned_bytes=dropped,
            assets=assets,
        )

    # -- API tokens -------------------------------------------------------------------------

    async def add_token(
        self,
        token_hash: bytes,
        name: str,
        project_id: int | None,
        at: int,
        scope: TokenScope = "read",
    ) -> ApiToken:
        def add(conn: Connection) -> ApiToken:
            require_project(conn, project_id)
            token_id = conn.execute(
                "INSERT INTO api_tokens (token_hash, project_id, name, created_at, scope)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (token_hash, project_id, name, at, scope),
            ).fetchone()[0]
            return ApiToken(int(token_id), name, project_id, at, scope)

        return await self._write(add)

    async def token_by_hash(self, token_hash: bytes) -> ApiToken | None:
        def read(conn: Connection) -> ApiToken | None:
            r = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t WHERE t.token_hash = ?",
                (token_hash,),
            ).fetchone()
            return None if r is None else api_token(r)

        return await self._operator_read(read)

    async def list_tokens(self) -> list[ApiToken]:
        def read(conn: Connection) -> list[ApiToken]:
            return [
                api_token(r)
                for r in conn.execute(f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t ORDER BY t.id")
            ]

        return await self._read(read)

    async def revoke_token(self, token_id: int) -> bool:
        def revoke(conn: Connection) -> bool:
            return conn.execute("DELETE FROM api_tokens WHERE id = ?", (token_id,)).rowcount > 0

        return await self._write(revoke)

    # -- UI sessions ------------------------------------------------------------------------

    async def add_ui_session(self, id_hash: bytes, token_id: int, at: int, expires_at: int) -> None:
        def add(conn: Connection) -> None:
            # Expired sign-ins are dropped here rather than by a timer: sign-ins are rare.
            conn.execute("DELETE FROM ui_sessions WHERE expires_at <= ?", (at,))
            conn.execute(
                "INSERT INTO ui_sessions (id_hash, token_id, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (id_hash, token_id, at, expires_at),
            )

        await self._write(add)

    async def ui_session_token(self, id_hash: bytes, now: int) -> ApiToken | None:
        def read(conn: Connection) -> ApiToken | None:
            r = conn.execute(
                f"SELECT {_TOKEN_COLUMNS} FROM ui_sessions u"
                " JOIN api_tokens t ON t.id = u.token_id WHERE u.id_hash = ? AND u.expires_at > ?",
                (id_hash, now),
            ).fetchone()
            return None if r is None else api_token(r)

        return await self._operator_read(read)

    async def delete_ui_session(self, id_hash: bytes) -> None:
        def delete(conn: Connection) -> None:
            conn.execute("DELETE FROM ui_sessions WHERE id_hash = ?", (id_hash,))

        await self._write(delete)
