"""SQLStore: the `Store` interface, on any engine that speaks its SQL (SQLite, PostgreSQL).

Each method is one function run by the engine: a write on its writer (in a group commit,
where one refused write undoes nothing of the others) or a read on a reader. The store's
rules (idempotency keys, project checks, what is queued for processing) live in those
functions, next to the SQL that enforces them, written once for both backends. Pushes also
run together, a batch of them at once (`_append_together`).

This module holds the store's lifecycle and ingest's session writes; the rest of the
interface is mixed in by concern: `projects`, `processing` (the queue; its derived rows are
`derived`), `queries` (session reads), `telemetry` (errors, traces, logs), `admin`
(deletion, retention, tokens, sign-ins) and `usage` (quotas).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

import msgspec

from footlight.core.clock import now_ms
from footlight.errors import (
    SessionFull,
    SessionOfAnotherProject,
    StoreError,
    TooManyFields,
    UnknownSession,
)
from footlight.store.base import (
    BackendErrorReport,
    Feedback,
    IncomingPayload,
    Metric,
    NewSession,
    OtlpBatch,
    ProcessingTiming,
    Session,
    SessionField,
    SessionSize,
)
from footlight.store.sql import shapes
from footlight.store.sql.access import Access, Engine, digest, require_project, session_id_of
from footlight.store.sql.admin import AdminQueries
from footlight.store.sql.assets import AssetQueries
from footlight.store.sql.engine import Connection, Together
from footlight.store.sql.intake import IntakeQueries
from footlight.store.sql.operating import OperatingQueries
from footlight.store.sql.processing import ProcessingQueries
from footlight.store.sql.projects import ProjectQueries
from footlight.store.sql.queries import SessionQueries
from footlight.store.sql.queueing import QueueRows
from footlight.store.sql.rows import SELECT_SESSION, stored_session
from footlight.store.sql.telemetry import TelemetryQueries
from footlight.store.sql.usage import UsageQueries

T = TypeVar("T")


def _insert_fields(
    conn: Connection,
    secure_id: str,
    session_id: int,
    fields: Sequence[SessionField],
    at: int,
    max_fields: int | None,
) -> int:
    """Add the fields not yet present; return how many were new.

    A session's fields are a list a stranger can grow one new value at a time (the key
    includes the value), so their number is capped: counted after the insert, in the same
    transaction, so that fields already present do not count twice; over the cap, the
    caller's savepoint undoes the insert.
    """
    cur = conn.executemany(
        "INSERT INTO session_fields (session_id, kind, key, value, received_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [(session_id, f.kind, f.key, f.value, at) for f in fields],
    )
    added = max(cur.rowcount, 0)
    if added and max_fields is not None:
        # The primary key's prefix: counting reads at most max_fields + one call's fields.
        held = conn.execute(
            "SELECT count(*) FROM session_fields WHERE session_id = ?", (session_id,)
        ).fetchone()[0]
        if held > max_fields:
            raise TooManyFields(secure_id, max_fields)
    return added


_NO_LIMIT = 2**62


class _Raced(Exception):
    """A push another node stored between the check and the insert, in a session where a
    later push was refused for want of the room counted for it (or, on SQLite, where nothing
    else writes, pushes the check did not find but the insert did): the batch runs again,
    each write alone, and finds it stored."""


def _writes_take_turns(conn: Connection) -> bool:
    """Whether write transactions already exclude each other (SQLite, whose `exclusive`
    statement is empty): then nothing is stored or counted by anyone between a write's
    check and its insert, and nothing needs locking."""
    return not conn.exclusive


def _session_sizes(conn: Connection, ids: list[int]) -> dict[int, int]:
    """These sessions' stored bytes, by id (those without a count left out); on PostgreSQL
    their rows locked until the transaction ends, so pushes of other nodes to the same
    sessions wait, and none passes a cap between the check and the update."""
    if not ids:
        return {}
    ids = shapes.padded(ids)
    marks = shapes.groups(len(ids), "?")
    sizes = (
        f"SELECT session_id, stored_bytes FROM session_sizes WHERE session_id IN ({marks})"
        if _writes_take_turns(conn)  # a read is enough
        else f"UPDATE session_sizes SET stored_bytes = stored_bytes WHERE session_id IN ({marks})"
        " RETURNING session_id, stored_bytes"
    )
    return {int(r[0]): int(r[1]) for r in conn.execute(sizes, ids)}


_SESSIONS_AND_SIZES = msgspec.json.Decoder(list[tuple[int, str, int, int | None]])


def _sessions_with_sizes(
    conn: Connection, secure_ids: list[str]
) -> tuple[dict[str, tuple[int, int]], dict[int, int]]:
    """The sessions (id, created_at) by secure id, and their stored bytes by id (those
    without a count left out), as `_session_sizes` reads and locks them.

    Where write transactions exclude each other (SQLite) nothing is locked, and the two come
    in one row of JSON: each row fetched is a step of SQLite, and each step gives up the
    interpreter lock and waits to take it back from the event loop.
    """
    padded = shapes.padded(secure_ids)
    among = f"({shapes.groups(len(padded), '?')})"
    if _writes_take_turns(conn):
        [found] = conn.execute(
            "SELECT json_group_array(json_array(s.id, s.secure_id, s.created_at,"
            " z.stored_bytes)) FROM sessions s LEFT JOIN session_sizes z"
            f" ON z.session_id = s.id WHERE s.secure_id IN {among}",
            padded,
        ).fetchone()
        rows = _SESSIONS_AND_SIZES.decode(found)
        return (
            {secure_id: (session_id, created_at) for session_id, secure_id, created_at, _ in rows},
            {session_id: size for session_id, _, _, size in rows if size is not None},
        )
    sessions = {
        str(r[1]): (int(r[0]), int(r[2]))
        for r in conn.execute(
            f"SELECT id, secure_id, created_at FROM sessions WHERE secure_id IN {among}", padded
        )
    }
    return sessions, _session_sizes(conn, sorted({i for i, _ in sessions.values()}))


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


class SQLStore(
    ProjectQueries,
    ProcessingQueries,
    SessionQueries,
    TelemetryQueries,
    AdminQueries,
    UsageQueries,
    IntakeQueries,
    OperatingQueries,
    AssetQueries,
    Access,
):
    """`Store` on an engine (see `footlight.store.open_store`)."""

    def __init__(self, engine: Engine, timing: ProcessingTiming | None = None) -> None:
        self.engine = engine
        self.timing = timing or ProcessingTiming()
        self.queue_rows = QueueRows(self.timing.max_delay_ms)
        engine.batch_end = self.queue_rows

    def exists(self) -> bool:
        return self.engine.exists()

    def describe(self) -> str:
        return self.engine.describe()

    async def open(self) -> None:
        await self.engine.open()

    async def close(self) -> None:
        await self.engine.close()

    # -- health -------------------------------------------------------------------------

    def free_disk_bytes(self) -> int | None:
        return self.engine.free_disk_bytes()

    async def check_writable(self) -> None:
        at = now_ms()
        await self._write(
            lambda conn: conn.execute(
                "INSERT INTO heartbeat (id, at) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                (at,),
            )
        )

    # -- sessions -----------------------------------------------------------------------

    async def initialize_session(self, new: NewSession) -> Session:
        def init(conn: Connection) -> Session:
            created = False
            row = conn.execute(SELECT_SESSION, (new.secure_id,)).fetchone()
            if row is None:
                require_project(conn, new.project_id)
                domains = (
                    None
                    if new.network_recording_domains is None
                    else msgspec.json.encode(list(new.network_recording_domains)).decode()
                )
                cur = conn.execute(
                    "INSERT INTO sessions (secure_id, project_id, created_at, client_id,"
                    " fingerprint, environment, app_version, service_name, client_version,"
                    " firstload_version, client_config, privacy_setting, enable_strict_privacy,"
                    " enable_recording_network_contents, disable_session_recording,"
                    " network_recording_domains, session_key, user_agent, accept_language)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    # Another node may insert it since the SELECT: then theirs is the first.
                    " ON CONFLICT (secure_id) DO NOTHING",
                    (
                        new.secure_id,
                        new.project_id,
                        new.created_at,
                        new.client_id,
                        new.fingerprint,
                        new.environment,
                        new.app_version,
                        new.service_name,
                        new.client_version,
                        new.firstload_version,
                        new.client_config,
                        new.privacy_setting,
                        _bool(new.enable_strict_privacy),
                        _bool(new.enable_recording_network_contents),
                        _bool(new.disable_session_recording),
                        domains,
                        new.session_key,
                        new.user_agent,
                        new.accept_language,
                    ),
                )
                created = cur.rowcount == 1
                row = conn.execute(
                    SELECT_SESSION,
                    (new.secure_id,),
                ).fetchone()
                if created:
                    conn.execute(
                        "INSERT INTO session_sizes (session_id, stored_bytes) VALUES (?, 0)",
                        (row["id"],),
                    )
            session = stored_session(row)
            if session.project_id != new.project_id:
                raise SessionOfAnotherProject(new.secure_id, new.project_id)
            return replace(session, created=True) if created else session

        return await self._write(init)

    async def secure_id_for(self, session_id: int) -> str | None:
        def read(conn: Connection) -> str | None:
            row = conn.execute(
                "SELECT secure_id FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._ingest_read(read)

    async def append_payload(
        self, secure_id: str, payload: IncomingPayload, max_session_bytes: int | None = None
    ) -> bool:
        limit = _NO_LIMIT if max_session_bytes is None else max_session_bytes
        item = (secure_id, payload, limit)

        def append(conn: Connection) -> bool:
            [(stored, value)] = self._append_together(conn, [item])
            if not stored:
                raise value
            return bool(value)

        return await self._write(append, Together(self._append_together, item))

    def _queued_payload(self, conn: Connection, session_id: int, at: int) -> None:
        self._schedule("session", session_id, at)
        self._schedule_live(session_id, at)
        self._schedule_assets(conn, session_id, at)

    def _append_together(
        self, conn: Connection, items: list[tuple[str, IncomingPayload, int]]
    ) -> list[tuple[bool, Any]]:
        """`append_payload` for pushes in batch order, each decided as one after the other
        would be (alone, or a batch's pushes together: see engine.Together), in a few
        statements for all (`shapes` keeps their texts to a few).

        The sessions and their sizes are read (on PostgreSQL the size rows locked, by an
        UPDATE that changes nothing, as `locked_version` does), then which of the pushes are
        stored already. A retry of a stored payload (or of an earlier push here) adds
        nothing, a push that fits under its session's cap is inserted, one that does not is
        refused. The inserts are a statement per power-of-two piece, and the sizes grow in
        one more.
        """
        sessions, stored = _sessions_with_sizes(
            conn, sorted({secure_id for secure_id, _, _ in items})
        )
        ids = sorted({session_id for session_id, _ in sessions.values()})
        if uncounted := [session_id for session_id in ids if session_id not in stored]:
            # Sessions written without initializeSession (straight into the database): what
            # they store is counted once, whatever becomes of these pushes.
            for session_id in uncounted:
                conn.execute(
                    "INSERT INTO session_sizes (session_id, stored_bytes) SELECT ?,"
                    " coalesce(sum(length(body)), 0) FROM payloads WHERE session_id = ?"
                    " ON CONFLICT (session_id) DO NOTHING",
                    (session_id, session_id),
                )
            stored.update(_session_sizes(conn, uncounted))
        known = [
            (sessions[secure_id][0], payload)
            for secure_id, payload, _ in items
            if secure_id in sessions
        ]
        seen = self._stored_payload_keys(conn, known)
        outcomes: list[tuple[bool, Any]] = []
        fits: list[int] = []
        refused_full: set[int] = set()
        for index, (secure_id, payload, limit) in enumerate(items):
            found = sessions.get(secure_id)
            if found is None:
                outcomes.append((False, UnknownSession(secure_id)))
                continue
            session_id = found[0]
            key = (session_id, payload.payload_id, bytes(payload.digest))
            size = len(payload.body)
            if key in seen:
                outcomes.append((True, False))  # a retry of a payload it stores
            elif stored[session_id] + size <= limit:
                stored[session_id] += size
                seen.add(key)
                fits.append(index)
                outcomes.append((True, True))
            else:
                refused_full.add(session_id)
                outcomes.append((False, SessionFull(secure_id, stored[session_id], size, limit)))
        rows = [(items[i][1], *sessions[items[i][0]]) for i in fits]
        grown: dict[int, int] = {}
        for index, was_inserted in zip(fits, self._insert_payloads(conn, rows), strict=True):
            _, payload, _ = items[index]
            session_id = sessions[items[index][0]][0]
            if not was_inserted:
                # Another node stored it since the check (PostgreSQL): a retry after all.
                if session_id in refused_full:
                    raise _Raced(f"payload {payload.payload_id} was stored meanwhile")
                outcomes[index] = (True, False)
                continue
            grown[session_id] = grown.get(session_id, 0) + len(payload.body)
            self._queued_payload(conn, session_id, payload.received_at)
        if grown:
            ids = shapes.padded(sorted(grown))  # a repeated WHEN never matches: the first did
            conn.execute(
                "UPDATE session_sizes SET stored_bytes = stored_bytes + CASE session_id"
                + " WHEN ? THEN ?" * len(ids)
                + f" END WHERE session_id IN ({shapes.groups(len(ids), '?')})",
                [*(value for session_id in ids for value in (session_id, grown[session_id])), *ids],
            )
        return outcomes

    @staticmethod
    def _stored_payload_keys(
        conn: Connection, pushes: list[tuple[int, IncomingPayload]]
    ) -> set[tuple[int, int, bytes]]:
        """Which of these (session id, payload) the store holds already."""
        if not pushes:
            return set()
        pairs = shapes.padded(
            sorted({(session_id, payload.payload_id) for session_id, payload in pushes})
        )
        # OR, not a row value IN (VALUES ...): SQLite scans the table for that. A batch holds
        # at most 256 writes, well within SQLite's expression depth (1,000).
        rows = conn.execute(
            "SELECT session_id, payload_id, digest FROM payloads WHERE "
            + " OR ".join(["(session_id = ? AND payload_id = ?)"] * len(pairs)),
            [value for pair in pairs for value in pair],
        )
        return {(int(r[0]), int(r[1]), bytes(r[2])) for r in rows}

    @staticmethod
    def _insert_payloads(
        conn: Connection, rows: list[tuple[IncomingPayload, int, int]]
    ) -> list[bool]:
        """Insert (payload, session id, session created_at) rows, a few statements for all;
        whether each was inserted (not a copy of one stored meanwhile).

        Where write transactions exclude each other (SQLite) nothing can be stored between
        the check and the insert: the INSERT returns no rows (each is a step: see
        `_sessions_with_sizes`) and its count of changes must be every row.
        """
        inserted: list[bool] = []
        for piece in shapes.pieces(rows):
            values = []
            for payload, session_id, created_at in piece:
                s = payload.summary
                values += [
                    session_id,
                    payload.payload_id,
                    payload.digest,
                    payload.source,
                    payload.received_at,
                    s.event_count,
                    s.first_event_at,
                    s.last_event_at,
                    int(s.has_full_snapshot),
                    payload.body,
                    created_at,
                ]
            insert = (
                "INSERT INTO payloads (session_id, payload_id, digest, source, received_at,"
                " event_count, first_event_at, last_event_at, has_full_snapshot, body,"
                " session_created_at) VALUES "
                + shapes.groups(len(piece), "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
                + " ON CONFLICT DO NOTHING"
            )
            if _writes_take_turns(conn):
                changed = conn.execute(insert, values).rowcount
                if changed != len(piece) and len(piece) > 1:
                    raise _Raced(f"{len(piece) - changed} of {len(piece)} pushes were stored")
                inserted += [changed == len(piece)] * len(piece)
                continue
            new = {
                (int(r[0]), int(r[1]), bytes(r[2]))
                for r in conn.execute(insert + " RETURNING session_id, payload_id, digest", values)
            }
            inserted += [(sid, p.payload_id, bytes(p.digest)) in new for p, sid, _ in piece]
        return inserted

    async def session_size(self, secure_id: str) -> SessionSize | None:
        def read(conn: Connection) -> SessionSize | None:
            row = conn.execute(
                "SELECT s.project_id, coalesce(z.stored_bytes, 0) FROM sessions s"
                " LEFT JOIN session_sizes z ON z.session_id = s.id WHERE s.secure_id = ?",
                (secure_id,),
            ).fetchone()
            return None if row is None else SessionSize(int(row[0]), int(row[1]))

        return await self._ingest_read(read)

    async def identify(
        self,
        secure_id: str,
        identifier: str,
        user_object: str | None,
        fields: Sequence[SessionField],
        at: int,
        *,
        max_fields: int | None = None,
    ) -> None:
        def identify(conn: Connection) -> None:
            session_id = session_id_of(conn, secure_id)
            email = next((f.value for f in fields if (f.kind, f.key) == ("user", "email")), None)
            conn.execute(
                "UPDATE sessions SET identifier = ?, user_object = ?, email = ?,"
                " identified_at = ? WHERE id = ?",
                (identifier, user_object, email, at, session_id),
            )
            _insert_fields(conn, secure_id, session_id, fields, at, max_fields)
            self._schedule("session", session_id, at)

        await self._write(identify)

    async def add_fields(
        self,
        secure_id: str,
        fields: Sequence[SessionField],
        at: int,
        *,
        max_fields: int | None = None,
    ) -> None:
        def add(conn: Connection) -> None:
            session_id = session_id_of(conn, secure_id)
            if _insert_fields(conn, secure_id, session_id, fields, at, max_fields):
                self._schedule("session", session_id, at)

        await self._write(add)

    async def add_feedback(self, secure_id: str, feedback: Feedback, at: int) -> None:
        def add(conn: Connection) -> None:
            session_id = session_id_of(conn, secure_id)
            cur = conn.execute(
                "INSERT INTO feedback (session_id, verbatim, timestamp, user_name,"
                " user_email, received_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    session_id,
                    feedback.verbatim,
                    feedback.timestamp,
                    feedback.user_name,
                    feedback.user_email,
                    at,
                ),
            )
            if cur.rowcount:
                self._schedule("session", session_id, at)

        await self._write(add)

    async def add_metrics(self, metrics: Sequence[Metric], at: int) -> int:
        def add(conn: Connection) -> int:
            ids: dict[str, int] = {}
            added = 0
            for m in metrics:
                if m.session_secure_id not in ids:
                    ids[m.session_secure_id] = session_id_of(conn, m.session_secure_id)
                encoded = msgspec.json.encode(m)
                cur = conn.execute(
                    "INSERT INTO metrics (session_id, name, value, timestamp,"
                    " group_name, category, span_id, parent_span_id, trace_id, tags, digest,"
                    " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING",
                    (
                        ids[m.session_secure_id],
                        m.name,
                        m.value,
                        m.timestamp,
                        m.group,
                        m.category,
                        m.span_id,
                        m.parent_span_id,
                        m.trace_id,
                        msgspec.json.encode(dict(m.tags)).decode(),
                        digest(encoded),
                        at,
                    ),
                )
                added += cur.rowcount
            return added

        return await self._write(add)

    async def add_backend_errors(
        self, project_id: int | None, errors: Sequence[BackendErrorReport], at: int
    ) -> int:
        def add(conn: Connection) -> int:
            require_project(conn, project_id)
            added = 0
            for e in errors:
                session_id, owner = None, project_id
                if e.session_secure_id:
                    row = conn.execute(
                        "SELECT id, project_id FROM sessions WHERE secure_id = ?",
                        (e.session_secure_id,),
                    ).fetchone()
                    if row is None:
                        raise UnknownSession(e.session_secure_id)
                    session_id = int(row["id"])
                    if owner is None:
                        owner = int(row["project_id"])
                    elif owner != row["project_id"]:
                        raise SessionOfAnotherProject(e.session_secure_id, owner)
                if owner is None:
                    raise StoreError("an error has neither a project_id nor a session_secure_id")
                cur = conn.execute(
                    "INSERT INTO backend_errors (project_id, session_id,"
                    " session_secure_id, request_id, trace_id, span_id, log_cursor, event, type,"
                    " url, source, stack_trace, timestamp, payload, service_name,"
                    " service_version, environment, digest, received_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT DO NOTHING RETURNING id",
                    (
                        owner,
                        session_id,
                        e.session_secure_id,
                        e.request_id,
                        e.trace_id,
                        e.span_id,
                        e.log_cursor,
                        e.event,
                        e.type,
                        e.url,
                        e.source,
                        e.stack_trace,
                        e.timestamp,
                        e.payload,
                        e.service_name,
                        e.service_version,
                        e.environment,
                        digest(msgspec.json.encode(e)),
                        at,
                    ),
                )
                inserted = cur.fetchone()
                if inserted is not None:
                    self._schedule("backend", int(inserted[0]), at)
                    added += 1
            return added

        return await self._write(add)

    async def add_otlp_batch(self, batch: OtlpBatch) -> None:
        key = digest(batch.signal.encode(), (batch.content_encoding or "").encode(), batch.body)

        def add(conn: Connection) -> None:
            cur = conn.execute(
                "INSERT INTO otlp_batches (signal, content_type, content_encoding,"
                " digest, received_at, body) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING RETURNING id",
                (
                    batch.signal,
                    batch.content_type,
                    batch.content_encoding,
                    key,
                    batch.received_at,
                    batch.body,
                ),
            )
            inserted = cur.fetchone()
            if inserted is not None:
                self._schedule("otlp", int(inserted[0]), batch.received_at)

        await self._write(add)
