"""OTLP/HTTP receiver at `/v1/traces`, `/v1/metrics` and `/v1/logs`, kept as received.

The SDK exports document-load, fetch/XHR and click spans and web-vital metrics there when
`otlpEndpoint` points at footlight. An export is decoded once to refuse what processing could
never read (an unknown content type, gzip past the inflate limit, anything that is not an
OTLP message of that signal), and to refuse items that belong nowhere (every span, log record
and metric point must name a browser session or a known project; see `accept_export`), then
stored durably as it came (a retry of the same body is stored once); processing later
derives spans, logs and metrics from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from google.protobuf import json_format

from footlight.config import Limits
from footlight.core import otlp
from footlight.core.clock import now_ms
from footlight.core.otlp import JSON, PROTOBUF, Signal
from footlight.edge import cors
from footlight.edge.admission import ClientAdmission
from footlight.edge.asgi import (
    RETRY_AFTER_SECONDS,
    Request,
    Send,
    http_error_body,
    respond,
    respond_json,
)
from footlight.errors import (
    HTTPError,
    IngestError,
    OtlpDecodeError,
    OtlpPayloadTooLarge,
    StoreUnavailable,
    shown,
)
from footlight.ingest.offload import run_sized
from footlight.ingest.service import Ingestor
from footlight.store import OtlpBatch

PROJECT_HEADERS = ("x-highlight-project", "x-launchdarkly-project")
"""The headers (gRPC: metadata) with which an exporter names the project of items that name
none themselves (Highlight's, LaunchDarkly's)."""


def project_header(header: Callable[[str], str | None]) -> str | None:
    """The project an exporter's headers name, if any."""
    for name in PROJECT_HEADERS:
        value = (header(name) or "").strip()
        if value:
            return value
    return None


class OtlpEndpoint:
    def __init__(
        self, ingest: Ingestor, limits: Limits, signal: Signal, admission: ClientAdmission
    ) -> None:
        self._ingest = ingest
        self._limits = limits
        self._signal = signal
        self._admission = admission

    async def __call__(self, request: Request, send: Send) -> None:
        if cors.is_preflight(request):
            await respond(send, 204, headers=cors.preflight_headers(request))
            return
        allow_origin = cors.response_headers(request)
        try:
            media, accepted = await self._accept(request)
        except HTTPError as exc:
            await respond_json(
                send,
                exc.status,
                http_error_body(exc),
                headers=exc.headers,
                encoded=allow_origin,
            )
            return
        if not accepted.rejected:  # every item kept: the empty Export*ServiceResponse
            if media == JSON:
                await respond_json(send, 200, {}, encoded=allow_origin)
            else:
                await respond(send, 200, b"", PROTOBUF, encoded=allow_origin)
            return
        answer = otlp.partial_success(self._signal, accepted.rejected, accepted.message)
        if media == JSON:
            await respond_json(send, 200, json_format.MessageToDict(answer), encoded=allow_origin)
        else:
            await respond(send, 200, answer.SerializeToString(), PROTOBUF, encoded=allow_origin)

    async def _accept(self, request: Request) -> tuple[str, Accepted]:
        if request.method != "POST":
            raise HTTPError(
                405, "OTLP/HTTP takes POST only", "METHOD_NOT_ALLOWED", [("allow", "POST")]
            )
        media = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        if media not in (PROTOBUF, JSON):
            raise HTTPError(
                415,
                f"Content-Type must be {PROTOBUF} or {JSON}, got {media or 'none'}",
                "UNSUPPORTED_MEDIA_TYPE",
            )
        encoding = (request.header("content-encoding") or "").strip().lower() or None
        if encoding not in (None, "identity", "gzip"):
            raise HTTPError(
                415, f"Content-Encoding {encoding} is not supported", "UNSUPPORTED_MEDIA_TYPE"
            )
        body = await request.body(self._limits.max_body_bytes, self._limits.body_timeout_seconds)
        # Exports carry no project the edge could see without decoding them: they are
        # limited per client (429 with Retry-After, which OTLP exporters honour).
        self._admission.admit(self._admission.key(request), len(body))
        return media, await accept_export(
            self._ingest,
            self._limits,
            self._signal,
            media,
            encoding,
            body,
            project_header(request.header),
        )


@dataclass(frozen=True)
class Accepted:
    """An export stored, but for `rejected` items `message` explains (OTLP's partial success)."""

    rejected: int = 0
    message: str = ""


async def accept_export(
    ingest: Ingestor,
    limits: Limits,
    signal: Signal,
    media: str,
    encoding: str | None,
    body: bytes,
    project_header: str | None = None,
) -> Accepted:
    """Store one admitted export once it is known to be readable and to belong somewhere;
    raises HTTPError (400, 413, 503) otherwise. Shared by OTLP/HTTP and OTLP/gRPC.

    Every item must name a browser session (which may start a moment later) or a project
    this footlight has, itself, on its resource or through the exporter's
    `x-highlight-project` / `x-launchdarkly-project` header (`project_header`). An export
    none of whose items does is refused; of a mixed export the others are dropped and
    counted in the answer. An export
    whose items all name their session or project (the browser SDK's always do) is stored
    as it came; one with items dropped or given the header's project is stored as the
    protobuf of what is kept.
    """

    def read() -> tuple[otlp.Export, otlp.Claims]:
        request = otlp.parse_export(signal, media, encoding, body, limits.max_inflated_bytes)
        # Decoding refuses what processing could not read, and reads every item's names.
        return request, otlp.claims(otlp.decode_export(request))

    try:
        request, claims = await run_sized(len(body), encoding == "gzip", read)
    except OtlpPayloadTooLarge as exc:
        raise HTTPError(413, exc.message, "PAYLOAD_TOO_LARGE") from None
    except OtlpDecodeError as exc:
        raise HTTPError(400, exc.message, "BAD_REQUEST") from None
    if claims.items == 0:
        return Accepted()  # nothing to keep (exporters do send empty exports)
    accepted = Accepted()
    if claims.keys or claims.bare:
        named = set(claims.keys) | ({project_header} if project_header else set())
        if len(named) > otlp.MAX_PROJECTS:
            raise HTTPError(
                400,
                f"the {signal} export names {len(named)} projects; at most"
                f" {otlp.MAX_PROJECTS} may be named in one export",
                "BAD_REQUEST",
            )
        try:
            known = await ingest.projects.resolve(named)
        except StoreUnavailable as exc:
            raise _unavailable(exc) from None
        fallback = project_header if project_header in known else None
        if claims.bare or claims.keys - known.keys():
            removed = await run_sized(
                len(body), encoding == "gzip", otlp.keep_attributed, request, known, fallback
            )
            if otlp.count_items(request) == 0:
                raise HTTPError(400, _unattributed(signal, removed, named, known), "UNATTRIBUTED")
            if removed:
                accepted = Accepted(removed, _unattributed(signal, removed, named, known))
            body, media, encoding = request.SerializeToString(), otlp.PROTOBUF, None
    batch = OtlpBatch(signal, media, encoding, now_ms(), body)
    try:
        await ingest.store_otlp(batch)
    except IngestError as exc:  # the store refused it (never a 500, nor gRPC's UNKNOWN)
        raise HTTPError(400, exc.message, exc.code) from None
    except StoreUnavailable as exc:
        raise _unavailable(exc) from None
    return accepted


def _unattributed(signal: Signal, count: int, named: set[str], known: Mapping[str, int]) -> str:
    unknown = sorted(shown(key) for key in named - known.keys())
    return (
        f"{otlp.item_name(signal, count)} named no browser session and no known project, and"
        f" {'was' if count == 1 else 'were'} not kept"
        f"{' (unknown projects: ' + ', '.join(unknown) + ')' if unknown else ''}."
        f" Name the session in one of {', '.join(otlp.SESSION_ATTRIBUTES)}, or the project"
        f" (its id, verbose id or key) in one of {', '.join(otlp.PROJECT_ATTRIBUTES)}, on the"
        " item or its resource, or send the x-highlight-project (or x-launchdarkly-project)"
        " header"
    )


def _unavailable(exc: StoreUnavailable) -> HTTPError:
    return HTTPError(
        503,
        f"storage is unavailable, try again later: {exc}",
        "SERVICE_UNAVAILABLE",
        [("retry-after", RETRY_AFTER_SECONDS)],
    )
