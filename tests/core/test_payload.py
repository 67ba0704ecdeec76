"""core.payload's byte work: the fast base64 decoder accepts, refuses and decodes exactly as
the standard library's strict mode does, and zlib-ng's inflate keeps zlib's checks."""

from __future__ import annotations

import base64
import binascii
import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from footlight.core.payload import decode_base64, inflate
from footlight.errors import BadInput

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
