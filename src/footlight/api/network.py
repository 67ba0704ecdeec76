"""One network timeline of a session from the two ways the SDK reports requests, read a page
at a time."""

from __future__ import annotations

import bisect
from dataclasses import asdict

from footlight.core.records import NetworkRequest
from footlight.store.base import Page, ReadStore, TimelineKey

MERGE_WINDOW_MS = 1000
"""A span and a resource with the same URL that start less than this apart are one request."""
CONTEXT_ROWS = 200
"""Rows read on each side of a page for the merge (see `network_page`)."""

Keyed = tuple[TimelineKey, NetworkRequest]


def merge_network(rows: list[Keyed]) -> list[Keyed]:
    """One timeline from the SDK's resource timings and its OTLP spans, in time order.

    highlight.run reports most requests twice: as a resource in the replay payload (with
    headers and bodies when recorded) and as an OTLP span. A span is folded into the
    resource with its trace id, or else into the first resource not yet taken with its URL
    and a start less than `MERGE_WINDOW_MS` away; spans that match nothing (the only record,
    for SDKs that send network over OTLP alone) stay. Each row keeps the key of the row it
    stands for: a folded pair, its resource's. Candidates are found by URL and start
    (bisect), so the merge is linear in the rows, not quadratic.
    """
    resources = [(key, r) for key, r in rows if r.source == "payload"]
    by_trace = {r.trace_id: i for i, (_, r) in enumerate(resources) if r.trace_id}
    by_url: dict[str, list[tuple[float, int]]] = {}
    for i, (_, r) in enumerate(resources):
        by_url.setdefault(r.url, []).append((r.start, i))
    for starts in by_url.values():
        starts.sort()
    merged = list(resources)
    taken: set[int] = set()
    for key, span in ((k, r) for k, r in rows if r.source != "payload"):
        index = by_trace.get(span.trace_id) if span.trace_id else None
        if index is None:
            index = _nearby(by_url.get(span.url, []), span.start, taken)
        if index is None:
            merged.append((key, span))
            continue
        taken.add(index)
        resource_key, resource = merged[index]
        merged[index] = (
            resource_key,
            NetworkRequest(
                **{
                    **asdict(resource),
                    "trace_id": span.trace_id,
                    "span_id": span.span_id,
                    "method": resource.method or span.method,
                    "status": resource.status or span.status,
                }
            ),
        )
    return sorted(merged, key=lambda keyed: keyed[1].start)


def _nearby(starts: list[tuple[float, int]], start: float, taken: set[int]) -> int | None:
    """The first resource (by start, then order) within the window of `start` not yet taken."""
    position = bisect.bisect_right(starts, start - MERGE_WINDOW_MS, key=lambda entry: entry[0])
    for resource_start, index in starts[position:]:
        if resource_start - start >= MERGE_WINDOW_MS:
            return None
        if index not in taken and abs(resource_start - start) < MERGE_WINDOW_MS:
            return index
    return None


async def network_page(
    store: ReadStore, secure_id: str, after: TimelineKey | None, limit: int
) -> Page[NetworkRequest]:
    """A page of the merged network timeline: the stored rows (resources and spans) after
    `after`, `limit` of them, merged.

    The rows within `MERGE_WINDOW_MS` on both sides of the page (up to `CONTEXT_ROWS` each)
    are merged with it but not shown: a span whose resource is on the next page is shown
    there, folded into it, and not here. So every request appears once, on the page of its
    resource (or its own, alone), and a page may show fewer than `limit` requests; the next
    page starts after the page's last stored row. (Only a burst of more than `CONTEXT_ROWS`
    requests within `MERGE_WINDOW_MS` of a page boundary can leave a pair unmerged there.)
    """
    window = await store.network_window(secure_id, after, limit, MERGE_WINDOW_MS, CONTEXT_ROWS)
    shown = {key for key, _ in window.page}
    merged = merge_network([*window.before, *window.page, *window.after])
    return Page(
        [r for key, r in merged if key in shown],
        window.page[-1][0] if window.more else None,
    )
