"""One writer for several acceptor processes: ingest's hot writes travel to the process that
owns the store's writer.

Why. One Python process answers ~2,500 SDK pushes a second on one core, and the store's
writer thread waits for that process's interpreter lock between its statements. Several
processes each with their own writer (`FOOTLIGHT_WORKERS` as it first was) take turns for
SQLite's single write lock and fsync each their own small commits: two did not gain. So with
`FOOTLIGHT_WORKERS=N`, one process, the primary, keeps the only writer of ingest's writes,
and the other N-1, acceptors, decode, validate and check requests on their own cores and
send the checked rows here; the primary's group commit takes them with its own, in the
same batches.

The rule that a 2xx means the data is durable is unchanged: an acceptor's write is answered
after the primary's COMMIT holding it (`WriteService` answers only then), and the acceptor
answers its client only after that. If the primary is gone, a forwarded write fails with
`StoreUnavailable` (the edge answers 503 with Retry-After, and the SDK retries) and the
acceptor stops, to be started again with the primary by `footlight serve`.

What travels: the calls named in `FORWARDED` (initializeSession, pushes, identify,
properties, feedback: the requests of a recording browser), their arguments and their answers
pickled over a Unix socket that only this user can open, many calls in flight on one
connection. Everything else an acceptor does (reads, processing, OTLP, the UI) uses its own
connections to the store, as any process sharing a store does: correct, only not batched
with the primary's writes. A refusal keeps its type and fields across the socket, so an
acceptor answers it exactly as the primary would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import struct
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from footlight import errors as error_types
from footlight.store.base import (
    BackendErrorReport,
    Feedback,
    IncomingPayload,
    IngestStore,
    IntakeRefusal,
    Metric,
    NewSession,
    OtlpBatch,
    Session,
    SessionField,
    SessionSize,
    UsageCount,
    UsageTotals,
)

log = logging.getLogger("footlight.store")

FORWARDED = frozenset(
    {"initialize_session", "append_payload", "identify", "add_fields", "add_feedback"}
)
"""The IngestStore calls an acceptor sends to the primary."""

_LENGTH = struct.Struct("!Q")


def _frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def _read_frame(reader: asyncio.StreamReader) -> Any:
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))  # noqa: S301 - our own processes


def _error_state(exc: Exception) -> tuple[str, str, dict[str, Any]]:
    """A refusal as it crosses the socket: its class (one of footlight.errors), message and
    fields. Their constructors take other arguments than their messages, so they are not
    pickled whole."""
    if isinstance(exc, error_types.FootlightError) and getattr(
        error_types, type(exc).__name__, None
    ) is type(exc):
        return type(exc).__name__, str(exc), dict(vars(exc))
    log.error("a forwarded write failed", exc_info=exc)
    return "StoreUnavailable", f"the writer process failed: {type(exc).__name__}", {}


def _error(state: tuple[str, str, dict[str, Any]]) -> Exception:
    name, message, fields = state
    cls = getattr(error_types, name, None)
    if not (isinstance(cls, type) and issubclass(cls, error_types.FootlightError)):
        return error_types.StoreUnavailable(message)
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    vars(error).update(fields)
    return error


class WriteService:
    """In the primary: runs the acceptors' forwarded writes on its store."""

    def __init__(self, store: IngestStore, path: Path) -> None:
        self._store = store
        self._path = path
        self._server: asyncio.AbstractServer | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
        old = os.umask(0o077)  # the socket is this user's only
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self._path))
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for call in list(self._calls):
            call.cancel()
        for connection in list(self._connections):
            connection.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while True:
                call_id, name, args, kwargs = await _read_frame(reader)
                call = asyncio.create_task(self._answer(writer, call_id, name, args, kwargs))
                self._calls.add(call)
                call.add_done_callback(self._calls.discard)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the acceptor has gone
        except Exception:
            log.exception("an acceptor sent what this writer cannot read; its connection closes")
        finally:
            self._connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        call_id: int,
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        try:
            if name not in FORWARDED:
                raise error_types.StoreUnavailable(f"{name} is not a forwarded write")
            result = await getattr(self._store, name)(*args, **kwargs)
            reply = _frame((call_id, True, result))
        except Exception as exc:  # every failure is the caller's to hear, or it waits forever
            reply = _frame((call_id, False, _error_state(exc)))
        if not writer.is_closing():
            writer.write(reply)
            with contextlib.suppress(ConnectionError):
                await writer.drain()


class ForwardedIngestStore:
    """In an acceptor: the IngestStore ingest sees. The calls in FORWARDED go to the primary's
    `WriteService`; the rest run on this process's own store."""

    def __init__(self, local: IngestStore, path: Path, lost: Callable[[], None]) -> None:
        self._local = local
        self._path = path
        self._lost = lost
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count()
        self._replies: asyncio.Task[None] | None = None

    async def connect(self, wait_seconds: float) -> None:
        """Connect to the primary, which may still be starting."""
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while True:
            try:
                reader, self._writer = await asyncio.open_unix_connection(str(self._path))
                break
            except (FileNotFoundError, ConnectionError):
                if asyncio.get_running_loop().time() > deadline:
                    raise error_types.StoreUnavailable(
                        f"the primary process's writer at {self._path} did not answer"
                    ) from None
                await asyncio.sleep(0.05)
        self._replies = asyncio.create_task(self._read_replies(reader), name="forwarded writes")

    async def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        if self._replies is not None:
            self._replies.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._replies

    async def _read_replies(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                call_id, ok, value = await _read_frame(reader)
                future = self._pending.pop(call_id, None)
                if future is None or future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(_error(value))
        except (asyncio.IncompleteReadError, ConnectionError):
            log.error("the primary process's writer has gone; this acceptor stops")
        except Exception:
            log.exception("the primary process's writer answered what cannot be read; stopping")
        finally:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            gone = error_types.StoreUnavailable("the primary process's writer has gone")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(gone)
            self._pending.clear()
        self._lost()

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        writer = self._writer
        if writer is None:
            raise error_types.StoreUnavailable("the primary process's writer is not connected")
        call_id = next(self._ids)
        frame = _frame((call_id, name, args, kwargs))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            writer.write(frame)
            await writer.drain()
        except ConnectionError as exc:
            # The primary went while this was sent: a 503 for the client to retry, as for
            # any write the store cannot take (not an internal error).
            self._pending.pop(call_id, None)
            raise error_types.StoreUnavailable(
                f"the primary process's writer has gone: {exc}"
            ) from None
        return await future

    # -- forwarded ---------------------------------------------------------------------------

    async def initialize_session(self, new: NewSession) -> Session:
        result: Session = await self._call("initialize_session", new)
        return result

    async def append_payload(
        self, secure_id: str, payload: IncomingPayload, max_session_bytes: int | None = None
    ) -> bool:
        result: bool = await self._call("append_payload", secure_id, payload, max_session_bytes)
        return result

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
        await self._call(
            "identify", secure_id, identifier, user_object, fields, at, max_fields=max_fields
        )

    async def add_fields(
        self,
        secure_id: str,
        fields: Sequence[SessionField],
        at: int,
        *,
        max_fields: int | None = None,
    ) -> None:
        await self._call("add_fields", secure_id, fields, at, max_fields=max_fields)

    async def add_feedback(self, secure_id: str, feedback: Feedback, at: int) -> None:
        await self._call("add_feedback", secure_id, feedback, at)

    # -- this process's own ------------------------------------------------------------------

    def describe(self) -> str:
        return self._local.describe()

    async def project_for_key(self, key: str) -> int | None:
        return await self._local.project_for_key(key)

    async def projects_for_keys(self, keys: Mapping[str, int | None]) -> dict[str, int]:
        return await self._local.projects_for_keys(keys)

    async def secure_id_for(self, session_id: int) -> str | None:
        return await self._local.secure_id_for(session_id)

    def free_disk_bytes(self) -> int | None:
        return self._local.free_disk_bytes()

    async def session_size(self, secure_id: str) -> SessionSize | None:
        return await self._local.session_size(secure_id)

    async def add_metrics(self, metrics: Sequence[Metric], at: int) -> int:
        return await self._local.add_metrics(metrics, at)

    async def add_backend_errors(
        self, project_id: int | None, errors: Sequence[BackendErrorReport], at: int
    ) -> int:
        return await self._local.add_backend_errors(project_id, errors, at)

    async def add_otlp_batch(self, batch: OtlpBatch) -> None:
        await self._local.add_otlp_batch(batch)

    async def note_backend(self, project_id: int, name: str, at: int, limit: int) -> None:
        await self._local.note_backend(project_id, name, at, limit)

    async def sync_usage(self, counts: Sequence[UsageCount], day: int) -> UsageTotals:
        return await self._local.sync_usage(counts, day)

    async def note_refusals(self, refusals: Sequence[IntakeRefusal], keep: int) -> None:
        await self._local.note_refusals(refusals, keep)
