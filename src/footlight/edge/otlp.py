"""OTLP/HTTP receiver at `/v1/traces`, `/v1/metrics` and `/v1/logs`, kept as received.

The SDK exports document-load, fetch/XHR and click spans and web-vital metrics there when
`otlpEndpoint` points at footlight. An export is decoded once to refuse what processing could
never read (an unknown content type, gzip past the inflate limit, anything that is not an
OTLP message of that signal), then stored durably as it came (a retry of the same body is
stored once); processing later derives spans, logs and metrics from it.
"""

from __future__ import annotations

import functools

from footlight.config import Limits
from footlight.edge import cors
from footlight.edge.admission import ClientAdmission
from footlight.edge.asgi import (
    RETRY_AFTER_SECONDS,
    HTTPError,
    Request,
    Send,
    respond,
    respond_json,
)
from footlight.ingest.errors import IngestError
from footlight.ingest.offload import run_sized
from footlight.ingest.service import Ingestor, now_ms
from footlight.processing import otlp
from footlight.processing.otlp import JSON, PROTOBUF, Signal
from footlight.store import OtlpBatch, StoreUnavailable


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
        headers = cors.response_headers(request)
        try:
            media = await self._accept(request)
        except HTTPError as exc:
            await respond_json(
                send,
                exc.status,
                exc.body(),
                headers=[*headers, *exc.headers],
            )
            return
        if media == JSON:
            await respond_json(send, 200, {}, headers=headers)
        else:
            await respond(send, 200, b"", PROTOBUF, headers)

    async def _accept(self, request: Request) -> str:
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
        await accept_export(self._ingest, self._limits, self._signal, media, encoding, body)
        return media


async def accept_export(
    ingest: Ingestor,
    limits: Limits,
    signal: Signal,
    media: str,
    encoding: str | None,
    body: bytes,
) -> None:
    """Store one admitted export as it came, once it is known to be readable; raises
    HTTPError (400, 413, 503) otherwise. Shared by OTLP/HTTP and OTLP/gRPC."""
    # Decoded once here only to refuse what processing could never read; stored as sent.
    decode = functools.partial(
        otlp.decode_batch, signal, media, encoding, body, limits.max_inflated_bytes
    )
    try:
        await run_sized(len(body), encoding == "gzip", decode)
    except otlp.OtlpPayloadTooLarge as exc:
        raise HTTPError(413, exc.message, "PAYLOAD_TOO_LARGE") from None
    except otlp.OtlpDecodeError as exc:
        raise HTTPError(400, exc.message, "BAD_REQUEST") from None
    batch = OtlpBatch(signal, media, encoding, now_ms(), body)
    try:
        await ingest.store_otlp(batch)
    except IngestError as exc:  # the store refused it (never a 500, nor gRPC's UNKNOWN)
        raise HTTPError(400, exc.message, exc.code) from None
    except StoreUnavailable as exc:
        raise HTTPError(
            503,
            f"storage is unavailable, try again later: {exc}",
            "SERVICE_UNAVAILABLE",
            [("retry-after", RETRY_AFTER_SECONDS)],
        ) from None
