"""What asset capture hands the store and reads back (see migration 13 and
`footlight.processing.assets`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

AssetStatus = Literal["stored", "failed", "skipped"]
ASSET_STATUSES: tuple[AssetStatus, ...] = ("stored", "failed", "skipped")


@dataclass(frozen=True)
class AssetBody:
    """Fetched bytes, addressed by their SHA-256."""

    digest: bytes
    content_type: str
    body: bytes


@dataclass(frozen=True)
class SessionAsset:
    """One URL a session's recording referenced and what came of it."""

    url: str
    seen_at: int
    fetched_at: int
    status: AssetStatus
    digest: bytes | None = None
    final_url: str | None = None
    """Where the bytes came from after redirects (a stylesheet's relative URLs resolve here)."""
    reason: str | None = None
    """Why it was not stored."""
    size: int | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class AssetScan:
    """Where a session's capture stands: what its next run starts from."""

    session_id: int
    project_id: int
    origins: tuple[str, ...]
    """The project's asset origins ("https://shop.example"); empty: capture is off for it."""
    cursor: tuple[int, int] | None
    """The last payload (payload_id, seq) scanned; None: none yet."""
    recorded: frozenset[str] = field(default_factory=frozenset)
    """URLs the session has a row for (their fate is settled)."""
    stored_bytes: int = 0
    """Bytes of the assets the session links (against its per-session cap)."""


@dataclass(frozen=True)
class AssetReport:
    """A session's capture, for the UI and the API: counts by status and the newest
    failures."""

    counts: dict[str, int]
    dropped: int
    """URLs left unrecorded past the per-session cap."""
    bytes: int
    problems: list[SessionAsset]
