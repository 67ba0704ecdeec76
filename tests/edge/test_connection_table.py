"""Who makes room for a new connection: the rules of edge.connections, without a server."""

from __future__ import annotations

from footlight.edge.connections import (
    RESERVED_FILES,
    ConnectionTable,
    connection_capacity,
)


class FakeConnection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    def close_idle(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        return self.name


def test_at_the_process_cap_the_longest_idle_connection_makes_room() -> None:
    table = ConnectionTable(max_connections=3, max_per_client=10, max_refusing=2)
    a, b, c, d = (FakeConnection(n) for n in "abcd")
    for connection, client in ((a, "1"), (b, "2"), (c, "3")):
        assert table.admit(connection, client) is None
    table.busy(a)  # a request in progress: not to be closed
    table.busy(b)
    table.idle(b)  # answered: b is now the newest idle connection
    assert table.admit(d, "4") is None
    assert (a.closed, b.closed, c.closed) == (False, False, True)
    assert table.open == 3


def test_with_every_connection_busy_a_newcomer_is_refused_with_503() -> None:
    table = ConnectionTable(max_connections=2, max_per_client=10, max_refusing=2)
    a, b, c = (FakeConnection(n) for n in "abc")
    for connection in (a, b):
        table.admit(connection, connection.name)
        table.busy(connection)
    refusal = table.admit(c, "c")
    assert refusal is not None
    assert refusal.status == 503
    assert "max_connections" in refusal.message
    assert not a.closed
    assert not b.closed
    table.remove(c)  # answered and closed
    table.remove(a)
    assert table.admit(FakeConnection("e"), "e") is None


def test_a_client_at_its_cap_closes_its_own_idle_connection_or_gets_429() -> None:
    table = ConnectionTable(max_connections=100, max_per_client=2, max_refusing=2)
    other = FakeConnection("other")
    table.admit(other, "10.0.0.9")
    a, b, c, d = (FakeConnection(n) for n in "abcd")
    table.admit(a, "10.0.0.1")
    table.admit(b, "10.0.0.1")
    assert table.admit(c, "10.0.0.1") is None
    assert a.closed  # its own longest-idle one, not another client's older connection
    assert not other.closed
    table.busy(b)
    table.busy(c)
    refusal = table.admit(d, "10.0.0.1")
    assert refusal is not None
    assert refusal.status == 429
    assert "max_connections_per_client" in refusal.message
    assert table.admit(FakeConnection("e"), None) is None  # exempt (a trusted proxy)


def test_refused_connections_waiting_for_their_answer_are_few() -> None:
    table = ConnectionTable(max_connections=1, max_per_client=10, max_refusing=2)
    busy = FakeConnection("busy")
    table.admit(busy, "x")
    table.busy(busy)
    refused = [FakeConnection(str(i)) for i in range(3)]
    for connection in refused:
        assert table.admit(connection, "y") is not None
    assert [c.closed for c in refused] == [True, False, False]  # the oldest is dropped


def test_removing_twice_and_evicted_connections_are_harmless() -> None:
    table = ConnectionTable(max_connections=1, max_per_client=10, max_refusing=2)
    a, b = FakeConnection("a"), FakeConnection("b")
    table.admit(a, "x")
    table.admit(b, "x")  # evicts a
    table.remove(a)  # its connection_lost, later
    table.remove(b)
    table.remove(b)
    assert table.open == 0


def test_the_connection_cap_stays_below_the_open_file_limit() -> None:
    assert connection_capacity(4096, 1 << 20).max_connections == 4096
    low = connection_capacity(4096, 1024)
    assert low.limited_by_open_files
    assert low.max_connections + low.max_refusing + RESERVED_FILES <= 1024
    assert connection_capacity(4096, 256).max_connections == 120
