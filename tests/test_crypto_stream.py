"""The chunked AES-256-GCM blob format: round trips, seeking, and every kind of tampering."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.crypto import HEADER_SIZE, TAG, DecryptingReader, EncryptingReader, encrypt_bytes
from storage.errors import BlobTampered

KEY = bytes(range(32))
LOG2 = 12  # 4 KiB chunks keep the tests small
CHUNK = 1 << LOG2


def seal(data: bytes, key: bytes = KEY, blob_key: str = "mail/ab/x", read: int = 1000) -> bytes:
    reader = EncryptingReader(io.BytesIO(data), key, blob_key, chunk_log2=LOG2)
    parts = []
    while part := reader.read(read):
        parts.append(part)
    return b"".join(parts)


def unseal(sealed: bytes, key: bytes = KEY, blob_key: str = "mail/ab/x") -> bytes:
    return DecryptingReader(io.BytesIO(sealed), key, blob_key).read()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])
def test_round_trip_at_chunk_edges(size: int) -> None:
    data = os.urandom(size)
    sealed = seal(data)
    chunks = max(1, -(-size // CHUNK))
    assert len(sealed) == HEADER_SIZE + size + chunks * TAG
    assert unseal(sealed) == data
    assert size < 16 or data[:16] not in sealed  # (a byte or two may well recur by chance)
    whole = encrypt_bytes(data, KEY, "mail/ab/x", chunk_log2=LOG2)  # the put_many path
    assert len(whole) == len(sealed) and unseal(whole) == data


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(max_size=5 * CHUNK),
    read=st.integers(min_value=1, max_value=3 * CHUNK),
    positions=st.lists(st.integers(min_value=0, max_value=6 * CHUNK), max_size=5),
)
def test_any_read_size_and_any_seek_give_the_plaintext(
    data: bytes, read: int, positions: list[int]
) -> None:
    sealed = seal(data, read=read)
    reader = DecryptingReader(io.BytesIO(sealed), KEY, "mail/ab/x")
    got = []
    while part := reader.read(read):
        got.append(part)
    assert b"".join(got) == data
    for position in positions:
        reader.seek(position)
        assert reader.read(read) == data[position : position + read]


def test_same_plaintext_never_gives_the_same_ciphertext() -> None:
    assert seal(b"samma text") != seal(b"samma text")


def _tampered(sealed: bytes, where: int) -> bytes:
    flipped = bytearray(sealed)
    flipped[where] ^= 0x01
    return bytes(flipped)


@pytest.mark.parametrize(
    "how",
    [
        "header",
        "nonce",
        "first-chunk",
        "tag",
        "last-chunk",
        "cut-last-chunk",
        "cut-mid-chunk",
        "cut-to-header",
        "appended",
        "swapped-chunks",
        "other-blob-key",
        "other-key",
    ],
)
def test_any_alteration_fails_to_read(how: str) -> None:
    data = os.urandom(3 * CHUNK + 100)
    sealed = seal(data)
    sealed_chunk = CHUNK + TAG
    first = HEADER_SIZE
    blob_key, key = "mail/ab/x", KEY
    altered = {
        "header": lambda: _tampered(sealed, 3),
        "nonce": lambda: _tampered(sealed, HEADER_SIZE - 1),
        "first-chunk": lambda: _tampered(sealed, first + 5),
        "tag": lambda: _tampered(sealed, first + sealed_chunk - 1),
        "last-chunk": lambda: _tampered(sealed, len(sealed) - 20),
        "cut-last-chunk": lambda: sealed[: first + 3 * sealed_chunk],
        "cut-mid-chunk": lambda: sealed[: first + sealed_chunk + 100],
        "cut-to-header": lambda: sealed[:first],
        "appended": lambda: sealed + b"\x00" * 10,
        "swapped-chunks": lambda: (
            sealed[:first]
            + sealed[first + sealed_chunk : first + 2 * sealed_chunk]
            + sealed[first : first + sealed_chunk]
            + sealed[first + 2 * sealed_chunk :]
        ),
        "other-blob-key": lambda: sealed,
        "other-key": lambda: sealed,
    }[how]()
    if how == "other-blob-key":
        blob_key = "mail/ab/y"
    if how == "other-key":
        key = bytes(32)
    with pytest.raises(BlobTampered, match=r"blob mail/ab/\w") as caught:
        unseal(altered, key, blob_key)
    assert "altered" in str(caught.value) or "format" in str(caught.value)
