"""Durable storage behind one interface (`Store`); the embedded SQLite backend is the default."""

from __future__ import annotations

from pathlib import Path

from footlight.store.base import (
    BackendError,
    Feedback,
    FieldKind,
    IncomingPayload,
    Metric,
    NewSession,
    OtlpBatch,
    PayloadSource,
    PayloadSummary,
    Project,
    Session,
    SessionField,
    SessionOfAnotherProject,
    SessionRecord,
    Store,
    StoredPayload,
    StoreError,
    StoreUnavailable,
    UnknownProject,
    UnknownSession,
)
from footlight.store.sqlite import SQLiteStore

__all__ = [
    "BackendError",
    "Feedback",
    "FieldKind",
    "IncomingPayload",
    "Metric",
    "NewSession",
    "OtlpBatch",
    "PayloadSource",
    "PayloadSummary",
    "Project",
    "SQLiteStore",
    "Session",
    "SessionField",
    "SessionOfAnotherProject",
    "SessionRecord",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "StoredPayload",
    "UnknownProject",
    "UnknownSession",
    "open_store",
]


def open_store(data_dir: Path) -> SQLiteStore:
    """The store a `serve` with this data directory uses (not yet opened)."""
    return SQLiteStore(data_dir)
