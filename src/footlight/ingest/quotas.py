"""Rate limits and quotas: how much one client, one session or one project may make footlight
store, and the 429s that say no.

The ingest routes are public, so anyone can send what a browser sends, as fast as they like:
one client pushing one 11.5 MiB payload under new payload ids made a footlight store 56 MiB/s.
Like Sentry's Relay and PostHog's capture, footlight meters what arrives by who sent it and
refuses the excess with `429 Too Many Requests` and `Retry-After`, before it inflates,
validates or writes anything, so a refusal costs little and never leaves half a write.

What is metered (every limit is a setting, see `config.Limits`):

* per **client** address (`edge.clients.client_key`: the TCP peer, or `X-Forwarded-For` from
  a trusted proxy; IPv6 per /64): requests and request bytes of every ingest route, checked
  by the edge before a body is parsed, and sessions started;
* per **session**: requests and request bytes, and a cap on the payload bytes it stores
  (`max_session_bytes`), which bounds a session however long it lives;
* per **project**: requests, request bytes and sessions started, per process;
* per project and UTC day, optionally: request bytes and sessions (`footlight project
  update PROJECT --quota-...`), shared by every process (below).

Rates are token buckets with a sustained rate and a burst, kept as GCRA's one number per
bucket: the time at which the bucket would be full again (its "theoretical arrival time").
A request of cost c is admitted when the bucket holds c (a request larger than the burst
needs a full bucket, so no request is refused forever), and moves that time c/rate later;
the wait until it would be admitted is exact, and is what `Retry-After` says. A refused
request costs its buckets nothing. A request checks every bucket it touches before
charging any, so it is admitted by all or by none. Buckets live in memory, per process, in
LRU maps of at most `max_tracked_keys` keys each (strangers make new keys at will: new
addresses, session ids); an evicted key starts again with a full bucket, which is the state
it would reach by itself once idle. Rates are per process: with FOOTLIGHT_WORKERS=N, or N
nodes behind a load balancer, a client can get up to N times a rate, if its requests are
spread over all of them.

Daily quotas must hold across nodes, so they are counted in the store, off the hot path
(`footlight.ingest.daily_quotas`).

What the SDKs do with a 429 decided the answers. highlight.run retries a failed GraphQL
request three times (1.5, 2, 3 s later, ignoring Retry-After), except when the error's
message is exactly `BillingQuotaExceeded`: that payload is dropped at once. So short-term
rates answer `RATE_LIMITED` with a message saying which limit (the retry may well pass),
and limits that will not clear for hours (a daily quota, a full session) answer
`QUOTA_EXCEEDED` with the message `BillingQuotaExceeded` and the explanation in
`extensions.detail`. OTLP exporters retry 429 after `Retry-After`.

Refusals are counted per project (a per-client refusal, made before the request is read,
counts against the project that client last sent to, else project 0) and logged, at most
once a minute per limit and client, session or project.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict
from collections.abc import Hashable

from footlight.config import Limits
from footlight.errors import (
    QuotaExceeded,
    RateLimited,
    Refused,
    shown,
)
from footlight.ingest.daily_quotas import DAY_SECONDS, Ticket, Usage
from footlight.store.base import IngestStore

log = logging.getLogger("footlight.limits")

UNATTRIBUTED = 0
"""The project under which refusals are counted when no project is known."""
SESSION_FULL_RETRY_AFTER = DAY_SECONDS
"""What `Retry-After` says for a full session, which never accepts more: a day."""

# What a bucket meters, by position in a Tracked's `tats`.
REQUESTS, BYTES, SESSIONS = 0, 1, 2


class Rate:
    """A sustained rate (0: no limit) with a burst above it, named by its setting."""

    __slots__ = ("burst", "interval", "per_second", "setting", "unit")

    def __init__(self, setting: str, per_second: float, burst: float, unit: str) -> None:
        self.setting = setting
        self.per_second = per_second
        self.burst = burst
        self.unit = unit
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        """Seconds one unit takes to refill; 0 when the limit is off."""

    def describe(self) -> str:
        return (
            f"{_number(self.per_second)} {self.unit} per second (bursts of"
            f" {_number(self.burst)}) (limit: {self.setting})"
        )


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:g}"


class Tracked:
    """What a process remembers about one client, session or project."""

    __slots__ = ("project", "stored_bytes", "tats")

    def __init__(self, size: int, project: int = UNATTRIBUTED, stored_bytes: int = 0) -> None:
        self.tats = [0.0] * size
        """Per rate, the time (monotonic) at which its bucket is full again."""
        self.project = project
        """A session's project; the project a client last sent to."""
        self.stored_bytes = stored_bytes
        """A session's stored payload bytes, as far as this process knows (never more than
        the store's count, which is the one the cap is enforced on)."""


class Scope:
    """The rates of one kind of key (clients, sessions, projects) and the state of its keys,
    in an LRU map of bounded size."""

    def __init__(self, noun: str, rates: tuple[Rate, ...], capacity: int) -> None:
        self.noun = noun
        self.rates = rates
        self.capacity = capacity
        self._tracked: OrderedDict[Hashable, Tracked] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tracked)

    def get(self, key: Hashable) -> Tracked | None:
        tracked = self._tracked.get(key)
        if tracked is not None:
            self._tracked.move_to_end(key)
        return tracked

    def peek(self, key: Hashable) -> Tracked | None:
        """Like `get`, without counting as a use."""
        return self._tracked.get(key)

    def add(self, key: Hashable, project: int = UNATTRIBUTED, stored_bytes: int = 0) -> Tracked:
        tracked = Tracked(len(self.rates), project, stored_bytes)
        self._tracked[key] = tracked
        self._tracked.move_to_end(key)
        if len(self._tracked) > self.capacity:
            self._tracked.popitem(last=False)
        return tracked

    def tracked(self, key: Hashable) -> Tracked:
        return self.get(key) or self.add(key)

    def forget(self, key: Hashable) -> None:
        self._tracked.pop(key, None)


Charge = tuple[Scope, Hashable, Tracked, int, float]
"""(scope, key, its state, which rate, cost): one bucket a request draws from."""


class _RefusalLog:
    """Logs refusals without letting an abusive client flood the log: the first refusal of a
    (limit, who) pair, then at most one line a minute with how many followed."""

    def __init__(self, interval: float = 60.0, capacity: int = 1024) -> None:
        self._interval = interval
        self._capacity = capacity
        self._seen: OrderedDict[tuple[str, str], list[float]] = OrderedDict()

    def note(self, limit: str, who: str, message: str) -> None:
        now = time.monotonic()
        key = (limit, who)
        seen = self._seen.get(key)
        if seen is not None and now - seen[0] < self._interval:
            seen[1] += 1
            return
        more = f" ({seen[1]:.0f} more refused since the last report)" if seen and seen[1] else ""
        log.warning("429 %s: %s%s", limit, message, more)
        self._seen[key] = [now, 0]
        self._seen.move_to_end(key)
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)


class Limiter:
    """Every limit of one process; ingest and the edge ask it before doing any work."""

    def __init__(self, limits: Limits, store: IngestStore) -> None:
        capacity = limits.max_tracked_keys
        self.max_session_bytes = limits.max_session_bytes
        self.clients = Scope(
            "client",
            (
                Rate(
                    "client_requests_per_second",
                    limits.client_requests_per_second,
                    limits.client_request_burst,
                    "requests",
                ),
                Rate(
                    "client_bytes_per_second",
                    limits.client_bytes_per_second,
                    limits.client_byte_burst,
                    "bytes",
                ),
                Rate(
                    "client_new_sessions_per_second",
                    limits.client_new_sessions_per_second,
                    limits.client_new_session_burst,
                    "new sessions",
                ),
            ),
            capacity,
        )
        self.sessions = Scope(
            "session",
            (
                Rate(
                    "session_requests_per_second",
                    limits.session_requests_per_second,
                    limits.session_request_burst,
                    "requests",
                ),
                Rate(
                    "session_bytes_per_second",
                    limits.session_bytes_per_second,
                    limits.session_byte_burst,
                    "bytes",
                ),
            ),
            capacity,
        )
        self.projects = Scope(
            "project",
            (
                Rate(
                    "project_requests_per_second",
                    limits.project_requests_per_second,
                    limits.project_request_burst,
                    "requests",
                ),
                Rate(
                    "project_bytes_per_second",
                    limits.project_bytes_per_second,
                    limits.project_byte_burst,
                    "bytes",
                ),
                Rate(
                    "project_new_sessions_per_second",
                    limits.project_new_sessions_per_second,
                    limits.project_new_session_burst,
                    "new sessions",
                ),
            ),
            capacity,
        )
        self.usage = Usage(store, limits.quota_sync_seconds)
        self._log = _RefusalLog()

    # -- the edge: before a request is parsed ------------------------------------------------

    def admit_client(self, client: str, size: int) -> None:
        """A request of `size` bytes from `client` (any ingest route); raises RateLimited."""
        tracked = self.clients.tracked(client)
        self._charge(
            [
                (self.clients, client, tracked, REQUESTS, 1.0),
                (self.clients, client, tracked, BYTES, float(size)),
            ],
            tracked.project,
            size,
        )

    def note_project(self, client: str, project: int) -> None:
        """Which project `client` sends to, to count its per-client refusals against."""
        tracked = self.clients.peek(client)
        if tracked is not None:
            tracked.project = project

    # -- ingest: once the session or project is known ------------------------------------------

    def admit_session_request(
        self, secure_id: str, session: Tracked, size: int, stored: int = 0
    ) -> Ticket:
        """A request of a known session (a push, identify, properties, feedback) of `size`
        request bytes, that would store `stored` payload bytes."""
        project = session.project
        if stored and session.stored_bytes + stored > self.max_session_bytes:
            raise self.session_full(secure_id, session, stored)
        project_tracked = self.projects.tracked(project)
        charges: list[Charge] = [
            (self.sessions, secure_id, session, REQUESTS, 1.0),
            (self.sessions, secure_id, session, BYTES, float(size)),
            (self.projects, project, project_tracked, REQUESTS, 1.0),
            (self.projects, project, project_tracked, BYTES, float(size)),
        ]
        ticket = self._quota(project, size, 0)
        try:
            self._charge(charges, project, size)
        except RateLimited:
            ticket.cancel()
            raise
        return ticket

    def admit_init(
        self, client: str, project: int, secure_id: str, session: Tracked | None, size: int
    ) -> Ticket:
        """initializeSession; `session` is None if it starts a new one."""
        self.note_project(client, project)
        project_tracked = self.projects.tracked(project)
        charges: list[Charge] = [
            (self.projects, project, project_tracked, REQUESTS, 1.0),
            (self.projects, project, project_tracked, BYTES, float(size)),
        ]
        if session is not None:
            charges.append((self.sessions, secure_id, session, REQUESTS, 1.0))
        else:
            client_tracked = self.clients.tracked(client)
            charges.append((self.clients, client, client_tracked, SESSIONS, 1.0))
            charges.append((self.projects, project, project_tracked, SESSIONS, 1.0))
        ticket = self._quota(project, size, 1 if session is None else 0)
        try:
            self._charge(charges, project, size)
        except RateLimited:
            ticket.cancel()
            raise
        return ticket

    def session_full(self, secure_id: str, session: Tracked, size: int) -> QuotaExceeded:
        """The refusal of `size` more payload bytes for a session at its cap (counted, logged)."""
        refusal = QuotaExceeded(
            f"session {shown(secure_id)} stores {session.stored_bytes} payload bytes; {size}"
            f" more would pass {self.max_session_bytes} (limit: max_session_bytes). It accepts"
            " no more payloads; the SDK starts a new session after 4 hours, or 15 minutes"
            " without a push",
            "max_session_bytes",
            SESSION_FULL_RETRY_AFTER,
        )
        self._refused(refusal, session.project, size, f"session {shown(secure_id)}")
        return refusal

    # -- shared ----------------------------------------------------------------------------

    def _quota(self, project: int, size: int, sessions: int) -> Ticket:
        try:
            return self.usage.admit(project, size, sessions)
        except QuotaExceeded as refusal:
            self._refused(refusal, project, size, f"project {project}")
            raise

    def _charge(self, charges: list[Charge], project: int, size: int) -> None:
        """Admit a request by every bucket in `charges` and draw from each, or refuse it (the
        longest wait wins) and draw from none.

        Per bucket: full again at `tat`, it holds (burst - (tat - now) * rate); a request
        of cost c is admitted when that is at least min(c, burst), and moves `tat` c / rate
        later. A full bucket (tat <= now) admits anything, which is the common case.
        """
        now = time.monotonic()
        worst = 0.0
        refusing: Charge | None = None
        for charge in charges:
            index = charge[3]
            tat = charge[2].tats[index]
            if tat > now:
                rate = charge[0].rates[index]
                if rate.interval:
                    cost = charge[4]
                    need = cost if cost < rate.burst else rate.burst
                    wait = tat - now - (rate.burst - need) * rate.interval
                    if wait > worst:
                        worst, refusing = wait, charge
        if refusing is not None:
            scope, key, _tracked, index, _cost = refusing
            rate = scope.rates[index]
            who = self._who(scope, key)
            refusal = RateLimited(
                f"{who} sends more than {rate.describe()}; try again in {math.ceil(worst)} s",
                rate.setting,
                worst,
            )
            self._refused(refusal, project, size, who)
            raise refusal
        for scope, _key, tracked, index, cost in charges:
            interval = scope.rates[index].interval
            if interval:
                tats = tracked.tats
                tat = tats[index]
                tats[index] = (tat if tat > now else now) + cost * interval

    @staticmethod
    def _who(scope: Scope, key: Hashable) -> str:
        if scope.noun == "session":
            return f"session {shown(key)}"
        return f"{scope.noun} {key}"

    def _refused(self, refusal: Refused, project: int, size: int, who: str) -> None:
        self.usage.refused(project, refusal.limit, size)
        detail = refusal.detail if isinstance(refusal, QuotaExceeded) else refusal.message
        self._log.note(refusal.limit, who, detail)
