"""Durable storage behind one interface (`Store`); the embedded SQLite backend is the default."""

from __future__ import annotations

from footlight.config import Settings
from footlight.store.base import (
    BackendErrorReport,
    Feedback,
    FieldKind,
    IncomingPayload,
    Metric,
    NewSession,
    OtlpBatch,
    PayloadSource,
    ProcessingTiming,
    Project,
    Session,
    SessionField,
    SessionRecord,
    SessionSize,
    Store,
    StoredPayload,
    UsageCount,
    UsageTotals,
)
from footlight.store.sql import SQLStore
from footlight.store.sqlite import SQLiteStore

__all__ = [
    "BackendErrorReport",
    "Feedback",
    "FieldKind",
    "IncomingPayload",
    "Metric",
    "NewSession",
    "OtlpBatch",
    "PayloadSource",
    "ProcessingTiming",
    "Project",
    "SQLStore",
    "SQLiteStore",
    "Session",
    "SessionField",
    "SessionRecord",
    "SessionSize",
    "Store",
    "StoredPayload",
    "UsageCount",
    "UsageTotals",
    "open_store",
]


def open_store(settings: Settings) -> SQLStore:
    """The store these settings name (not yet opened): PostgreSQL if a URL is set, else SQLite."""
    timing = ProcessingTiming(
        inactivity_ms=int(settings.session_inactivity_seconds * 1000),
        max_delay_ms=int(settings.processing_max_delay_seconds * 1000),
        live_delay_ms=(
            None if settings.live_delay_seconds is None else int(settings.live_delay_seconds * 1000)
        ),
        assets_delay_ms=(
            int(settings.asset_delay_seconds * 1000) if settings.asset_capture else None
        ),
    )
    if settings.store is not None:
        from footlight.store.postgres import PostgresStore

        return PostgresStore(
            settings.store,
            timing,
            settings.read_timeout_seconds,
            settings.commit_gather_seconds,
            settings.commit_gather_from,
        )
    return SQLiteStore(
        settings.data_dir,
        timing,
        settings.read_timeout_seconds,
        settings.commit_gather_seconds,
        settings.commit_gather_from,
    )
