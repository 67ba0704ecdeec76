"""OTLP/HTTP receiver at `/v1/traces`, `/v1/metrics` and `/v1/logs`, kept as received.

The SDK exports document-load, fetch/XHR and click spans and web-vital metrics there when
`otlpEndpoint` points at footlight. An export is checked just enough to refuse garbage (a
known content type, gzip that inflates within the limit, JSON that parses) and then stored
durably as it came; decoding into spans, logs and metrics is processing's job.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from footlight.config import Limits
from footlight.edge import cors
from footlight.edge.asgi import HTTPError, Request, Send, error_body, respond, respond_json
from footlight.ingest.errors import IngestError
from footlight.ingest.payload import JSON_DECODE_ERRORS, gunzip
from footlight.ingest.service import Ingestor, now_ms
from footlight.store import OtlpBatch, StoreUnavailable

Signal = Literal["traces", "metrics", "logs"]
PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class OtlpEndpoint:
    def __init__(self, ingest: Ingestor, limits: Limits, signal: Signal) -> None:
        self._ingest = ingest
        self._limits = limits
        self._signal = signal

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
                error_body(exc.message, exc.code),
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
        plain = body
        try:
            if encoding == "gzip":
                plain = gunzip(body, self._limits.max_inflated_bytes, "the request body")
            if media == JSON:
                msgspec.json.decode(plain)
        except IngestError as exc:
            status = 413 if exc.code == "PAYLOAD_TOO_LARGE" else 400
            raise HTTPError(status, exc.message, exc.code) from None
        except JSON_DECODE_ERRORS as exc:
            raise HTTPError(
                400, f"the request body is not valid JSON: {exc}", "BAD_REQUEST"
            ) from None
        batch = OtlpBatch(self._signal, media, encoding, now_ms(), body)
        try:
            await self._ingest.store_otlp(batch)
        except StoreUnavailable as exc:
            raise HTTPError(
                503,
                f"storage is unavailable, try again later: {exc}",
                "SERVICE_UNAVAILABLE",
                [("retry-after", "2")],
            ) from None
        return media
