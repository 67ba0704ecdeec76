"""One network timeline of a session from the two ways the SDK reports requests."""

from __future__ import annotations

from dataclasses import asdict

from footlight.processing.records import NetworkRequest


def merge_network(requests: list[NetworkRequest]) -> list[NetworkRequest]:
    """One timeline from the SDK's resource timings and its OTLP spans.

    highlight.run reports most requests twice: as a resource in the replay payload (with
    headers and bodies when recorded) and as an OTLP span. A span is folded into the
    resource with its trace id, or else with its URL and a start within a second; spans
    that match nothing (the only record, for SDKs that send network over OTLP alone) stay.
    """
    resources = [r for r in requests if r.source == "payload"]
    by_trace = {r.trace_id: i for i, r in enumerate(resources) if r.trace_id}
    merged = list(resources)
    taken: set[int] = set()
    for span in (r for r in requests if r.source != "payload"):
        index = by_trace.get(span.trace_id) if span.trace_id else None
        if index is None:
            index = next(
                (
                    i
                    for i, r in enumerate(resources)
                    if i not in taken and r.url == span.url and abs(r.start - span.start) < 1000
                ),
                None,
            )
        if index is None:
            merged.append(span)
            continue
        taken.add(index)
        resource = merged[index]
        merged[index] = NetworkRequest(
            **{
                **asdict(resource),
                "trace_id": span.trace_id,
                "span_id": span.span_id,
                "method": resource.method or span.method,
                "status": resource.status or span.status,
            }
        )
    return sorted(merged, key=lambda r: r.start)
