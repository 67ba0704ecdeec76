"""GraphQL over HTTP for the public graph, mounted at `/` and `/public`.

The rules are Highlight's (gqlgen's) so that every SDK version sees what it always saw:

* POST with `Content-Type: application/json` (parameters allowed) and a JSON object body
  `{query, variables, operationName}`; anything else is 415, a body over the limit 413.
  `operationName` may be absent (unload beacons omit it): the document's only operation runs.
* GET with `?query=&variables=&operationName=` runs queries only (a mutation is 406).
* The response content type follows `Accept`: `application/graphql-response+json` for
  `*/*` (what browsers send), else `application/json`. Parse and validation errors are 400
  with the former and 422 with the latter; field errors are 200 with `data`; a store that
  cannot write is 503 with `Retry-After`; a request a limit refuses is 429 with
  `Retry-After` (per-client limits before the body is parsed, the others once the
  operation knows its session or project; see `ingest.quotas`).
* Bare `OPTIONS` is 200 with `Allow`, `HEAD` is 405; CORS preflights are handled before.

A large body (over 256 KiB: never an SDK push but a page's first, and the legacy
`pushPayload` of old SDKs, whose events arrive as JSON to decode and coerce) is decoded and
prepared (`Executor.prepare`) on an ingest thread, so seconds of CPU on one stranger's 15 MB
do not stall every other client; only its resolvers run on the event loop. One large
request is decoded and prepared at a time, others wait their turn: decoding JSON into
Python objects and coercing them holds the GIL throughout, so a second one at once takes
turns with the event loop, not a second core (two legacy attackers at a time took a normal
client's p99 from 0.23 s to 0.68 s), and a decoded legacy payload takes ~9 times its size in
Python objects, so this is what bounds that memory. And the next one starts only after a
pause as long as the last one took (at most 1 s): large requests get at most half of the
process's time, and the loop always gets a stretch to answer everyone else in between
(back to back, a client's stream of 9.5 MB bodies once held a small push 2 s). Inflating
(zlib lets go of the GIL) uses every ingest thread. Small requests take the inline path, as
before.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from typing import Any

import msgspec

from footlight.config import Limits
from footlight.core import nesting
from footlight.core.payload import JSON_DECODE_ERRORS
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
from footlight.errors import HTTPError
from footlight.graph import Executor, GraphQLRequest, Outcome
from footlight.graph.context import RequestContext
from footlight.graph.executor import Prepared
from footlight.graph.fast_path import Ready
from footlight.ingest import offload

JSON = "application/json"
GRAPHQL_RESPONSE = "application/graphql-response+json"
_ALLOW = ("allow", "OPTIONS, GET, POST")


@functools.lru_cache(maxsize=64)  # browsers send a handful of Accept values
def negotiate(accept: str | None) -> tuple[str, int]:
    """Response content type, and the status of a request error with it (contract §1.4)."""
    if not accept:
        return JSON, 422
    ranges: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranges.append((-quality, position, media.lower()))
    for _, _, media in sorted(ranges):
        if media == JSON:
            return JSON, 422
        if media in (GRAPHQL_RESPONSE, "application/*", "*/*"):
            return GRAPHQL_RESPONSE, 400
    return JSON, 422


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _request_from_json(body: bytes) -> GraphQLRequest:
    try:
        document = msgspec.json.decode(body)
    except RecursionError:
        raise HTTPError(400, nesting.too_deep("the request body"), "BAD_REQUEST") from None
    except JSON_DECODE_ERRORS as exc:
        raise HTTPError(400, f"the request body is not valid JSON: {exc}", "BAD_REQUEST") from None
    if not isinstance(document, dict):
        raise HTTPError(
            400,
            "the request body must be a JSON object {query, variables, operationName}",
            "BAD_REQUEST",
        )
    return _request_from_mapping(document)


def _request_from_mapping(document: dict[str, Any]) -> GraphQLRequest:
    query = document.get("query")
    if not isinstance(query, str) or not query:
        raise HTTPError(400, "the request has no `query` string", "BAD_REQUEST")
    variables = document.get("variables")
    if isinstance(variables, str):
        variables = _decode_variables(variables)
    if variables is not None and not isinstance(variables, dict):
        raise HTTPError(400, "`variables` must be a JSON object", "BAD_REQUEST")
    name = document.get("operationName")
    if name is not None and not isinstance(name, str):
        raise HTTPError(400, "`operationName` must be a string", "BAD_REQUEST")
    return GraphQLRequest(query, variables, name or None)


def _decode_variables(text: str) -> Any:
    if not text:
        return None
    try:
        return msgspec.json.decode(text)
    except JSON_DECODE_ERRORS:
        raise HTTPError(400, "variables could not be decoded", "BAD_REQUEST") from None


_MAX_LARGE_PAUSE_SECONDS = 1.0

LARGE_BODY_BYTES = offload.PLAIN_INLINE_BYTES
"""Bodies larger than this are decoded and prepared on an ingest thread."""

ContextFactory = Callable[[Request, str, int], RequestContext]
"""The context of a request, given its client key and body size."""


class GraphQLEndpoint:
    def __init__(
        self,
        executor: Executor,
        limits: Limits,
        context: ContextFactory,
        admission: ClientAdmission,
    ) -> None:
        self._executor = executor
        self._limits = limits
        self._context = context
        self._admission = admission
        self._large_requests = asyncio.Semaphore(1)

    async def __call__(self, request: Request, send: Send) -> None:
        if cors.is_preflight(request):
            await respond(send, 204, headers=cors.preflight_headers(request))
            return
        allow_origin = cors.response_headers(request)
        content_type, request_error_status = negotiate(request.header("accept"))
        client = self._admission.key(request)
        try:
            parsed, queries_only, size = await self._parse(request, client)
            if parsed is None:  # a bare OPTIONS
                await respond(send, 200, headers=[_ALLOW], encoded=allow_origin)
                return
            context = self._context(request, client, size)
            if isinstance(parsed, GraphQLRequest):
                outcome = await self._executor.run(parsed, context, queries_only=queries_only)
            else:
                outcome = await self._run_large(parsed, context)
            request.note.operation = outcome.field or "other"
        except HTTPError as exc:
            request.note.code, request.note.message = exc.code, exc.message
            await respond_json(
                send, exc.status, http_error_body(exc), content_type, exc.headers, allow_origin
            )
            return
        headers: list[tuple[str, str]] = []
        if outcome.retry_after is not None:
            # The limiter has logged it, at most once a minute per limit and client: an
            # abusive client is not allowed to flood the log.
            headers.append(("retry-after", str(outcome.retry_after)))
            await respond_json(send, 429, outcome.body, content_type, headers, allow_origin)
            return
        if outcome.unavailable:
            status = 503
            headers.append(("retry-after", RETRY_AFTER_SECONDS))
        elif outcome.request_error:
            status = outcome.status or request_error_status
        else:
            status = 200
        errors = outcome.body.get("errors")
        if errors:
            # The app's access log says it: refusals are the operator's first clue when a
            # site records nothing.
            first = errors[0]
            request.note.code = str(first.get("extensions", {}).get("code"))
            request.note.message = str(first.get("message"))
        await respond_json(send, status, outcome.body, content_type, headers, allow_origin)

    async def _run_large(self, body: bytes, context: RequestContext) -> Outcome:
        """Decode and prepare a large request off the loop, then run its resolvers."""
        await self._large_requests.acquire()
        started = time.perf_counter()
        try:
            prepared = await offload.run_off_loop(self._prepare_large, body, context)
            return await self._executor.complete(prepared)
        finally:
            # The next large request starts only after as long again (at most a second):
            # decoding held the GIL throughout, and requests back to back would leave the
            # loop a few milliseconds between half-second decodes, so that one small push
            # waits behind several of them.
            busy = min(time.perf_counter() - started, _MAX_LARGE_PAUSE_SECONDS)
            asyncio.get_running_loop().call_later(busy, self._large_requests.release)

    def _prepare_large(self, body: bytes, context: RequestContext) -> Prepared | Ready | Outcome:
        """Decode and prepare a large request (on an ingest thread)."""
        return self._executor.prepare(_request_from_json(body), context)

    async def _parse(
        self, request: Request, client: str
    ) -> tuple[GraphQLRequest | bytes | None, bool, int]:
        """The request (or, for a large body, the body still to be decoded, off the loop),
        whether it may only run queries, and the size of its body."""
        method = request.method
        if method == "OPTIONS":
            return None, False, 0
        if method == "GET":
            self._admission.admit(client, 0)
            params = request.query_params()
            return (
                _request_from_mapping(
                    {
                        "query": params.get("query"),
                        "variables": params.get("variables"),
                        "operationName": params.get("operationName"),
                    }
                ),
                True,
                0,
            )
        if method != "POST":
            raise HTTPError(405, f"method {method} is not allowed", "METHOD_NOT_ALLOWED", [_ALLOW])
        media = _media_type(request.header("content-type"))
        if media != JSON:
            raise HTTPError(
                415,
                f"Content-Type must be application/json, got {media or 'none'}",
                "UNSUPPORTED_MEDIA_TYPE",
            )
        encoding = (request.header("content-encoding") or "identity").strip().lower()
        if encoding != "identity":
            raise HTTPError(
                415,
                f"Content-Encoding {encoding} is not supported; send the body uncompressed",
                "UNSUPPORTED_MEDIA_TYPE",
            )
        body = await request.body(self._limits.max_body_bytes, self._limits.body_timeout_seconds)
        self._admission.admit(client, len(body))
        if len(body) > LARGE_BODY_BYTES:
            return body, False, len(body)
        return _request_from_json(body), False, len(body)
