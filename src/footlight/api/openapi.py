"""The OpenAPI 3.1 description of the read API, served at /api/v1/openapi.json.

Written by hand, next to the routes it describes; tests check that every route is described
and every described operation answers.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from footlight import __version__


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


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
_NEXT_CURSOR = {
    "type": ["string", "null"],
    "description": "Pass as `cursor` for the next page; null on the last page.",
}
_ADMIN = [{"bearer": ["admin"]}]
"""The security of a route that changes data: a token with the admin scope."""
_ERRORS = {
    "400": {
        "description": "A parameter is malformed.",
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "401": {
        "description": "No token, or an unknown one.",
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "403": {
        "description": "The token does not read that project, or the route needs the admin"
        " scope and the token's is read.",
        "content": {"application/json": {"schema": _ref("Error")}},
    },
    "404": {
        "description": "No such session or error group.",
        "content": {"application/json": {"schema": _ref("Error")}},
    },
}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "200": {"description": description, "content": {"application/json": {"schema": schema}}},
        **_ERRORS,
    }


def _list_of(key: str, item: dict[str, Any], paged: bool = False) -> dict[str, Any]:
    properties: dict[str, Any] = {key: {"type": "array", "items": item}}
    if paged:
        properties["next_cursor"] = _NEXT_CURSOR
    return {"type": "object", "required": list(properties), "properties": properties}


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
_TIME = {"type": "integer", "description": "Epoch milliseconds."}
_NULLABLE_STRING = {"type": ["string", "null"]}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Project": {
        "type": "object",
        "required": [
            "id",
            "verbose_id",
            "name",
            "keys",
            "retention_days",
            "created_at",
            "backend_services",
        ],
        "properties": {
            "id": {"type": "integer"},
            "verbose_id": {"type": "string", "description": "Highlight's hashid of the id."},
            "name": {"type": "string"},
            "keys": {"type": "array", "items": {"type": "string"}},
            "retention_days": {"type": ["integer", "null"]},
            "created_at": _TIME,
            "backend_services": {
                "type": "array",
                "description": "The backends that have reported (OTLP exports of a backend"
                " SDK, markBackendSetup), by service name ('' when none was named).",
                "items": {
                    "type": "object",
                    "required": ["name", "first_seen", "last_seen"],
                    "properties": {
                        "name": {"type": "string"},
                        "first_seen": _TIME,
                        "last_seen": _TIME,
                    },
                },
            },
        },
    },
    "Summary": {
        "type": ["object", "null"],
        "description": "What processing derived; null until the session is first processed.",
        "properties": {
            "started_at": {"type": ["integer", "null"]},
            "ended_at": {"type": ["integer", "null"]},
            "length_ms": {
                "type": "integer",
                "description": "First FullSnapshot to last IncrementalSnapshot.",
            },
            "active_ms": {
                "type": "integer",
                "description": "Time with user activity; gaps over 10 s do not count.",
            },
            "pages_visited": {"type": "integer"},
            "click_count": {"type": "integer"},
            "rage_click_count": {"type": "integer"},
            "event_count": {"type": "integer"},
            "payload_count": {"type": "integer"},
            "error_count": {"type": "integer"},
            "console_count": {"type": "integer"},
            "network_count": {"type": "integer"},
            "browser_name": _NULLABLE_STRING,
            "browser_version": _NULLABLE_STRING,
            "os_name": _NULLABLE_STRING,
            "os_version": _NULLABLE_STRING,
            "device_type": _NULLABLE_STRING,
            "language": _NULLABLE_STRING,
            "landing_page": _NULLABLE_STRING,
            "exit_page": _NULLABLE_STRING,
            "details": {
                **_OBJECT,
                "description": "intervals (active/inactive), rage_clicks, event_counts;"
                " in the single-session view only.",
            },
        },
    },
    "Session": {
        "type": "object",
        "required": ["secure_id", "project_id", "created_at", "user", "status", "summary"],
        "properties": {
            "secure_id": {"type": "string"},
            "project_id": {"type": "integer"},
            "created_at": _TIME,
            "client_id": _NULLABLE_STRING,
            "user": {
                "type": "object",
                "properties": {
                    "identifier": _NULLABLE_STRING,
                    "email": _NULLABLE_STRING,
                    "properties": {"type": ["object", "null"]},
                },
            },
            "environment": _NULLABLE_STRING,
            "app_version": _NULLABLE_STRING,
            "service_name": _NULLABLE_STRING,
            "client_version": _NULLABLE_STRING,
            "user_agent": _NULLABLE_STRING,
            "status": {
                "enum": ["pending", "processing", "processed"],
                "description": "processing: input is waiting (live or re-opened);"
                " processed: finished.",
            },
            "processed_at": {"type": ["integer", "null"]},
            "summary": _ref("Summary"),
            "properties": {
                "type": "object",
                "description": "user / session / track properties, the first 1,000 by arrival"
                " (single-session view only; all of them: /properties).",
            },
            "properties_complete": {
                "type": "boolean",
                "description": "false when `properties` holds only the first 1,000.",
            },
        },
    },
    "StackFrame": {
        "type": "object",
        "properties": {
            "file_name": _NULLABLE_STRING,
            "function_name": _NULLABLE_STRING,
            "line_number": {"type": ["integer", "null"]},
            "column_number": {"type": ["integer", "null"]},
            "source": _NULLABLE_STRING,
        },
    },
    "ConsoleMessage": {
        "type": "object",
        "required": ["timestamp", "level", "message"],
        "properties": {
            "timestamp": _TIME,
            "level": {"type": "string"},
            "message": {"type": "string"},
            "trace": {"type": "array", "items": _ref("StackFrame")},
            "attributes": _OBJECT,
            "source": {
                "enum": ["payload", "otlp", "backend"],
                "description": "backend: a backend SDK's log line of this session.",
            },
        },
    },
    "LogRecord": {
        "type": "object",
        "required": ["id", "timestamp", "level", "message", "attributes"],
        "properties": {
            "id": {"type": "integer"},
            "project_id": {"type": ["integer", "null"]},
            "session_secure_id": _NULLABLE_STRING,
            "timestamp": _TIME,
            "level": {
                "type": "string",
                "description": "trace, debug, info, warn, error or fatal (or log: no severity).",
            },
            "message": {"type": "string"},
            "service_name": _NULLABLE_STRING,
            "service_version": _NULLABLE_STRING,
            "environment": _NULLABLE_STRING,
            "trace_id": _NULLABLE_STRING,
            "span_id": _NULLABLE_STRING,
            "attributes": _OBJECT,
        },
    },
    "Span": {
        "type": "object",
        "required": ["id", "trace_id", "span_id", "name", "started_at"],
        "properties": {
            "id": {"type": "integer"},
            "project_id": {
                "type": ["integer", "null"],
                "description": "Its session's project; null for a span of no session.",
            },
            "session_secure_id": _NULLABLE_STRING,
            "trace_id": {"type": "string"},
            "span_id": {"type": "string"},
            "parent_span_id": _NULLABLE_STRING,
            "name": {"type": "string"},
            "kind": _NULLABLE_STRING,
            "started_at": {"type": "number", "description": "Epoch ms (fractional)."},
            "ended_at": {"type": ["number", "null"]},
            "status_code": _NULLABLE_STRING,
            "service_name": _NULLABLE_STRING,
            "attributes": _OBJECT,
            "events": {"type": "array", "items": _OBJECT},
        },
    },
    "NetworkRequest": {
        "type": "object",
        "required": ["start", "url"],
        "properties": {
            "start": {"type": "number"},
            "end": {"type": ["number", "null"]},
            "method": _NULLABLE_STRING,
            "url": {"type": "string"},
            "status": {"type": ["integer", "null"]},
            "initiator": _NULLABLE_STRING,
            "request": {
                "type": ["object", "null"],
                "description": "headers and body, when recorded",
            },
            "response": {
                "type": ["object", "null"],
                "description": "headers, body and size, when recorded",
            },
            "transfer_size": {"type": ["integer", "null"]},
            "trace_id": _NULLABLE_STRING,
            "span_id": _NULLABLE_STRING,
            "source": {"enum": ["payload", "otlp"]},
        },
    },
    "WebSocketEvent": {
        "type": "object",
        "required": ["timestamp", "socket_id", "type", "name"],
        "properties": {
            "timestamp": {"type": "number", "description": "Epoch milliseconds."},
            "socket_id": {"type": "string"},
            "type": {"type": "string", "description": "open, close, sent, received, error"},
            "name": {"type": "string"},
            "size": {"type": ["integer", "null"]},
            "message": _NULLABLE_STRING,
        },
    },
    "Property": {
        "type": "object",
        "required": ["kind", "key", "value"],
        "properties": {
            "kind": {"enum": ["user", "session", "track"]},
            "key": {"type": "string"},
            "value": {"type": "string"},
        },
    },
    "ErrorOccurrence": {
        "type": "object",
        "required": ["id", "fingerprint", "timestamp", "type", "message"],
        "properties": {
            "id": {"type": "integer"},
            "project_id": {"type": ["integer", "null"]},
            "session_secure_id": _NULLABLE_STRING,
            "fingerprint": {"type": "string", "description": "The error group."},
            "trace_id": {
                **_NULLABLE_STRING,
                "description": "The trace of the span that recorded it (OTLP), if any.",
            },
            "timestamp": _TIME,
            "type": {"type": "string"},
            "message": {"type": "string"},
            "frames": {"type": "array", "items": _ref("StackFrame")},
            "url": _NULLABLE_STRING,
            "payload": _NULLABLE_STRING,
            "source": {"enum": ["payload", "otlp", "backend"]},
            "service_name": {
                **_NULLABLE_STRING,
                "description": "The backend service that reported it; null for the browser's.",
            },
            "service_version": _NULLABLE_STRING,
            "environment": _NULLABLE_STRING,
        },
    },
    "ErrorGroup": {
        "type": "object",
        "required": [
            "project_id",
            "fingerprint",
            "type",
            "message",
            "count",
            "sessions",
            "first_seen",
            "last_seen",
        ],
        "properties": {
            "project_id": {"type": "integer"},
            "fingerprint": {"type": "string"},
            "type": {"type": "string"},
            "message": {"type": "string"},
            "count": {"type": "integer"},
            "sessions": {"type": "integer", "description": "Distinct sessions affected."},
            "first_seen": _TIME,
            "last_seen": _TIME,
            "latest": _OBJECT,
        },
    },
}


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
            _ok("Projects", _list_of("projects", _ref("Project"))),
        ),
        "/api/v1/sessions": _get(
            "listSessions",
            "Sessions, newest first, filtered.",
            _ok("A page of sessions", _list_of("sessions", _ref("Session"), paged=True)),
            parameters=session_filters,
        ),
        "/api/v1/sessions/{secure_id}": {
            **_get(
                "getSession",
                "One session with its properties and details.",
                _ok("The session", _ref("Session")),
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
            " rrweb's Replayer plays it as is.",
            _ok("rrweb events", {"type": "array", "items": _OBJECT}),
            parameters=[_SECURE_ID],
        ),
        "/api/v1/sessions/{secure_id}/console": _get(
            "getSessionConsole",
            "Console messages, in time order, a page at a time.",
            _ok("Console", _list_of("console", _ref("ConsoleMessage"), paged=True)),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/network": _get(
            "getSessionNetwork",
            "Network requests (resources and OTLP spans, merged) and websocket events, in"
            " time order. One cursor pages both lists, up to `limit` of each per page; a list"
            " that has ended is empty on the pages that follow. A request reported both ways"
            " is shown once, on the page of its resource, so a page may hold fewer than"
            " `limit` requests.",
            _ok(
                "Network",
                {
                    "type": "object",
                    "required": ["network", "websocket", "next_cursor"],
                    "properties": {
                        "network": {"type": "array", "items": _ref("NetworkRequest")},
                        "websocket": {"type": "array", "items": _ref("WebSocketEvent")},
                        "next_cursor": _NEXT_CURSOR,
                    },
                },
            ),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/errors": _get(
            "getSessionErrors",
            "Errors of the session, in time order, a page at a time.",
            _ok("Errors", _list_of("errors", _ref("ErrorOccurrence"), paged=True)),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/track": _get(
            "getSessionTrack",
            "Track events (H.track), a page at a time, and track properties.",
            _ok(
                "Track",
                {
                    "type": "object",
                    "required": ["events", "properties", "next_cursor"],
                    "properties": {
                        "events": {"type": "array", "items": _OBJECT},
                        "properties": {
                            **_OBJECT,
                            "description": "Track properties (among the session's first"
                            " 1,000 properties); the same on every page.",
                        },
                        "properties_complete": {"type": "boolean"},
                        "next_cursor": _NEXT_CURSOR,
                    },
                },
            ),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/feedback": _get(
            "getSessionFeedback",
            "User feedback left in the session, a page at a time.",
            _ok("Feedback", _list_of("feedback", _OBJECT, paged=True)),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/sessions/{secure_id}/properties": _get(
            "getSessionProperties",
            "Every user, session and track property of the session, by kind, key and value.",
            _ok("Properties", _list_of("properties", _ref("Property"), paged=True)),
            parameters=[_SECURE_ID, *_PAGING],
        ),
        "/api/v1/errors": _get(
            "listErrors",
            "Error occurrences, newest first.",
            _ok("A page of errors", _list_of("errors", _ref("ErrorOccurrence"), paged=True)),
            parameters=[_PROJECT, _query("fingerprint", "Only this error group."), *_PAGING],
        ),
        "/api/v1/error-groups": _get(
            "listErrorGroups",
            "Error groups, most recently seen first.",
            _ok("A page of groups", _list_of("error_groups", _ref("ErrorGroup"), paged=True)),
            parameters=[_PROJECT, *_PAGING],
        ),
        "/api/v1/error-groups/{fingerprint}": _get(
            "getErrorGroup",
            "One error group with its recent occurrences and sessions.",
            _ok(
                "The group",
                {
                    "allOf": [_ref("ErrorGroup")],
                    "type": "object",
                    "required": ["recent", "session_ids"],
                    "properties": {
                        "recent": {
                            "type": "array",
                            "items": _ref("ErrorOccurrence"),
                            "description": "The 50 latest occurrences, newest first.",
                        },
                        "session_ids": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "Secure ids of the sessions of those occurrences.",
                        },
                    },
                },
            ),
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
            _ok(
                "The trace",
                {
                    "type": "object",
                    "required": ["trace_id", "spans", "errors", "next_cursor"],
                    "properties": {
                        "trace_id": {"type": "string"},
                        "spans": {"type": "array", "items": _ref("Span")},
                        "errors": {"type": "array", "items": _ref("ErrorOccurrence")},
                        "next_cursor": _NEXT_CURSOR,
                    },
                },
            ),
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
            _ok("A page of logs", _list_of("logs", _ref("LogRecord"), paged=True)),
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
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
