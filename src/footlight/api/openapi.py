"""The OpenAPI 3.1 description of the read API, served at /api/v1/openapi.json.

The paths table is written here, next to the routes it describes: each operation's
parameters, security and the type of its answer. The schemas of the answers are generated
from those types (`shapes.py`, the structs the routes encode), so they cannot drift from what
the routes send. Tests check that every route is described, that every described operation
answers, and that its answers validate against the document.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import msgspec

from footlight import __version__
from footlight.api import shapes

Body = type[shapes.Shape] | dict[str, Any]
"""What an answer is: the struct the route encodes, or (for what is not one) a JSON Schema."""


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


_SECURE_ID = {
    "name": "secure_id",
    "in": "path",
    "required": True,
    "description": "The session's secure id (what the SDK sends as session_secure_id).",
    "schema": {"type": "string"},
}
_PROJECT = _query("project", "A project id or verbose id (default: every project the token reads).")
_PAGING = [
    _query(
        "limit", "Page size, 1-200 (default 50).", {"type": "integer", "minimum": 1, "maximum": 200}
    ),
    _query("cursor", "The `next_cursor` of the previous page."),
]
_ADMIN = [{"bearer": ["admin"]}]
"""The security of a route that changes data: a token with the admin scope."""
_ERRORS = {
    "400": {
        "description": "A parameter is malformed.",
        "content": {"application/json": {"schema": shapes.Error}},
    },
    "401": {
        "description": "No token, or an unknown one.",
        "content": {"application/json": {"schema": shapes.Error}},
    },
    "403": {
        "description": "The token does not read that project, or the route needs the admin"
        " scope and the token's is read.",
        "content": {"application/json": {"schema": shapes.Error}},
    },
    "404": {
        "description": "No such session or error group.",
        "content": {"application/json": {"schema": shapes.Error}},
    },
}


def _ok(description: str, body: Body) -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {"application/json": {"schema": body}}},
        **_ERRORS,
    }


def _get(
    operation_id: str,
    summary: str,
    responses: dict[str, Any],
    *,
    parameters: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": parameters or [],
            "responses": responses,
        }
    }


_OBJECT = {"type": "object", "additionalProperties": True}
"""A free-form JSON object (an rrweb event, this document)."""
REF_TEMPLATE = "#/components/schemas/{name}"


def _answer_types(node: Any) -> Iterator[type[shapes.Shape]]:
    """The structs named anywhere in `node`, a part of the paths table."""
    if isinstance(node, type):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _answer_types(value)
    elif isinstance(node, list):
        for value in node:
            yield from _answer_types(value)


def _referring(node: Any, refs: dict[type[shapes.Shape], Any]) -> Any:
    """`node` with each struct in it replaced by the reference to its component schema."""
    if isinstance(node, type):
        return refs[node]
    if isinstance(node, dict):
        return {key: _referring(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [_referring(value, refs) for value in node]
    return node


@cache
def openapi_document() -> dict[str, Any]:
    session_filters = [
        _PROJECT,
        _query("from", "Sessions started at or after (epoch ms or ISO 8601 with zone)."),
        _query("to", "Sessions started before (epoch ms or ISO 8601 with zone)."),
        _query("user", "Part of the user identifier or email, case-insensitive."),
        _query("has_errors", "true or false.", {"type": "boolean"}),
        _query("url", "Part of a visited page's URL, case-insensitive (processed sessions)."),
        _query("environment", "Exact environment, as given to H.init."),
        _query(
            "min_active_seconds", "Least active time (processed sessions).", {"type": "integer"}
        ),
        *_PAGING,
    ]
    paths: dict[str, Any] = {
        "/api/v1/openapi.json": _get("openapi", "This document.", _ok("OpenAPI 3.1", _OBJECT)),
        "/api/v1/projects": _get(
            "listProjects",
            "Projects the token reads.",
            _ok("Projects", shapes.ProjectList),
        ),
        "/api/v1/sessions": _get(
            "listSessions",
            "Sessions, newest first, filtered.",
            _ok("A page of sessions", shapes.SessionPage),
            parameters=session_filters,
        ),
        "/api/v1/sessions/{secure_id}": {
            **_get(
                "getSession",
                "One session with its properties and details.",
                _ok("The session", shapes.Session),
                parameters=[_SECURE_ID],
            ),
            "delete": {
                "operationId": "deleteSession",
                "summary": "Delete the session and everything derived from it."
                " Needs a token with the admin scope.",
                "parameters": [_SECURE_ID],
                "security": _ADMIN,
                "responses": {"204": {"description": "Deleted."}, **_ERRORS},
            },
        },
        "/api/v1/sessions/{secure_id}/events": _get(
            "getSessionEvents",
            "The rrweb events in replay order, one JSON array, streamed;"
            " rrweb's Replayer plays it as is. With `after`, a page at a time (EventsPage),"
            " to follow a live recording.",
            _ok(
                "rrweb events (without `after`), or a page of them",
                {"oneOf": [{"type": "array", "items": _OBJECT}, shapes.EventsPage]},
            ),
            parameters=[
                _SECURE_ID,
                _query(
                    "after",
                    "Empty: the first page; else the `next` of the previous page: the page"
                    " after it.",
                ),
                _query(
                    "follow",
                    "1: with nothing after `after` yet, wait for the next payload (at most"
                    " FOOTLIGHT_FOLLOW_WAIT_SECONDS); 429 when too many requests wait.",
                    {"type": "string", "enum": ["1", "true"]},
                ),
                _query(
                    "assets",
                    "local: the URLs of assets asset capture kept point at"
                    " /api/v1/sessions/{secure_id}/assets/{digest} instead of the recorded site.",
                    {"type": "string", "enum": ["local"]},
                ),
            ],
        ),
        "/api/v1/sessions/{secure_id}/assets": _get(
            "getSessionAssets",
            "What asset capture kept for the replay: counts, bytes, and the URLs it did not"
            " keep with the reason.",
            _ok("The session's assets", shapes.SessionAssets),
            parameters=[_SECURE_ID],
        ),
        "/api/v1/sessions/{secure_id}/assets/{digest}": _get(
            "getSessionAsset",
            "One kept asset's bytes (a stylesheet's own URLs rewritten to its siblings), by"
            " the SHA-256 in the URLs of `events?assets=local`.",
            {"200": {"description": "The asset, with its stored content type."}, **_ERRORS},
            parameters=[
                _SECURE_ID,
                {
                    "name": "digest",
                    "in": "path",
                    "required": True,
                    "description": "SHA-256 of the asset's bytes, hex.",
                    "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                },
            ],
        ),
        "/api/v1/sessions/{secure_id}/console": _get(
            "getSessionConsole",
            "Console messages, in time order, a page at a time.",
            _ok("Console", shapes.ConsolePage),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/network": _get(
            "getSessionNetwork",
            "Network requests (resources and OTLP spans, merged) and websocket events, in"
            " time order. One cursor pages both lists, up to `limit` of each per page; a list"
            " that has ended is empty on the pages that follow. A request reported both ways"
            " is shown once, on the page of its resource, so a page may hold fewer than"
            " `limit` requests.",
            _ok("Network", shapes.NetworkPage),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/errors": _get(
            "getSessionErrors",
            "Errors of the session, in time order, a page at a time.",
            _ok("Errors", shapes.ErrorPage),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/track": _get(
            "getSessionTrack",
            "Track events (H.track), a page at a time, and track properties.",
            _ok("Track", shapes.TrackPage),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/feedback": _get(
            "getSessionFeedback",
            "User feedback left in the session, a page at a time.",
            _ok("Feedback", shapes.FeedbackPage),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/properties": _get(
            "getSessionProperties",
            "Every user, session and track property of the session, by kind, key and value.",
            _ok("Properties", shapes.PropertyPage),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/errors": _get(
            "listErrors",
            "Error occurrences, newest first.",
            _ok("A page of errors", shapes.ErrorPage),
            parameters=[_PROJECT, _query("fingerprint", "Only this error group."), *_PAGING],
        ),
        "/api/v1/error-groups": _get(
            "listErrorGroups",
            "Error groups, most recently seen first.",
            _ok("A page of groups", shapes.ErrorGroupPage),
            parameters=[_PROJECT, *_PAGING],
        ),
        "/api/v1/error-groups/{fingerprint}": _get(
            "getErrorGroup",
            "One error group with its recent occurrences and sessions.",
            _ok("The group", shapes.ErrorGroupDetail),
            parameters=[
                {
                    "name": "fingerprint",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
                _PROJECT,
            ],
        ),
        "/api/v1/traces/{trace_id}": _get(
            "getTrace",
            "A trace's spans (the browser's and its backends'), in start order, a page at a"
            " time, and its latest 50 errors. A token of one project reads only the spans of"
            " its sessions (a backend's span joins the session of the browser span of its"
            " trace).",
            _ok("The trace", shapes.Trace),
            parameters=[
                {
                    "name": "trace_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"},
                },
                *_PAGING,
            ],
        ),
        "/api/v1/logs": _get(
            "listLogs",
            "Log records (OTLP, from backend SDKs and the browser's), newest first, filtered.",
            _ok("A page of logs", shapes.LogPage),
            parameters=[
                _PROJECT,
                _query("session", "Only this session's (secure id)."),
                _query("service", "Exact service name (the exporter's service.name)."),
                _query("level", "trace, debug, info, warn, error, fatal or log."),
                _query("q", "Part of the message, case-insensitive."),
                _query("from", "At or after (epoch ms or ISO 8601 with zone)."),
                _query("to", "Before (epoch ms or ISO 8601 with zone)."),
                *_PAGING,
            ],
        ),
    }
    # One schema per struct (and per struct it holds), generated from the classes the routes
    # encode; the table refers to them by reference.
    answer_types = list(dict.fromkeys(_answer_types(paths)))
    refs, schemas = msgspec.json.schema_components(answer_types, ref_template=REF_TEMPLATE)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "footlight read API",
            "version": __version__,
            "description": "Sessions, replays, timelines, errors and logs recorded by footlight. "
            "Every route needs `Authorization: Bearer <token>` (create one with "
            "`footlight token create`). A token's scope is `read` (every GET) or `admin` "
            "(also DELETE, `footlight token create --scope admin`); an operation that needs "
            "admin says so in its `security`. Times are epoch milliseconds. Every list is "
            "paged: `limit` (1-200) and the previous page's `next_cursor` as `cursor`.",
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": _referring(paths, dict(zip(answer_types, refs, strict=True))),
    }
