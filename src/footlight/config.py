"""Settings: every knob footlight has, its default, and the environment variable that sets it.

One frozen dataclass is built once at start-up (from command-line flags, then `FOOTLIGHT_*`
environment variables, then the defaults below) and handed to every layer. Every setting has
both: `FOOTLIGHT_MAX_BODY_BYTES` and `footlight serve --max-body-bytes`. The README's
"Configuration" table is checked against `SETTINGS` by a test, so a setting cannot exist
undocumented.

Its length is the settings table itself (one entry, with its help text, per setting): kept in
one module so that every knob, its default and its parser read in one place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from footlight.core.networks import Network, parse_trusted_proxies
from footlight.errors import ConfigError

MiB = 1024 * 1024
LOOPBACK = parse_trusted_proxies("127.0.0.0/8,::1")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
REPLAY_EXTERNAL = ("auto", "block", "allow")
MAX_JSON_DEPTH = 100_000
"""The deepest `max_json_depth` may be set (see footlight.core.nesting for the stack it costs)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on everything a stranger can send to the public ingest endpoint."""

    max_connections: int = 4096
    """Open connections per process (also kept below the open-file limit); at the cap the
    longest-idle connection is closed to make room, and only if none is idle is a newcomer
    refused (503)."""
    max_connections_per_client: int = 256
    """Open connections per client address (trusted proxies exempt); at the cap the client's
    own longest-idle connection makes room, and if none is idle the newcomer gets 429."""
    header_timeout_seconds: float = 10.0
    """A connection must deliver a complete request head this soon after connecting, or after
    the first byte of a request that follows a kept-alive one (408, or a silent close if it
    sent nothing)."""
    max_header_bytes: int = 32 * 1024
    """Longest request head (request line and headers); longer ones get 431."""
    keep_alive_seconds: float = 30.0
    """A kept-alive connection with no new request for this long is closed."""
    max_body_bytes: int = 16 * MiB
    """A request body larger than this is answered 413 without being read."""
    max_buffered_body_bytes: int = 256 * MiB
    """Request-body bytes held in memory at once, all clients together; more get 503."""
    max_buffered_body_bytes_per_client: int = 64 * MiB
    """Request-body bytes held in memory at once for one client address; more get 429."""
    max_inflated_bytes: int = 64 * MiB
    """A compressed payload is stopped while inflating once it exceeds this."""
    max_grpc_exports: int = 8
    """OTLP/gRPC exports worked on at once (each holds up to `max_body_bytes`, decompressed);
    more get RESOURCE_EXHAUSTED, which exporters retry."""
    max_query_bytes: int = 100_000
    """Longest GraphQL document accepted (the SDK's largest is about 2 KB)."""
    max_query_tokens: int = 5_000
    """Most lexical tokens in one GraphQL document."""
    body_timeout_seconds: float = 30.0
    """A client that has not sent its whole body by then gets 408."""
    max_properties_per_call: int = 256
    """Most keys in one `user_object` / `properties_object` (or tags of one metric)."""
    max_property_key_bytes: int = 256
    """Longest property key (UTF-8 bytes); a longer one refuses the call."""
    max_property_value_bytes: int = 2048
    """Longest short value (a property value, identifier, metadata string, feedback text);
    longer ones are cut and marked. The SDK cuts its values at 2,000 characters."""
    max_properties_per_session: int = 1_000
    """Most user, session and track properties one session keeps."""
    max_text_bytes: int = 64 * 1024
    """Longest long text (an error's message, stack trace or payload; the client config);
    longer ones are cut and marked."""
    max_items_per_call: int = 1_000
    """Most metrics, backend errors or recording domains in one call."""
    max_secure_id_chars: int = 64
    """Longest session secure id (letters, digits, `-` and `_`; the SDK's have 28)."""
    max_json_depth: int = 10_000
    """Deepest JSON nesting accepted (Go's encoding/json limit, which Highlight had)."""

    # Rates (see footlight.ingest.quotas): each is a sustained rate with a burst on top; a
    # rate of 0 turns that limit off. Bytes are request bodies as received.
    client_requests_per_second: float = 200.0
    """Ingest requests one client address may send, sustained (a NAT of ~200 tabs)."""
    client_request_burst: float = 1_000.0
    client_bytes_per_second: int = 4 * MiB
    """Request bytes one client address may send, sustained."""
    client_byte_burst: int = 64 * MiB
    client_new_sessions_per_second: float = 2.0
    """Sessions one client address may start, sustained (each tab is a session)."""
    client_new_session_burst: float = 120.0
    session_requests_per_second: float = 10.0
    """Requests one session may make, sustained (the SDK pushes every 2 s)."""
    session_request_burst: float = 100.0
    session_bytes_per_second: int = 1 * MiB
    """Request bytes one session may send, sustained."""
    session_byte_burst: int = 64 * MiB
    """Enough for a largest-possible push and the SDK's three retries of it."""
    max_session_bytes: int = 1024 * MiB
    """A session stores at most this many payload bytes; later pushes are refused."""
    project_requests_per_second: float = 5_000.0
    """Requests one project may receive per process, sustained."""
    project_request_burst: float = 20_000.0
    project_bytes_per_second: int = 64 * MiB
    project_byte_burst: int = 512 * MiB
    project_new_sessions_per_second: float = 1_000.0
    project_new_session_burst: float = 10_000.0
    max_tracked_keys: int = 50_000
    """Clients, sessions and projects whose rates one process remembers (each a bounded LRU)."""
    quota_sync_seconds: float = 2.0
    """How often a process adds its usage counters to the store and reads the totals back."""
    max_events_per_payload: int = 100_000
    """Most rrweb events (and, separately, console messages, resources, websocket events and
    errors) in one payload; the SDK's pushes carry tens to a few thousand."""
    max_backend_services: int = 100
    """Backend services listed per project (first and last seen); further services' exports
    are kept as usual, only not listed."""
    min_free_disk_bytes: int = 64 * MiB
    """Below this much free space on the file system of the SQLite store, new sessions are
    refused (503 LOW_DISK) while sessions recording go on (footlight.ingest.disk); 0: never."""
    refusals_kept: int = 1_000
    """Ids of projects this server lacks whose refused requests the store keeps for the setup
    page, the most recently refused; each process also counts at most this many between two
    writes. A real project's refusals (by reason) are bounded by its codes and always kept."""
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
    live_delay_seconds: float | None = 0.5
    """A recording session's console, network, errors, pages and summary are derived this
    long after the first payload since the last such run (footlight.processing.live); None
    (`off`) leaves them to the finished session's processing."""
    live_followed_sessions: int = 2_000
    """Live sessions whose derivation state each process keeps between runs (replay metrics
    and counts, not rows); one it no longer keeps is read again up to where it was, on every
    run, so this should cover the sessions recording at once. Each is ~21 objects that a full
    garbage collection walks: measured, a full collection takes ~2 ms with 2,000 kept and
    ~24 ms with 10,000 (a pause of the event loop)."""
    live_followed_bytes: int = 64 * MiB
    """What that state may weigh in all: ~4 KB a session, plus ~8 bytes per user-interaction
    event (up to ~4 MB for one session under max_activity_events_per_session)."""
    live_share: float = 0.35
    """The most of the processing loop's time live runs take (0 < share <= 1): after each,
    the loop waits (1 / share - 1) times as long as the run took. Under load live panes then
    fall further behind instead of taking the cores from ingest; a run takes milliseconds,
    so when little is recording the wait is not seen beside the 0.5 s live delay."""
    live_quiet_seconds: float = 15.0
    """A recording with no new input for this long is no longer shown as live."""
    follow_wait_seconds: float = 20.0
    """Longest a request following a live recording (`follow=1`) waits for new events."""
    max_followers: int = 100
    """Requests waiting for a live recording's next events at once, per process."""
    asset_capture: bool = True
    """Whether projects that list asset origins have their recordings' assets fetched and kept
    (footlight.processing.assets); `off` stops all capture, whatever projects list."""
    asset_delay_seconds: float = 2.0
    """A session's assets are looked for this long after the first payload since the last
    look (soon: the page's stylesheets are what it had when it was recorded)."""
    asset_allow_networks: tuple[Network, ...] = ()
    """Addresses asset capture may fetch from although they are private, loopback, link-local
    or otherwise not public (nothing by default: an allowed origin's name that resolves to
    one is refused)."""
    asset_max_bytes: int = 10 * MiB
    """Largest asset kept; a larger one is recorded as failed, having read no more than this."""
    asset_max_session_bytes: int = 100 * MiB
    """Asset bytes one session may link; past it the rest of its URLs are skipped."""
    asset_max_urls: int = 1000
    """URLs one session records (stored, failed or skipped); the rest are only counted."""
    asset_fetch_timeout_seconds: float = 10.0
    """Longest one asset's fetch may take, redirects included."""
    asset_fetch_concurrency: int = 4
    """Asset fetches in flight at once, per process."""
    asset_session_fetch_seconds: float = 120.0
    """Longest one run of a session's capture spends fetching; its other URLs are skipped."""
    asset_refetch_seconds: float = 600.0
    """A URL another session of the project stored this recently is linked, not fetched."""
    replay_external: str = "auto"
    """Whether a replay may load anything from other sites: `block` (the player's frame
    loads styles, fonts and images from footlight only), `allow`, or `auto` (block for
    sessions of projects that capture assets, allow otherwise)."""
    processing_poll_seconds: float = 1.0
    """Longest processing sleeps when no job is due. Work this process's ingest queues wakes
    it at once (or when it falls due); work queued by other processes sharing the store, and
    retries, are found by looking again this often."""
    workers: int = 1
    """Server processes sharing the port (and the store)."""
    graphql_fast_path: bool = True
    """Whether the SDK's own documents are run without graphql-core's executor
    (footlight.graph.fast_path); `off` runs every request through graphql-core."""
    otlp_grpc_port: int | None = 4317
    """Port of the OTLP/gRPC receiver on `host` (0 picks a free one); None turns it off."""
    trusted_proxies: tuple[Network, ...] = ()
    """Reverse proxies whose `X-Forwarded-For` names the client (see edge.clients)."""
    ingest_threads: int = 2
    """Worker threads that decode large request bodies and payloads, off the event loop."""
    commit_gather_seconds: float | None = 0.008
    """Under load (a group commit of `commit_gather_from` writes or more), how long the next
    commit waits from its first write for more to share it
    (footlight.store.sql.engine.Writer); None (`off`) never waits. Fewer, larger commits cost
    less CPU per write: less for the commits themselves, and the writer and the event loop
    take turns instead of passing the interpreter lock back and forth."""
    commit_gather_from: int = 8
    """The group commit size that counts as load: after one of this many writes or more, the
    next commit gathers for `commit_gather_seconds`. Lower gathers at lower loads too: less
    CPU per write there (far fewer commits, each writing its pages to the log once for
    several writes), for that wait on every write while the load lasts."""
    read_timeout_seconds: float = 10.0
    """Longest one SQL statement of an operator read (read API, UI) may run before it is
    stopped; the request gets 503. Ingest and processing reads are not limited by it."""
    metrics_allow: tuple[Network, ...] = LOOPBACK
    """Client addresses served `GET /metrics` without a token (edge.scrape); empty: none."""
    metrics_token: str | None = None
    """A bearer token that lets any client read `GET /metrics`; None: no token works."""
    log_format: str = "text"
    """How the server writes its log: `text` (for people) or `json` (one object a line)."""
    log_level: str = "info"
    """The least severe records the server logs: debug, info, warning or error."""
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


def _rate(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"must be a number of at least 0 (0 turns the limit off), got {text!r}")
    return value


def _byte_rate(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(
            f"must be a whole number of at least 0 (0 turns the limit off), got {text!r}"
        )
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError(f"must be a positive number, got {text!r}")
    return value


def _optional_seconds(text: str) -> float | None:
    """Seconds (0 or more), or `off` (or nothing) for none."""
    if text.strip().lower() in ("", "off"):
        return None
    value = float(text)
    if not 0 <= value < float("inf"):
        raise ValueError(f"must be a number of seconds (0 or more) or off, got {text!r}")
    return value


def _gather_seconds(text: str) -> float | None:
    """A commit's gathering time: `off`, or 0 to 1 s (after each busy batch every write
    waits it: an hour would stall ingest for an hour)."""
    value = _optional_seconds(text)
    if value is not None and value > 1:
        raise ValueError(f"must be at most 1 second (or off), got {text!r}")
    return value


def _gather_from(text: str) -> int:
    """A group commit size that counts as load: 1 (every commit's next one gathers) to 256
    (the most writes a batch takes)."""
    value = int(text)
    if not 1 <= value <= 256:
        raise ValueError(f"must be a whole number from 1 to 256, got {text!r}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise ValueError(f"must be a share above 0 and at most 1, got {text!r}")
    return value


def _at_least(minimum: int) -> Callable[[str], int]:
    """An integer setting below which footlight could not work (or the SDK be served)."""

    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {text!r}")
        return value

    return parse


def _json_depth(text: str) -> int:
    value = int(text)
    if not 100 <= value <= MAX_JSON_DEPTH:
        raise ValueError(f"must be between 100 and {MAX_JSON_DEPTH}, got {text!r}")
    return value


def parse_store_url(text: str) -> str | None:
    if not text:
        return None
    if not text.startswith(("postgresql://", "postgres://")):
        raise ValueError("must be a postgresql:// URL (or unset for the embedded SQLite store)")
    return text


def _show_networks(networks: tuple[Network, ...]) -> str:
    return ",".join(
        str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in networks
    )


def parse_port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise ValueError(f"must be a TCP port (0-65535), got {text!r}")
    return value


def parse_optional_port(text: str) -> int | None:
    """A port, or `off` (or nothing) for a listener that is not wanted."""
    if text.strip().lower() in ("", "off"):
        return None
    try:
        return parse_port(text)
    except ValueError:
        raise ValueError(f"must be a TCP port (0-65535) or off, got {text!r}") from None


def _networks(text: str) -> tuple[Network, ...]:
    """Addresses or networks, comma-separated; `none` (or nothing) for none."""
    if text.strip().lower() in ("", "none", "off"):
        return ()
    return parse_trusted_proxies(text)


def _token(text: str) -> str | None:
    if not text:
        return None
    if len(text) < 16 or any(c.isspace() for c in text):
        raise ValueError("must be at least 16 characters, without spaces")
    return text


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A setting that takes one of `choices` (any case)."""

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {text!r}")
        return value

    return parse


def _on_off(text: str) -> bool:
    value = text.strip().lower()
    if value not in ("on", "off"):
        raise ValueError(f"must be on or off, got {text!r}")
    return value == "on"


def _show_on_off(value: bool) -> str:
    return "on" if value else "off"


def _show_optional(value: str | None) -> str:
    return "" if value is None else value


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
        "FOOTLIGHT_GRAPHQL_FAST_PATH",
        "graphql_fast_path",
        _on_off,
        "on: the SDK's own documents skip graphql-core's executor (same answers); off: none do.",
        show=_show_on_off,
    ),
    SettingSpec(
        "FOOTLIGHT_OTLP_GRPC_PORT",
        "otlp_grpc_port",
        parse_optional_port,
        "Port of the OTLP/gRPC receiver on the same host (0 picks a free one; off: none).",
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
        "FOOTLIGHT_METRICS_ALLOW",
        "metrics_allow",
        _networks,
        "Client addresses or networks (comma-separated; none: no one) served GET /metrics"
        " without a token.",
        show=_show_networks,
    ),
    SettingSpec(
        "FOOTLIGHT_METRICS_TOKEN",
        "metrics_token",
        _token,
        "A bearer token (16+ characters) with which any client may read GET /metrics.",
        show=_show_optional,
    ),
    SettingSpec(
        "FOOTLIGHT_LOG_FORMAT",
        "log_format",
        _one_of(LOG_FORMATS),
        "The server's log: text (for people) or json (one object a line).",
    ),
    SettingSpec(
        "FOOTLIGHT_LOG_LEVEL",
        "log_level",
        _one_of(LOG_LEVELS),
        "The least severe log records written: debug, info, warning or error.",
    ),
    SettingSpec(
        "FOOTLIGHT_INGEST_THREADS",
        "ingest_threads",
        _positive_int,
        "Worker threads that decode large request bodies and payloads off the event loop.",
    ),
    SettingSpec(
        "FOOTLIGHT_SESSION_INACTIVITY_SECONDS",
        "session_inactivity_seconds",
        _positive_float,
        "Quiet time after which a session is finished and processed.",
    ),
    SettingSpec(
        "FOOTLIGHT_LIVE_DELAY_SECONDS",
        "live_delay_seconds",
        _optional_seconds,
        "Delay from a payload to its session's live console, network, errors and summary"
        " (off: only once the session is finished and processed).",
    ),
    SettingSpec(
        "FOOTLIGHT_LIVE_SHARE",
        "live_share",
        _share,
        "The most of the processing loop's time live runs take (above 0, at most 1).",
    ),
    SettingSpec(
        "FOOTLIGHT_LIVE_FOLLOWED_SESSIONS",
        "live_followed_sessions",
        _positive_int,
        "Live sessions whose derivation state a process keeps between runs.",
    ),
    SettingSpec(
        "FOOTLIGHT_LIVE_FOLLOWED_BYTES",
        "live_followed_bytes",
        _positive_int,
        "Bytes of live derivation state a process keeps between runs, in all.",
    ),
    SettingSpec(
        "FOOTLIGHT_LIVE_QUIET_SECONDS",
        "live_quiet_seconds",
        _positive_float,
        "A recording with no new input for this long is no longer shown as live.",
    ),
    SettingSpec(
        "FOOTLIGHT_FOLLOW_WAIT_SECONDS",
        "follow_wait_seconds",
        _positive_float,
        "Longest a request following a live recording (follow=1) waits for new events.",
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_FOLLOWERS",
        "max_followers",
        _positive_int,
        "Requests waiting for a live recording's next events at once, per process; then 429.",
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
        "FOOTLIGHT_COMMIT_GATHER_SECONDS",
        "commit_gather_seconds",
        _gather_seconds,
        "Under load, how long a group commit waits from its first write for more to share"
        " it (at most 1; off: never).",
    ),
    SettingSpec(
        "FOOTLIGHT_COMMIT_GATHER_FROM",
        "commit_gather_from",
        _gather_from,
        "A group commit of this many writes or more is load: the next one gathers (1-256).",
    ),
    SettingSpec(
        "FOOTLIGHT_READ_TIMEOUT_SECONDS",
        "read_timeout_seconds",
        _positive_float,
        "Longest one SQL statement of a read-API or UI request may run; then 503.",
    ),
    SettingSpec(
        "FOOTLIGHT_PROCESSING_MAX_ATTEMPTS",
        "processing_max_attempts",
        _positive_int,
        "Runs a processing job gets (crashes included) before it is quarantined.",
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_CAPTURE",
        "asset_capture",
        _on_off,
        "on: projects that list asset origins have their recordings' assets kept; off: none.",
        show=_show_on_off,
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_DELAY_SECONDS",
        "asset_delay_seconds",
        _rate,
        "Delay from a payload to the fetch of the assets it references.",
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_ALLOW_NETWORKS",
        "asset_allow_networks",
        _networks,
        "Private, loopback or link-local addresses asset capture may fetch from (none).",
        show=_show_networks,
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_MAX_BYTES",
        "asset_max_bytes",
        _positive_int,
        "Largest asset kept; larger ones are recorded as failed.",
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_MAX_SESSION_BYTES",
        "asset_max_session_bytes",
        _positive_int,
        "Asset bytes one session may link; then its other URLs are skipped.",
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_MAX_URLS",
        "asset_max_urls",
        _positive_int,
        "URLs one session records (stored, failed or skipped); the rest are only counted.",
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_FETCH_TIMEOUT_SECONDS",
        "asset_fetch_timeout_seconds",
        _positive_float,
        "Longest one asset's fetch may take, redirects included.",
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_FETCH_CONCURRENCY",
        "asset_fetch_concurrency",
        _positive_int,
        "Asset fetches in flight at once, per process.",
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_SESSION_FETCH_SECONDS",
        "asset_session_fetch_seconds",
        _positive_float,
        "Longest one run of a session's capture fetches; its other URLs are skipped.",
    ),
    SettingSpec(
        "FOOTLIGHT_ASSET_REFETCH_SECONDS",
        "asset_refetch_seconds",
        _rate,
        "A URL another session of the project stored this recently is linked, not fetched.",
    ),
    SettingSpec(
        "FOOTLIGHT_REPLAY_EXTERNAL",
        "replay_external",
        _one_of(REPLAY_EXTERNAL),
        "Replays load other sites' styles, fonts and images: block, allow, or auto (block"
        " for projects that capture assets).",
    ),
    SettingSpec(
        "FOOTLIGHT_PROCESSING_POLL_SECONDS",
        "processing_poll_seconds",
        _positive_float,
        "Longest processing waits to look for due jobs (work queued by this process wakes it"
        " at once).",
    ),
    SettingSpec(
        "FOOTLIGHT_MIN_FREE_DISK_BYTES",
        "min_free_disk_bytes",
        _byte_rate,
        "Below this much free space where the SQLite store is, new sessions get 503 LOW_DISK"
        " (0: never).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_REFUSALS_KEPT",
        "refusals_kept",
        _positive_int,
        "Unknown project ids whose refused requests the setup page keeps, newest first.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_CONNECTIONS",
        "max_connections",
        _positive_int,
        "Open connections per process (also kept below the open-file limit); the longest-idle"
        " one is closed to make room.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_CONNECTIONS_PER_CLIENT",
        "max_connections_per_client",
        _positive_int,
        "Open connections per client address; its longest-idle one makes room, else 429.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_HEADER_TIMEOUT_SECONDS",
        "header_timeout_seconds",
        _positive_float,
        "Time allowed to send a complete request head; slower clients get 408.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_HEADER_BYTES",
        "max_header_bytes",
        _positive_int,
        "Longest request head (request line and headers); longer ones get 431.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_KEEP_ALIVE_SECONDS",
        "keep_alive_seconds",
        _positive_float,
        "A kept-alive connection idle for this long is closed.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_BODY_BYTES",
        "max_body_bytes",
        _positive_int,
        "Largest request body; larger ones get 413.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_BUFFERED_BODY_BYTES",
        "max_buffered_body_bytes",
        _positive_int,
        "Request-body bytes held in memory at once, all clients together; more get 503.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_BUFFERED_BODY_BYTES_PER_CLIENT",
        "max_buffered_body_bytes_per_client",
        _positive_int,
        "Request-body bytes held in memory at once for one client address; more get 429.",
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
        "FOOTLIGHT_MAX_GRPC_EXPORTS",
        "max_grpc_exports",
        _positive_int,
        "OTLP/gRPC exports worked on at once; more get RESOURCE_EXHAUSTED (retried).",
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
        "FOOTLIGHT_MAX_PROPERTIES_PER_CALL",
        "max_properties_per_call",
        _positive_int,
        "Most keys in one user or properties object, or tags of one metric.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_PROPERTY_KEY_BYTES",
        "max_property_key_bytes",
        _positive_int,
        "Longest property key (UTF-8 bytes); a longer one refuses the call.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_PROPERTY_VALUE_BYTES",
        "max_property_value_bytes",
        _at_least(64),
        "Longest short value (property, identifier, metadata, feedback); longer is cut.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_PROPERTIES_PER_SESSION",
        "max_properties_per_session",
        _positive_int,
        "Most user, session and track properties one session keeps.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_TEXT_BYTES",
        "max_text_bytes",
        _at_least(64),
        "Longest error message, stack trace, error payload or client config; longer is cut.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_ITEMS_PER_CALL",
        "max_items_per_call",
        _positive_int,
        "Most metrics, backend errors or recording domains in one call.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_SECURE_ID_CHARS",
        "max_secure_id_chars",
        _at_least(28),
        "Longest session secure id (letters, digits, - and _).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_JSON_DEPTH",
        "max_json_depth",
        _json_depth,
        "Deepest JSON nesting accepted in payloads and requests.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_CLIENT_REQUESTS_PER_SECOND",
        "client_requests_per_second",
        _rate,
        "Ingest requests per second one client address may send, sustained (0: no limit).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_CLIENT_REQUEST_BURST",
        "client_request_burst",
        _positive_float,
        "Requests one client address may send at once above its rate.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_CLIENT_BYTES_PER_SECOND",
        "client_bytes_per_second",
        _byte_rate,
        "Request bytes per second one client address may send, sustained (0: no limit).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_CLIENT_BYTE_BURST",
        "client_byte_burst",
        _positive_int,
        "Request bytes one client address may send at once above its rate.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_CLIENT_NEW_SESSIONS_PER_SECOND",
        "client_new_sessions_per_second",
        _rate,
        "Sessions per second one client address may start, sustained (0: no limit).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_CLIENT_NEW_SESSION_BURST",
        "client_new_session_burst",
        _positive_float,
        "Sessions one client address may start at once above its rate.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_SESSION_REQUESTS_PER_SECOND",
        "session_requests_per_second",
        _rate,
        "Requests per second one session may make, sustained (0: no limit).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_SESSION_REQUEST_BURST",
        "session_request_burst",
        _positive_float,
        "Requests one session may make at once above its rate.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_SESSION_BYTES_PER_SECOND",
        "session_bytes_per_second",
        _byte_rate,
        "Request bytes per second one session may send, sustained (0: no limit).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_SESSION_BYTE_BURST",
        "session_byte_burst",
        _positive_int,
        "Request bytes one session may send at once above its rate.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_SESSION_BYTES",
        "max_session_bytes",
        _positive_int,
        "Most payload bytes one session stores; later pushes are refused.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_PROJECT_REQUESTS_PER_SECOND",
        "project_requests_per_second",
        _rate,
        "Requests per second one project may receive per process, sustained (0: no limit).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_PROJECT_REQUEST_BURST",
        "project_request_burst",
        _positive_float,
        "Requests one project may receive at once above its rate.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_PROJECT_BYTES_PER_SECOND",
        "project_bytes_per_second",
        _byte_rate,
        "Request bytes per second one project may receive per process, sustained (0: no limit).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_PROJECT_BYTE_BURST",
        "project_byte_burst",
        _positive_int,
        "Request bytes one project may receive at once above its rate.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_PROJECT_NEW_SESSIONS_PER_SECOND",
        "project_new_sessions_per_second",
        _rate,
        "Sessions per second one project may start per process, sustained (0: no limit).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_PROJECT_NEW_SESSION_BURST",
        "project_new_session_burst",
        _positive_float,
        "Sessions one project may start at once above its rate.",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_MAX_TRACKED_KEYS",
        "max_tracked_keys",
        _positive_int,
        "Client addresses, sessions and projects whose rates a process remembers (each).",
        in_limits=True,
    ),
    SettingSpec(
        "FOOTLIGHT_QUOTA_SYNC_SECONDS",
        "quota_sync_seconds",
        _positive_float,
        "How often a process adds its usage to the store and reads the daily totals back.",
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
        "FOOTLIGHT_MAX_BACKEND_SERVICES",
        "max_backend_services",
        _positive_int,
        "Backend services listed per project (first and last seen).",
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


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    given: Mapping[str, Any] | None = None,
) -> Settings:
    """Defaults, overlaid by environment variables, overlaid by explicit (command-line) values.

    `overrides` maps attribute names to already-typed values; `None` values are ignored so
    that an unset command-line flag falls through to the environment. `given` values are
    taken as they are, None included (a flag's `off`).
    """
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    overrides.update(given or {})
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
