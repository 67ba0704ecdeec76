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
        "description": "The token does not read that project.",
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
        properties["next_cursor"] = {"type": ["string", "null"]}
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
        "required": ["id", "verbose_id", "name", "keys", "retention_days", "created_at"],
        "properties": {
            "id": {"type": "integer"},
            "verbose_id": {"type": "string", "description": "Highlight's hashid of the id."},
            "name": {"type": "string"},
            "keys": {"type": "array", "items": {"type": "string"}},
            "retention_days": {"type": ["integer", "null"]},
            "created_at": _TIME,
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
                "description": "user / session / track properties (single-session view only).",
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
            "source": {"enum": ["payload", "otlp"]},
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
    "ErrorOccurrence": {
        "type": "object",
        "required": ["id", "fingerprint", "timestamp", "type", "message"],
        "properties": {
            "id": {"type": "integer"},
            "project_id": {"type": ["integer", "null"]},
            "session_secure_id": _NULLABLE_STRING,
            "fingerprint": {"type": "string", "description": "The error group."},
            "timestamp": _TIME,
            "type": {"type": "string"},
            "message": {"type": "string"},
            "frames": {"type": "array", "items": _ref("StackFrame")},
            "url": _NULLABLE_STRING,
            "payload": _NULLABLE_STRING,
            "source": {"enum": ["payload", "otlp", "backend"]},
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
                "summary": "Delete the session and everything derived from it.",
                "parameters": [_SECURE_ID],
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
            "Console messages, in time order.",
            _ok("Console", _list_of("console", _ref("ConsoleMessage"))),
            parameters=[_SECURE_ID],
        ),
        "/api/v1/sessions/{secure_id}/network": _get(
            "getSessionNetwork",
            "Network requests (resources and OTLP spans, merged) and websocket events.",
            _ok(
                "Network",
                {
                    "type": "object",
                    "properties": {
                        "network": {"type": "array", "items": _ref("NetworkRequest")},
                        "websocket": {"type": "array", "items": _OBJECT},
                    },
                },
            ),
            parameters=[_SECURE_ID],
        ),
        "/api/v1/sessions/{secure_id}/errors": _get(
            "getSessionErrors",
            "Errors of the session, in time order.",
            _ok("Errors", _list_of("errors", _ref("ErrorOccurrence"))),
            parameters=[_SECURE_ID],
        ),
        "/api/v1/sessions/{secure_id}/track": _get(
            "getSessionTrack",
            "Track events (H.track) and track properties.",
            _ok(
                "Track",
                {
                    "type": "object",
                    "properties": {
                        "events": {"type": "array", "items": _OBJECT},
                        "properties": _OBJECT,
                    },
                },
            ),
            parameters=[_SECURE_ID],
        ),
        "/api/v1/sessions/{secure_id}/feedback": _get(
            "getSessionFeedback",
            "User feedback left in the session.",
            _ok("Feedback", _list_of("feedback", _OBJECT)),
            parameters=[_SECURE_ID],
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
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "footlight read API",
            "version": __version__,
            "description": "Sessions, replays, timelines and errors recorded by footlight. "
            "Every route needs `Authorization: Bearer <token>` (create one with "
            "`footlight token create`). Times are epoch milliseconds.",
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }
