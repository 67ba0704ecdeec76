"""Batch statements in few shapes (`store.sql.shapes`): padding and pieces, for every count a
batch can have."""

from __future__ import annotations

from footlight.store.sql import shapes


def test_padding_reaches_the_next_power_of_two_with_the_last_value() -> None:
    for count in range(1, 600):
        values = list(range(count))
        padded = shapes.padded(values)
        size = len(padded)
        assert size & (size - 1) == 0, count
        assert count <= size < 2 * count, count
        assert padded[:count] == values
        assert set(padded[count:]) <= {count - 1}
    assert shapes.padded([]) == []


def test_pieces_are_the_rows_in_order_in_falling_powers_of_two() -> None:
    for count in range(0, 600):
        rows = list(range(count))
        sizes = [len(piece) for piece in shapes.pieces(rows, most=1024)]
        assert [row for piece in shapes.pieces(rows, most=1024) for row in piece] == rows
        assert all(size & (size - 1) == 0 for size in sizes), count
        assert sizes == sorted(sizes, reverse=True), count
        assert len(set(sizes)) == len(sizes), count
        assert len(sizes) == bin(count).count("1")


def test_pieces_are_at_most_the_largest_asked() -> None:
    rows = list(range(1000))
    sizes = [len(piece) for piece in shapes.pieces(rows, most=256)]
    assert sizes == [256, 256, 256, 128, 64, 32, 8]
    assert [row for piece in shapes.pieces(rows, most=256) for row in piece] == rows


def test_groups_are_comma_separated_copies() -> None:
    assert shapes.groups(3, "(?, ?)") == "(?, ?), (?, ?), (?, ?)"
    assert shapes.groups(1, "?") == "?"
