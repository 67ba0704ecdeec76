"""Settings: every knob footlight has, its default, and the environment variable that sets it.

One frozen dataclass is built once at start-up (from command-line flags, then `FOOTLIGHT_*`
environment variables, then the defaults below) and handed to every layer. Every setting has
both: `FOOTLIGHT_MAX_BODY_BYTES` and `footlight serve --max-body-bytes`. The README's
"Configuration" table is checked against `SETTINGS` by a test, so a setting cannot exist
undocumented.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from footlight.edge.clients import Network, parse_trusted_proxies

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on everything a stranger can send to the public ingest endpoint."""

    max_body_bytes: int = 16 * MiB
    """A request body larger than this is answered 413 without being read."""
    max_inflated_bytes: int = 64 * MiB
    """A compressed payload is stopped while inflating once it exceeds this."""
    max_query_bytes: int = 100_000
    """Longest GraphQL document accepted (the SDK's largest is about 2 KB)."""
    max_query_tokens: int = 5_000
    """Most lexical tokens in one GraphQL document."""
    body_timeout_seconds: float = 30.0
    """A client that has not sent its whole body by then gets 408."""
    max_events_per_payload: int = 100_000
    """Most rrweb events (and, separately, console messages, resources, websocket events and
    errors) in one payload; the SDK's pushes carry tens to a few thousand."""
    # What processing derives from one session (see footlight.processing.limits).
    max_derived_rows_per_session: int = 5_000
    """Console messages, network requests, websocket events, errors, track events and pages
    kept per session, each; the rest are counted, not kept."""
    max_derived_text_chars: int = 16_384
    """Longest text kept from a stranger in a derived row (a message, a URL, a body)."""
    max_stack_frames: int = 100
    """Most stack frames kept per error or console trace."""
    max_derived_bytes_per_session: int = 16 * MiB
    """Most JSON bytes a session's derived rows keep in all; later rows are counted only."""
    max_activity_events_per_session: int = 500_000
    """User interactions, clicks and custom events per session whose times feed active time,
    rage clicks and the histogram."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8082
    data_dir: Path = Path("footlight-data")
    store: str | None = None
    """A postgresql:// URL to store in PostgreSQL; None is the embedded SQLite store."""
    session_inactivity_seconds: float = 60.0
    """A session with no new input for this long is finished and processed."""
    processing_max_delay_seconds: float = 300.0
    """A session that keeps receiving input is still processed at least this often."""
    processing_lease_seconds: float = 60.0
    """How long a claimed job is reserved; a crashed run's jobs are redone after it."""
    processing_max_attempts: int = 5
    """Runs a processing job gets (each claim counts, so runs that kill the process do) before
    it is quarantined."""
    workers: int = 1
    """Server processes sharing the port (and the store)."""
    trusted_proxies: tuple[Network, ...] = ()
    """Reverse proxies whose `X-Forwarded-For` names the client (see edge.clients)."""
    limits: Limits = Limits()


@dataclass(frozen=True)
class SettingSpec:
    env: str
    attr: str
    parse: Callable[[str], Any]
    help: str
    in_limits: bool = False
    show: Callable[[Any], str] = str
    """The value as `parse` reads it (for the environment of worker processes)."""

    @property
    def flag(self) -> str:
        """The `footlight serve` option that sets it: `--max-body-bytes` for max_body_bytes."""
        return "--" + self.attr.replace("_", "-")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"must be a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"must be a positive number, got {text!r}")
    return value


def parse_store_url(text: str) -> str | None:
    if not text:
        return None
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URL (or unset for the embedded SQLite store)")
    return text


def _show_networks(networks: tuple[Network, ...]) -> str:
    return ",".join(str(n) for n in networks)


def parse_port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port (0-65535), got {text!r}")
    return value


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("FOOTLIGHT_HOST", "host", str, "Interface to listen on."),
    SettingSpec(
        "FOOTLIGHT_PORT", "port", parse_port, "TCP port to listen on (0 picks a free one)."
    ),
    SettingSpec("FOOTLIGHT_DATA_DIR", "data_dir", Path, "Directory of the embedded store."),
    SettingSpec(
        "FOOTLIGHT_STORE",
        "store",
        parse_store_url,
        "postgresql://user@host/db for PostgreSQL; unset for the embedded SQLite store.",
    ),
    SettingSpec(
        "FOOTLIGHT_WORKERS", "workers", _positive_int, "Server processes sharing the port."
    ),
    SettingSpec(
        "FOOTLIGHT_TRUSTED_PROXIES",
        "trusted_proxies",
        parse_trusted_proxies,
        "Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For"
        " names the client.",
        show=_show_networks,
    ),
    SettingSpec(
        "FOOTLIGHT_SESSION_INACTIVITY_SECONDS",
        "session_inactivity_seconds",
        _positive_float,
        "Quiet time after which a session is finished and processed.",
    ),
    SettingSpec(
        "FOOTLIGHT_PROCESSING_MAX_DELAY_SECONDS",
        "processing_max_delay_seconds",
        _positive_float,
        "Longest a live session waits between processing runs.",
    ),
    SettingSpec(
        "FOOTLIGHT_PROCESSING_LEASE_SECONDS",
        "processing_lease_seconds",
        _positive_float,
        "How long a processing job is reserved; a crashed run's jobs are redone after it.",
    ),
    SettingSpec(
        "FOOTLIGHT_PROCESSING_MAX_ATTEMPTS",
        "processing_max_attempts",
        _positive_int,
        "Runs a processing job gets (crashes included) before it is quarantined.",
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_BODY_BYTES",
        "max_body_bytes",
        _positive_int,
        "Largest request body; larger ones get 413.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_INFLATED_BYTES",
        "max_inflated_bytes",
        _positive_int,
        "Largest decompressed payload; inflation stops beyond it.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_QUERY_BYTES",
        "max_query_bytes",
        _positive_int,
        "Longest GraphQL document.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_QUERY_TOKENS",
        "max_query_tokens",
        _positive_int,
        "Most tokens in one GraphQL document.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_BODY_TIMEOUT_SECONDS",
        "body_timeout_seconds",
        _positive_float,
        "Time allowed to send a request body; slower clients get 408.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_EVENTS_PER_PAYLOAD",
        "max_events_per_payload",
        _positive_int,
        "Most rrweb events (and console messages, resources, ... each) in one payload.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_DERIVED_ROWS_PER_SESSION",
        "max_derived_rows_per_session",
        _positive_int,
        "Console messages, network requests, errors, ... kept per session, each kind.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_DERIVED_TEXT_CHARS",
        "max_derived_text_chars",
        _positive_int,
        "Longest text kept in a derived row; longer text is cut with a marker.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_STACK_FRAMES",
        "max_stack_frames",
        _positive_int,
        "Most stack frames kept per error or console trace.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_DERIVED_BYTES_PER_SESSION",
        "max_derived_bytes_per_session",
        _positive_int,
        "Most JSON bytes a session's derived rows keep in all.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_ACTIVITY_EVENTS_PER_SESSION",
        "max_activity_events_per_session",
        _positive_int,
        "Interactions, clicks and custom events per session that feed activity metrics.",
        in_limits=True,
    ),
)


class ConfigError(ValueError):
    """A setting has a value footlight cannot use; the message names the setting."""


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Defaults, overlaid by environment variables, overlaid by explicit (command-line) values.

    `overrides` maps attribute names to already-typed values; `None` values are ignored so
    that an unset command-line flag falls through to the environment.
    """
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    top: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    for spec in SETTINGS:
        target = limits if spec.in_limits else top
        if spec.attr in overrides:
            target[spec.attr] = overrides[spec.attr]
        elif spec.env in environ:
            raw = environ[spec.env]
            try:
                target[spec.attr] = spec.parse(raw)
            except ValueError as exc:
                raise ConfigError(f"{spec.env}={raw!r}: {exc}") from None
    known = {f.name for f in fields(Settings)} | {f.name for f in fields(Limits)}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    return Settings(**top, limits=Limits(**limits))


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes `load_settings` in another process return `settings`."""
    environment = {}
    for spec in SETTINGS:
        value = getattr(settings.limits if spec.in_limits else settings, spec.attr)
        environment[spec.env] = "" if value is None else spec.show(value)
    return environment
