"""The processing side of the SQL store: the work queue and processing's inputs (the rows
it derives are `footlight.store.sql.derived`).

A job is claimed with a lease, its input read, its rows derived off the store, and then
stored in one transaction that also completes the job. A crash anywhere before that commit
leaves the old rows and the job in place; the lease expires and another run redoes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from footlight.core.clock import now_ms
from footlight.errors import LeaseLost
from footlight.store.base import (
    JOB_KINDS,
    BackendErrorInput,
    Derived,
    Job,
    JobKind,
    LiveInput,
    OtlpBatch,
    PayloadKey,
    QueuedJob,
    Session,
    SessionInput,
    StoredPayload,
)
from footlight.store.sql.access import Access
from footlight.store.sql.derived import delete_origin, prepare_rows, store_derived
from footlight.store.sql.engine import Connection
from footlight.store.sql.rows import backend_error, payload_page, payload_page_and_more

_SESSION_COLUMNS = (
    "id, secure_id, project_id, created_at, client_id, environment, app_version, service_name,"
    " client_version, client_config, user_agent, accept_language, identifier, user_object"
)


_MAX_RETRY_DELAY_MS = 3_600_000


def crash_retry_delay(lease_ms: int, attempts: int) -> int:
    """How long after claiming it a job whose run never ended may be claimed again: the lease,
    doubled for every earlier attempt, at most an hour (and never less than the lease)."""
    doubled = lease_ms << min(max(attempts - 1, 0), 20)
    return max(lease_ms, min(_MAX_RETRY_DELAY_MS, doubled))


def locked_version(conn: Connection, job: Job, owner: str) -> int | None:
    """The job's version, its queue row locked until the transaction ends, if `owner` still
    holds its lease. An UPDATE, not a SELECT: on PostgreSQL it locks the row, so new input
    scheduled meanwhile either shows in `version` or waits for this transaction to end."""
    row = conn.execute(
        "UPDATE processing_queue SET lease_until = lease_until"
        " WHERE kind = ? AND key = ? AND lease_owner = ? RETURNING version",
        (job.kind, job.key, owner),
    ).fetchone()
    return None if row is None else int(row["version"])


def _lock_live_cursor(conn: Connection, session_id: int) -> PayloadKey | None:
    """The session's live cursor, its row locked until the transaction ends (on PostgreSQL:
    a live run and the finished session's run wait for each other here, whichever comes
    second seeing what the first wrote)."""
    conn.execute(
        "INSERT INTO live_cursors (session_id) VALUES (?) ON CONFLICT (session_id) DO NOTHING",
        (session_id,),
    )
    row = conn.execute(
        "UPDATE live_cursors SET payload_id = payload_id WHERE session_id = ?"
        " RETURNING payload_id, seq",
        (session_id,),
    ).fetchone()
    return None if row is None or row[0] is None else (int(row[0]), int(row[1]))


def _move_live_cursor(conn: Connection, session_id: int, to: PayloadKey) -> None:
    conn.execute(
        "UPDATE live_cursors SET payload_id = ?, seq = ? WHERE session_id = ?",
        (*to, session_id),
    )


def _session_input(conn: Connection, session_id: int) -> SessionInput | None:
    row = conn.execute(
        f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?",
        (session_id,),
    ).fetchone()
    if row is None:
        return None
    session = Session(**dict(zip(row.keys(), row, strict=True)))
    email = conn.execute(
        "SELECT value FROM session_fields WHERE session_id = ? AND kind = 'user'"
        " AND key = 'email' ORDER BY received_at LIMIT 1",
        (session_id,),
    ).fetchone()
    return SessionInput(
        session=session,
        client_id=session.client_id,
        email=None if email is None else email[0],
    )


def _live_cursor(conn: Connection, session_id: int) -> PayloadKey | None:
    row = conn.execute(
        "SELECT payload_id, seq FROM live_cursors WHERE session_id = ?", (session_id,)
    ).fetchone()
    return None if row is None or row[0] is None else (int(row[0]), int(row[1]))


def finish_run(conn: Connection, job: Job, version: int) -> bool:
    """End a run (`version`: the job's, locked by `locked_version`): the job goes, or stays
    queued (already due) for input that arrived during the run; whether it went."""
    if version == job.version:
        conn.execute("DELETE FROM processing_queue WHERE kind = ? AND key = ?", (job.kind, job.key))
        return True
    conn.execute(
        "UPDATE processing_queue SET lease_owner = NULL, lease_until = NULL,"
        " attempts = 0, last_error = NULL WHERE kind = ? AND key = ?",
        (job.kind, job.key),
    )
    return False


def claim_statement(conn: Connection, kinds: int) -> str:
    """The claim of due jobs of `kinds` kinds: parameters owner, lease end, now twice, the
    kinds, the limit."""
    return (
        "UPDATE processing_queue SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
        " WHERE (kind, key) IN (SELECT kind, key FROM processing_queue"
        f" {conn.by_due} WHERE due_at <= ?"
        " AND (lease_until IS NULL OR lease_until < ?) AND quarantined_at IS NULL"
        f" AND kind IN ({', '.join('?' * kinds)}) ORDER BY due_at LIMIT ? {conn.skip_locked})"
        " RETURNING kind, key, version, attempts"
    )


class ProcessingQueries(Access):
    async def claim_jobs(
        self,
        owner: str,
        now: int,
        lease_ms: int,
        limit: int,
        kinds: Sequence[JobKind] = JOB_KINDS,
    ) -> list[Job]:
        """Lease up to `limit` due jobs of `kinds` that nobody holds (or whose holder's lease
        ran out).

        Claiming counts an attempt and pushes the job's due time back (see `crash_retry_delay`):
        if this run kills the process, the next one waits longer each time, and the worker
        quarantines the job once its attempts are used up. A run that ends, well or badly,
        resets both (`complete_job`, `fail_job`).
        """

        def claim(conn: Connection) -> list[Job]:
            rows = conn.execute(
                claim_statement(conn, len(kinds)),
                (owner, now + lease_ms, now, now, *kinds, limit),
            ).fetchall()
            jobs = [Job(r["kind"], r["key"], r["version"], r["attempts"]) for r in rows]
            for job in jobs:
                conn.execute(
                    "UPDATE processing_queue SET due_at = ? WHERE kind = ? AND key = ?",
                    (now + crash_retry_delay(lease_ms, job.attempts), job.kind, job.key),
                )
            return jobs

        return await self._write(claim)

    async def renew_lease(self, job: Job, owner: str, until: int) -> bool:
        def renew(conn: Connection) -> bool:
            row = conn.execute(
                "UPDATE processing_queue SET lease_until = ?"
                " WHERE kind = ? AND key = ? AND lease_owner = ? RETURNING key",
                (until, job.kind, job.key, owner),
            ).fetchone()
            return row is not None

        return await self._write(renew)

    async def release_job(self, job: Job, owner: str, now: int) -> None:
        def release(conn: Connection) -> None:
            conn.execute(
                "UPDATE processing_queue SET lease_owner = NULL, lease_until = NULL,"
                " attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, due_at = ?"
                " WHERE kind = ? AND key = ? AND lease_owner = ?",
                (now, job.kind, job.key, owner),
            )

        await self._write(release)

    async def complete_job(self, job: Job, owner: str, derived: Derived) -> bool:
        """Store a job's results and finish it; False if new input arrived meanwhile.

        In that case the results still replace the old ones (they are newer) and the job
        stays queued, already due again, for the input that arrived during the run.
        """
        prepared = await asyncio.to_thread(prepare_rows, derived)

        def complete(conn: Connection) -> bool:
            # Locked (see locked_version): new input scheduled meanwhile shows in `version`
            # or waits for the DELETE below and queues the job anew; it cannot go unseen.
            version = locked_version(conn, job, owner)
            if version is None:
                raise LeaseLost(job.origin)
            ends_live = job.kind == "session" and derived.through is not None
            # The cursor's lock before any other: a live run of the session takes it first too.
            live = _lock_live_cursor(conn, job.key) if ends_live else None
            store_derived(conn, prepared)
            if derived.through is not None and ends_live:
                self._end_live(conn, job.key, live, derived.through)
            return finish_run(conn, job, version)

        return await self._write(complete)

    def _end_live(
        self, conn: Connection, session_id: int, live: PayloadKey | None, through: PayloadKey
    ) -> None:
        """The finished session's rows replace its live ones (`live` is the cursor, locked),
        and live derivation goes on after the last payload it read. If live had gone further
        (payloads stored after this run read them), it is queued to derive them again."""
        delete_origin(conn, f"live:{session_id}")
        _move_live_cursor(conn, session_id, through)
        if live is not None and live > through:
            self._schedule_live(session_id, now_ms())

    async def append_live(
        self, job: Job, owner: str, derived: Derived, since: PayloadKey | None
    ) -> bool:
        """A live run's rows (origin 'live:<id>') and summary, added after its session's
        cursor, which moves from `since` to `derived.through`, and its job finished unless
        input arrived meanwhile. False, with nothing written, if the cursor is no longer at
        `since` (the finished session was processed meanwhile: the job is due again at once)
        or `owner` lost the lease."""
        prepared = await asyncio.to_thread(prepare_rows, derived)

        def append(conn: Connection) -> bool:
            version = locked_version(conn, job, owner)
            if version is None:
                return False  # taken over (the run outlived its lease): the other run's to do
            if _lock_live_cursor(conn, job.key) != since:
                conn.execute(
                    "UPDATE processing_queue SET lease_owner = NULL, lease_until = NULL,"
                    " attempts = 0, due_at = ? WHERE kind = ? AND key = ?",
                    (now_ms(), job.kind, job.key),
                )
                return False
            through = derived.through
            if through is not None and through != since:
                _move_live_cursor(conn, job.key, through)
                store_derived(conn, prepared, append=True)
            finish_run(conn, job, version)
            return True

        return await self._write(append)

    async def live_cursor(self, session_id: int) -> PayloadKey | None:
        return await self._read(lambda conn: _live_cursor(conn, session_id))

    async def live_input(self, session_id: int, max_bytes: int) -> LiveInput | None:
        def read(conn: Connection) -> LiveInput | None:
            session = _session_input(conn, session_id)
            if session is None:
                return None
            cursor = _live_cursor(conn, session_id)
            page, more = payload_page_and_more(conn, session_id, cursor, max_bytes)
            return LiveInput(session, cursor, page, more)

        return await self._read(read)

    async def drop_job(self, job: Job, owner: str) -> None:
        """Finish a job whose input no longer exists (deleted meanwhile)."""

        def drop(conn: Connection) -> None:
            conn.execute(
                "DELETE FROM processing_queue WHERE kind = ? AND key = ? AND lease_owner = ?",
                (job.kind, job.key, owner),
            )

        await self._write(drop)

    async def fail_job(
        self, job: Job, owner: str, error: str, retry_at: int, *, quarantine: bool = False
    ) -> None:
        def fail(conn: Connection) -> None:
            conn.execute(
                "UPDATE processing_queue SET lease_owner = NULL, lease_until = NULL,"
                " last_error = ?, due_at = ?, quarantined_at = ?"
                " WHERE kind = ? AND key = ? AND lease_owner = ?",
                (
                    error[:2000],
                    retry_at,
                    now_ms() if quarantine else None,
                    job.kind,
                    job.key,
                    owner,
                ),
            )

        await self._write(fail)

    async def queued_jobs(self) -> int:
        def count(conn: Connection) -> int:
            row = conn.execute(
                "SELECT count(*) FROM processing_queue WHERE quarantined_at IS NULL"
            ).fetchone()
            return int(row[0])

        return await self._read(count)

    async def quarantined_jobs(self) -> list[QueuedJob]:
        def read(conn: Connection) -> list[QueuedJob]:
            return [
                QueuedJob(
                    r["kind"],
                    r["key"],
                    r["attempts"],
                    r["due_at"],
                    r["last_error"],
                    r["quarantined_at"],
                )
                for r in conn.execute(
                    "SELECT kind, key, attempts, due_at, last_error, quarantined_at"
                    " FROM processing_queue WHERE quarantined_at IS NOT NULL"
                    " ORDER BY quarantined_at, kind, key"
                )
            ]

        return await self._read(read)

    async def retry_quarantined(
        self, now: int, kind: JobKind | None = None, key: int | None = None
    ) -> int:
        def retry(conn: Connection) -> int:
            sql = (
                "UPDATE processing_queue SET quarantined_at = NULL, attempts = 0, due_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE quarantined_at IS NOT NULL"
            )
            args: list[Any] = [now]
            if kind is not None and key is not None:
                sql += " AND kind = ? AND key = ?"
                args += [kind, key]
            return len(conn.execute(sql + " RETURNING key", args).fetchall())

        return await self._write(retry)

    async def session_input(self, session_id: int) -> SessionInput | None:
        return await self._read(lambda conn: _session_input(conn, session_id))

    async def session_payloads(
        self, session_id: int, after: tuple[int, int] | None, max_bytes: int
    ) -> list[StoredPayload]:
        def read(conn: Connection) -> list[StoredPayload]:
            return payload_page(conn, session_id, after, max_bytes)

        return await self._read(read)

    async def otlp_input(self, batch_id: int) -> OtlpBatch | None:
        def read(conn: Connection) -> OtlpBatch | None:
            r = conn.execute("SELECT * FROM otlp_batches WHERE id = ?", (batch_id,)).fetchone()
            if r is None:
                return None
            return OtlpBatch(
                r["signal"],
                r["content_type"],
                r["content_encoding"],
                r["received_at"],
                bytes(r["body"]),
            )

        return await self._read(read)

    async def backend_error_input(self, error_id: int) -> BackendErrorInput | None:
        def read(conn: Connection) -> BackendErrorInput | None:
            r = conn.execute("SELECT * FROM backend_errors WHERE id = ?", (error_id,)).fetchone()
            if r is None:
                return None
            return BackendErrorInput(
                int(r["id"]), int(r["project_id"]), backend_error(r), int(r["received_at"])
            )

        return await self._read(read)
