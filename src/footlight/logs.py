"""The server's log: text for people, or one JSON object a line for a log pipeline.

`--log-format json` (`FOOTLIGHT_LOG_FORMAT=json`) writes each record as
`{"time", "level", "logger", "event", "request_id", "project", ...}`: the request id and
project come from the context of the request being handled when the record was made (the
app sets the id as a request arrives; ingest sets the project once it knows it), so a
warning deep in ingest still names the request and project it was about. The access log
(`footlight.access`) adds `route`, `status` and `code` to each refused request's line.

Text stays the default: an operator at a terminal reads it, and footlight.terminal has
already made strangers' text in it visible rather than obeyed. In JSON the same text is a
JSON string, where nothing can be obeyed.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import os
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

import msgspec

request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "footlight_request_id", default=None
)
project: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "footlight_project", default=None
)

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_EXTRA_FIELDS = ("route", "status", "code")
_encode = msgspec.json.Encoder().encode
_ids = itertools.count(1)
_process = f"{os.getpid():x}"


def new_request_id() -> str:
    """An id unique within this process's life, and between processes by their pid."""
    return f"{_process}-{next(_ids):x}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "request_id": request_id.get(),
            "project": project.get(),
        }
        for name in _EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_text or "".join(
                traceback.format_exception(*record.exc_info)
            )
        return _encode(line).decode()


def configure(level: str, log_format: str) -> None:
    """Log `level` and above to stderr in `log_format` (text or json), replacing any
    handler the root logger had."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
