"""Asset capture in the SQL store: projects' asset origins, the bytes fetched for recordings
(content-addressed, kept once however many sessions link them), what each session
referenced, and the cursor of each session's scan (migration 13).

Writes come from `footlight.processing.assets`, one transaction per fetched asset (its bytes
and the session's row together), so a crash loses at most the fetch in flight, and the scan's
cursor moves only once every URL of the payloads before it has a row. Reads serve the replay:
a session's URL -> asset map (bounded by the per-session URL cap) and one asset's bytes, only
through a session that links it, so a token of one project cannot read another's assets by
guessing digests.
"""

from __future__ import annotations

from collections.abc import Sequence

from footlight.core.clock import now_ms
from footlight.errors import LeaseLost
from footlight.store._assets import AssetBody, AssetReport, AssetScan, SessionAsset
from footlight.store.base import Job
from footlight.store.sql.access import Access, require_project
from footlight.store.sql.engine import Connection
from footlight.store.sql.processing import finish_run, locked_version

_GRACE_MS = 3_600_000
"""An unreferenced asset goes only once no session has linked it for this long: a capture
linking it in a transaction still open cannot lose it to a purge running meanwhile."""
_CAPTURE_LOOK_MS = 5_000
"""How often the write path looks again whether any project captures assets: a project that
lists its first origin (from any process) is captured within this long."""
_CAPTURES = (
    "EXISTS (SELECT 1 FROM sessions s JOIN asset_origins o ON o.project_id = s.project_id"
    " WHERE s.id = ?)"
)
"""Whether the session's project lists asset origins (`_schedule_soon`'s condition)."""
_PROBLEMS = 200
"""Failed and skipped URLs a report lists (the newest); the counts cover all of them."""


class AssetQueries(Access):
    # -- configuration ------------------------------------------------------------------------

    async def set_asset_origins(self, project_id: int, origins: Sequence[str]) -> None:
        def update(conn: Connection) -> None:
            require_project(conn, project_id)
            conn.execute("DELETE FROM asset_origins WHERE project_id = ?", (project_id,))
            for origin in dict.fromkeys(origins):
                conn.execute(
                    "INSERT INTO asset_origins (project_id, origin) VALUES (?, ?)",
                    (project_id, origin),
                )

        await self._write(update)
        self._capture_looked_at = -_CAPTURE_LOOK_MS  # this process looks again at once

    async def asset_origins(self, project_id: int) -> tuple[str, ...]:
        def read(conn: Connection) -> tuple[str, ...]:
            return tuple(
                r[0]
                for r in conn.execute(
                    "SELECT origin FROM asset_origins WHERE project_id = ? ORDER BY origin",
                    (project_id,),
                )
            )

        return await self._read(read)

    _any_capture = True
    """Whether some project listed asset origins when last looked (`_CAPTURE_LOOK_MS`)."""
    _capture_looked_at = -_CAPTURE_LOOK_MS

    def _schedule_assets(self, conn: Connection, session_id: int, now: int) -> None:
        """Queue the session's capture, in the transaction that stored a payload, if its
        project captures assets (see `_schedule_soon`).

        While no project lists an origin (every store until someone opts in), a push pays
        for nothing but a look every few seconds at whether one does."""
        if self.timing.assets_delay_ms is None:
            return
        if now - self._capture_looked_at >= _CAPTURE_LOOK_MS:
            row = conn.execute("SELECT EXISTS (SELECT 1 FROM asset_origins)").fetchone()
            self._any_capture, self._capture_looked_at = bool(row[0]), now
        if self._any_capture:
            # One indexed probe: nothing is queued for a project that does not capture.
            self._schedule_soon(
                conn, "assets", session_id, now, self.timing.assets_delay_ms, _CAPTURES
            )

    # -- capture ------------------------------------------------------------------------------

    async def asset_scan(self, session_id: int) -> AssetScan | None:
        """Where the session's capture stands; None if the session is gone."""

        def read(conn: Connection) -> AssetScan | None:
            session = conn.execute(
                "SELECT project_id FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            if session is None:
                return None
            project_id = int(session[0])
            origins = tuple(
                r[0]
                for r in conn.execute(
                    "SELECT origin FROM asset_origins WHERE project_id = ?", (project_id,)
                )
            )
            cursor = conn.execute(
                "SELECT payload_id, seq FROM asset_cursors WHERE session_id = ?", (session_id,)
            ).fetchone()
            recorded = frozenset(
                r[0]
                for r in conn.execute(
                    "SELECT url FROM session_assets WHERE session_id = ?", (session_id,)
                )
            )
            stored = _linked_bytes(conn, session_id)
            return AssetScan(
                session_id=session_id,
                project_id=project_id,
                origins=origins,
                cursor=None if cursor is None or cursor[0] is None else (cursor[0], cursor[1]),
                recorded=recorded,
                stored_bytes=stored,
            )

        return await self._read(read)

    async def recent_asset(self, project_id: int, url: str, since: int) -> SessionAsset | None:
        """The newest fetch of `url` (stored, or failed) by a session of the project since
        `since`: a row copied from another session keeps the time of the fetch it copies."""

        def read(conn: Connection) -> SessionAsset | None:
            row = conn.execute(
                "SELECT sa.fetched_at, sa.status, sa.digest, sa.final_url, sa.reason, a.size,"
                " a.content_type FROM session_assets sa LEFT JOIN assets a"
                " ON a.digest = sa.digest WHERE sa.project_id = ? AND sa.url = ?"
                " AND sa.fetched_at >= ? AND sa.status IN ('stored', 'failed')"
                " ORDER BY sa.fetched_at DESC LIMIT 1",
                (project_id, url, since),
            ).fetchone()
            if row is None or (row[1] == "stored" and row[5] is None):
                return None  # (its bytes deleted meanwhile: fetched again)
            return SessionAsset(
                url=url,
                seen_at=int(row[0]),
                fetched_at=int(row[0]),
                status=row[1],
                digest=None if row[2] is None else bytes(row[2]),
                final_url=row[3],
                reason=row[4],
                size=None if row[5] is None else int(row[5]),
                content_type=row[6],
            )

        return await self._read(read)

    async def asset_body(self, digest: bytes) -> bytes | None:
        def read(conn: Connection) -> bytes | None:
            row = conn.execute("SELECT body FROM assets WHERE digest = ?", (digest,)).fetchone()
            return None if row is None else bytes(row[0])

        return await self._read(read)

    async def record_assets(
        self,
        session_id: int,
        project_id: int,
        rows: Sequence[SessionAsset],
        bodies: Sequence[AssetBody] = (),
    ) -> None:
        """Keep fetched bytes (once per digest) and the session's rows, in one transaction;
        a URL the session already has a row for keeps its first one."""

        now = now_ms()  # the link's time, for the purge's grace (rows keep their fetch's)

        def write(conn: Connection) -> None:
            for b in bodies:
                conn.execute(
                    "INSERT INTO assets (digest, content_type, size, linked_at, body)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (digest) DO UPDATE"
                    " SET linked_at = excluded.linked_at",
                    (b.digest, b.content_type, len(b.body), now, b.body),
                )
            linked = {r.digest for r in rows if r.digest is not None} - {b.digest for b in bodies}
            for d in linked:
                conn.execute("UPDATE assets SET linked_at = ? WHERE digest = ?", (now, d))
            for r in rows:
                conn.execute(
                    "INSERT INTO session_assets (session_id, url, project_id, seen_at,"
                    " fetched_at, status, digest, final_url, reason)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        session_id,
                        r.url,
                        project_id,
                        r.seen_at,
                        r.fetched_at,
                        r.status,
                        r.digest,
                        r.final_url,
                        r.reason,
                    ),
                )

        await self._write(write)

    async def finish_assets(
        self,
        job: Job,
        owner: str,
        cursor: tuple[int, int] | None,
        dropped: int,
    ) -> bool:
        """Move the session's scan to `cursor`, count `dropped` URLs past the cap, and end
        the job unless input arrived meanwhile (then it stays queued, due at once)."""

        def finish(conn: Connection) -> bool:
            version = locked_version(conn, job, owner)
            if version is None:
                raise LeaseLost(job.origin)
            if cursor is not None or dropped:
                conn.execute(
                    "INSERT INTO asset_cursors (session_id, payload_id, seq, dropped)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (session_id) DO UPDATE"
                    " SET payload_id = coalesce(excluded.payload_id, asset_cursors.payload_id),"
                    " seq = coalesce(excluded.seq, asset_cursors.seq),"
                    " dropped = asset_cursors.dropped + excluded.dropped",
                    (job.key, *(cursor or (None, None)), dropped),
                )
            return finish_run(conn, job, version)

        return await self._write(finish)

    # -- replay -------------------------------------------------------------------------------

    async def session_asset_map(self, session_id: int) -> dict[str, tuple[bytes, str]]:
        """URL -> (digest, content type) of every asset the session stored."""

        def read(conn: Connection) -> dict[str, tuple[bytes, str]]:
            return {
                r[0]: (bytes(r[1]), r[2])
                for r in conn.execute(
                    "SELECT sa.url, sa.digest, a.content_type FROM session_assets sa"
                    " JOIN assets a ON a.digest = sa.digest"
                    " WHERE sa.session_id = ? AND sa.status = 'stored'",
                    (session_id,),
                )
            }

        return await self._operator_read(read)

    async def session_asset(
        self, session_id: int, digest: bytes
    ) -> tuple[SessionAsset, bytes] | None:
        """An asset the session links: its row (its URL, where it came from) and its bytes."""

        def read(conn: Connection) -> tuple[SessionAsset, bytes] | None:
            row = conn.execute(
                "SELECT sa.url, sa.seen_at, sa.fetched_at, sa.final_url, a.content_type,"
                " a.size, a.body FROM session_assets sa JOIN assets a ON a.digest = sa.digest"
                " WHERE sa.session_id = ? AND sa.digest = ? AND sa.status = 'stored' LIMIT 1",
                (session_id, digest),
            ).fetchone()
            if row is None:
                return None
            asset = SessionAsset(
                url=row[0],
                seen_at=int(row[1]),
                fetched_at=int(row[2]),
                status="stored",
                digest=digest,
                final_url=row[3],
                content_type=row[4],
                size=int(row[5]),
            )
            return asset, bytes(row[6])

        return await self._operator_read(read)

    async def session_asset_report(self, session_id: int) -> AssetReport:
        def read(conn: Connection) -> AssetReport:
            counts = {
                r[0]: int(r[1])
                for r in conn.execute(
                    "SELECT status, count(*) FROM session_assets WHERE session_id = ?"
                    " GROUP BY status",
                    (session_id,),
                )
            }
            dropped = conn.execute(
                "SELECT dropped FROM asset_cursors WHERE session_id = ?", (session_id,)
            ).fetchone()
            size = _linked_bytes(conn, session_id)
            problems = [
                SessionAsset(
                    url=r[0],
                    seen_at=int(r[1]),
                    fetched_at=int(r[2]),
                    status=r[3],
                    reason=r[4],
                )
                for r in conn.execute(
                    "SELECT url, seen_at, fetched_at, status, reason FROM session_assets"
                    " WHERE session_id = ? AND status <> 'stored'"
                    " ORDER BY fetched_at DESC, url LIMIT ?",
                    (session_id, _PROBLEMS),
                )
            ]
            return AssetReport(
                counts=counts,
                dropped=0 if dropped is None else int(dropped[0]),
                bytes=size,
                problems=problems,
            )

        return await self._operator_read(read)


def _linked_bytes(conn: Connection, session_id: int) -> int:
    """Bytes of the assets a session links (each counted where it is linked)."""
    row = conn.execute(
        "SELECT coalesce(sum(a.size), 0) FROM session_assets sa"
        " JOIN assets a ON a.digest = sa.digest WHERE sa.session_id = ?",
        (session_id,),
    ).fetchone()
    return int(row[0])


def delete_orphan_assets(conn: Connection, now: int) -> int:
    """Delete assets no session references (and none linked within the grace period)."""
    cur = conn.execute(
        "DELETE FROM assets WHERE linked_at < ? AND NOT EXISTS"
        " (SELECT 1 FROM session_assets sa WHERE sa.digest = assets.digest)",
        (now - _GRACE_MS,),
    )
    return max(cur.rowcount, 0)


def delete_session_assets(conn: Connection, session_id: int) -> None:
    """A deleted session's rows (its assets' bytes go with the next purge, once unlinked)."""
    conn.execute("DELETE FROM session_assets WHERE session_id = ?", (session_id,))
    conn.execute("DELETE FROM asset_cursors WHERE session_id = ?", (session_id,))
    conn.execute("DELETE FROM processing_queue WHERE kind = 'assets' AND key = ?", (session_id,))
