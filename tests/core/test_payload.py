"""core.payload's byte work: the fast base64 decoder accepts, refuses and decodes exactly as
the standard library's strict mode does, and zlib-ng's inflate keeps zlib's checks."""

from __future__ import annotations

import base64
import binascii
import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zlib_ng import zlib_ng

from footlight.core.payload import MAX_GZIP_MEMBERS, decode_base64, inflate
from footlight.errors import BadInput, IngestError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="
"""Mostly base64's own characters, so that many drawn strings are valid or nearly so."""


def standard(data: str) -> bytes | str:
    """What the standard library's strict mode makes of `data`: its bytes, or its message."""
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        return f"data is not valid base64: {exc}"


def ours(data: str) -> bytes | str:
    try:
        return decode_base64(data)
    except BadInput as exc:
        return exc.message


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=ALPHABET, max_size=40),
        st.text(alphabet=ALPHABET + " \n-_*é\x00", max_size=40),
        st.binary(max_size=60).map(lambda raw: base64.b64encode(raw).decode()),
    )
)
def test_base64_is_decoded_and_refused_as_the_standard_library_does(data: str) -> None:
    assert ours(data) == standard(data)


@pytest.mark.parametrize(
    "data",
    ["", "=", "QQ", "QQ=", "QQ==", "QQ===", "QQ==QQ==", "Q Q==", "QQ==\n", "=QQ=", "QUJD", "QUJD="],
)
def test_base64_edge_cases(data: str) -> None:
    assert ours(data) == standard(data)


def test_inflate_checks_the_crc_and_length_as_zlib_did() -> None:
    body = gzip.compress(b'{"events":{"events":[]}}', mtime=0)
    assert inflate(body, 1000)[0] == b'{"events":{"events":[]}}'
    corrupt_crc = body[:-8] + bytes([body[-8] ^ 1]) + body[-7:]
    with pytest.raises(BadInput, match=r"not valid gzip data: Error -3 .*incorrect data check"):
        inflate(corrupt_crc, 1000)
    corrupt_length = body[:-1] + bytes([body[-1] ^ 1])
    with pytest.raises(BadInput, match=r"not valid gzip data: Error -3 .*incorrect length check"):
        inflate(corrupt_length, 1000)


def _inflate_step_by_step(compressed: bytes, limit: int) -> tuple[bytes, bytes] | str:
    """The gzip reading `inflate` had before it asked for the size the stream announces:
    zlib's `decompressobj`, growing its buffer as it goes (the oracle of the test below)."""
    if not compressed.startswith(b"\x1f\x8b"):
        return "data is not gzip data (it must be base64 of a gzip stream)"
    parts: list[bytes] = []
    trailers: list[bytes] = []
    total, rest = 0, compressed
    while rest:
        if len(parts) == MAX_GZIP_MEMBERS:
            return f"data has more than {MAX_GZIP_MEMBERS} gzip members"
        inflater = zlib_ng.decompressobj(wbits=16 + zlib_ng.MAX_WBITS)
        try:
            chunk = inflater.decompress(rest, limit - total + 1)
        except zlib_ng.error as exc:  # type: ignore[misc]
            return f"data is not valid gzip data: {exc}"
        total += len(chunk)
        if total > limit:
            return f"data inflates to more than {limit} bytes (limit: max_inflated_bytes)"
        parts.append(chunk)
        if not inflater.eof:
            return "data is truncated gzip data"
        consumed = len(rest) - len(inflater.unused_data)
        trailers.append(rest[consumed - 8 : consumed])
        rest = inflater.unused_data
        if rest and not rest.startswith(b"\x1f\x8b"):
            return "data has trailing bytes after the gzip stream"
    return b"".join(parts), b"".join(trailers)


def _inflated(compressed: bytes, limit: int) -> tuple[bytes, bytes] | str:
    try:
        return inflate(compressed, limit)
    except IngestError as exc:
        return exc.message


@settings(max_examples=1500, deadline=None)
@given(
    members=st.lists(st.binary(max_size=300).map(lambda part: part * 40), min_size=1, max_size=3),
    damage=st.sampled_from(["none", "size", "cut", "tail", "byte"]),
    where=st.integers(min_value=0),
    value=st.integers(min_value=0, max_value=2**32 - 1),
    limit=st.integers(min_value=0, max_value=30_000),
)
def test_inflate_reads_and_refuses_as_stepping_through_with_decompressobj_did(
    members: list[bytes], damage: str, where: int, value: int, limit: int
) -> None:
    # The size a stream ends with is a hint `inflate` trusts only so far: a wrong one (a
    # stranger's, or a member's that is not the last) must change nothing but the cost.
    stream = b"".join(gzip.compress(member, mtime=0) for member in members)
    if damage == "size":
        stream = stream[:-4] + value.to_bytes(4, "little")
    elif damage == "cut":
        stream = stream[: where % len(stream)]
    elif damage == "tail":
        stream += b"\x00" * (1 + where % 9)
    elif damage == "byte":
        at = where % len(stream)
        stream = stream[:at] + bytes([stream[at] ^ (1 + value % 255)]) + stream[at + 1 :]
    assert _inflated(stream, limit) == _inflate_step_by_step(stream, limit)
