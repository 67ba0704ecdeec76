"""How a session's resources and OTLP spans become one network timeline (a pure function;
its paging over HTTP is in test_timelines.py).

Proven here: a span is folded into the resource with its trace id, or else into the first
resource not yet taken with its URL and a start less than a second away; the folded pair
keeps the resource's key and gains the span's ids; a span that matches nothing stays, with
its own key; the result is in time order.
"""

from __future__ import annotations

from footlight.api.network import merge_network
from footlight.core.records import NetworkRequest


def resource(start: float, url: str, trace: str | None = None) -> NetworkRequest:
    return NetworkRequest(start, start + 10, None, url, None, "fetch", trace_id=trace)


def span(start: float, url: str, trace: str) -> NetworkRequest:
    return NetworkRequest(
        start, start + 10, "GET", url, 200, "client", trace_id=trace, span_id="s-" + trace,
        source="otlp",
    )  # fmt: skip


def keyed(*requests: NetworkRequest) -> list[tuple[tuple[float, int], NetworkRequest]]:
    return [((r.start, i), r) for i, r in enumerate(requests)]


def test_a_span_joins_its_resource_by_trace_id_whatever_its_url() -> None:
    merged = merge_network(keyed(resource(0, "/a", "t1"), span(5000, "/elsewhere", "t1")))
    assert [(key, r.url, r.span_id, r.method, r.status) for key, r in merged] == [
        ((0, 0), "/a", "s-t1", "GET", 200)
    ]


def test_a_span_joins_a_resource_with_its_url_less_than_a_second_away() -> None:
    merged = merge_network(
        keyed(
            resource(1000, "/a"),
            span(1999, "/a", "near"),  # 999 ms after: the same request
            resource(5000, "/b"),
            span(6000, "/b", "far"),  # 1000 ms after: another one
        )
    )
    assert [(key, r.url, r.trace_id, r.source) for key, r in merged] == [
        ((1000, 0), "/a", "near", "payload"),
        ((5000, 2), "/b", None, "payload"),
        ((6000, 3), "/b", "far", "otlp"),
    ]


def test_each_resource_takes_one_span_first_come() -> None:
    merged = merge_network(
        keyed(
            resource(100, "/poll"),
            resource(300, "/poll"),
            span(120, "/poll", "first"),
            span(310, "/poll", "second"),
            span(320, "/poll", "third"),  # both resources taken: on its own
        )
    )
    assert [(key, r.trace_id, r.source) for key, r in merged] == [
        ((100, 0), "first", "payload"),
        ((300, 1), "second", "payload"),
        ((320, 4), "third", "otlp"),
    ]


def test_many_requests_to_one_url_merge_pairwise() -> None:
    count = 5000
    rows = keyed(
        *(resource(2000 * i, "/same") for i in range(count)),
        *(span(2000 * i + 5, "/same", f"t{i}") for i in range(count)),
    )
    merged = merge_network(rows)
    assert [r.trace_id for _, r in merged] == [f"t{i}" for i in range(count)]
    assert {r.source for _, r in merged} == {"payload"}
