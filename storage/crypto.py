"""Chunked AES-256-GCM for blobs: streams of any size, every chunk authenticated.

The format (the "STREAM" construction of Hoang, Reyhanitabar, Rogaway and
Vizár): a 17-byte header (magic, version, chunk size as a power of two and
a random 7-byte nonce prefix), then chunks of `2**chunk_log2` plaintext
bytes, each sealed with the nonce ``prefix || index (4 bytes) || final
flag (1 byte)`` and the header plus the blob key as associated data. So a
chunk cannot be altered, moved, dropped or cut off (the last chunk alone
carries the final flag), extra bytes after it are refused, and a blob
cannot be passed off under another key. The last chunk may be empty.

Plaintext sizes, hashes and keys never appear in errors; the blob key does
(it is a content hash or an opaque name).
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.errors import BlobTampered

__all__ = [
    "CHUNK_LOG2",
    "HEADER_SIZE",
    "TAG",
    "DecryptingReader",
    "EncryptingReader",
    "encrypt_bytes",
]

MAGIC = b"GALLRA\x00E"
VERSION = 1
CHUNK_LOG2 = 20  # 1 MiB of plaintext per chunk
HEADER_SIZE = len(MAGIC) + 2 + 7
TAG = 16
_MAX_CHUNKS = 2**32


def _header(chunk_log2: int, prefix: bytes) -> bytes:
    return MAGIC + bytes([VERSION, chunk_log2]) + prefix


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    if index >= _MAX_CHUNKS:
        raise ValueError("blob too large for one data key (2**32 chunks)")
    return prefix + struct.pack(">IB", index, 1 if final else 0)


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def _read_exactly(stream: _Readable, size: int) -> bytes:
    parts: list[bytes] = []
    while size > 0:
        part = stream.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def encrypt_bytes(data: bytes, key: bytes, blob_key: str, chunk_log2: int = CHUNK_LOG2) -> bytes:
    """The whole ciphertext of a small payload (the same format as the stream)."""
    aead = AESGCM(key)
    header = _header(chunk_log2, os.urandom(7))
    aad = header + blob_key.encode("utf-8")
    size = 1 << chunk_log2
    view = memoryview(data)
    count = max(1, -(-len(data) // size))
    parts = [header]
    for index in range(count):
        nonce = _nonce(header[-7:], index, index == count - 1)
        parts.append(aead.encrypt(nonce, view[index * size : (index + 1) * size], aad))
    return b"".join(parts)


class EncryptingReader:
    """Reads plaintext from `stream`, gives ciphertext; hashes nothing (see HashingReader)."""

    def __init__(
        self, stream: _Readable, key: bytes, blob_key: str, chunk_log2: int = CHUNK_LOG2
    ) -> None:
        self._stream = stream
        self._aead = AESGCM(key)
        self._chunk = 1 << chunk_log2
        self._header = _header(chunk_log2, os.urandom(7))
        self._aad = self._header + blob_key.encode("utf-8")
        self._index = 0
        self._lookahead: bytes | None = None
        self._out = self._header
        self._pos = 0
        self._done = False

    def _next_plain(self) -> bytes:
        if self._lookahead is not None:
            chunk, self._lookahead = self._lookahead, None
            return chunk
        return _read_exactly(self._stream, self._chunk)

    def _seal_next(self) -> bytes:
        chunk = self._next_plain()
        final = len(chunk) < self._chunk
        if not final:
            self._lookahead = _read_exactly(self._stream, self._chunk)
            final = not self._lookahead
            if final:
                self._lookahead = None
        nonce = _nonce(self._header[-7:], self._index, final)
        self._index += 1
        self._done = final
        return self._aead.encrypt(nonce, chunk, self._aad)

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of ciphertext (all of it when negative); b'' at the end.

        Reads stop at the end of a sealed chunk (a short read, not the end):
        a reader that asks for a chunk's size gets it without a copy.
        """
        if size < 0:
            parts = [self._out[self._pos :]]
            while not self._done:
                parts.append(self._seal_next())
            self._out, self._pos = b"", 0
            return b"".join(parts)
        if self._pos >= len(self._out):
            if self._done:
                return b""
            self._out, self._pos = self._seal_next(), 0
        end = min(len(self._out), self._pos + size)
        out = self._out[self._pos : end]
        self._pos = end
        return out

    def readable(self) -> bool:
        """Always readable."""
        return True


class DecryptingReader:
    """Reads ciphertext from `stream`, gives plaintext; BlobTampered on any alteration.

    Seekable (to any plaintext offset) when the underlying stream is, so a
    player can jump into an hour-long recording without decrypting all of it.
    """

    def __init__(self, stream: BinaryIO, key: bytes, blob_key: str) -> None:
        self._stream = stream
        self._blob_key = blob_key
        header = _read_exactly(stream, HEADER_SIZE)
        if len(header) < HEADER_SIZE or not header.startswith(MAGIC):
            raise BlobTampered(f"blob {blob_key}: not a gallra-encrypted blob (altered or foreign)")
        if header[len(MAGIC)] != VERSION or not 12 <= header[len(MAGIC) + 1] <= 26:
            raise BlobTampered(f"blob {blob_key}: unknown encryption format version")
        self._aead = AESGCM(key)
        self._chunk = 1 << header[len(MAGIC) + 1]
        self._prefix = header[-7:]
        self._aad = header + blob_key.encode("utf-8")
        self._index = 0
        self._buffer = b""
        self._offset = 0
        self._finished = False
        self.chunks_decrypted = 0  # how many chunks were read and authenticated
        self._seeked = False

    def _fail(self, what: str) -> BlobTampered:
        return BlobTampered(f"blob {self._blob_key}: {what}; it was altered or truncated")

    def _open_next(self) -> None:
        self.chunks_decrypted += 1
        sealed = _read_exactly(self._stream, self._chunk + TAG)
        if not sealed and self._seeked:
            self._finished = True  # a seek to the very end
            return
        self._seeked = False
        if len(sealed) < TAG:
            raise self._fail(f"ends before its last chunk (chunk {self._index})")
        attempts = (True,) if len(sealed) < self._chunk + TAG else (False, True)
        for final in attempts:
            try:
                plain = self._aead.decrypt(
                    _nonce(self._prefix, self._index, final), sealed, self._aad
                )
            except InvalidTag:
                continue
            self._index += 1
            if final:
                if self._stream.read(1):
                    raise self._fail("has bytes after its last chunk")
                self._finished = True
            self._buffer = plain
            self._offset = 0
            return
        raise self._fail(f"chunk {self._index} fails authentication")

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes of plaintext (all when negative); b'' at the end."""
        parts: list[bytes] = []
        wanted = size
        while wanted != 0:
            if self._offset >= len(self._buffer):
                if self._finished:
                    break
                self._open_next()
                continue
            end = len(self._buffer) if wanted < 0 else min(len(self._buffer), self._offset + wanted)
            parts.append(self._buffer[self._offset : end])
            if wanted > 0:
                wanted -= end - self._offset
            self._offset = end
        return b"".join(parts)

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Whether the stored stream can seek."""
        seekable = getattr(self._stream, "seekable", None)
        return bool(seekable and seekable())

    def seek(self, position: int, whence: int = 0) -> int:
        """Jump to a plaintext offset (from the start only)."""
        if whence != 0 or position < 0:
            raise ValueError("seek: only absolute, non-negative positions")
        index, within = divmod(position, self._chunk)
        self._stream.seek(HEADER_SIZE + index * (self._chunk + TAG))
        self._index = index
        self._buffer = b""
        self._offset = 0
        self._finished = False
        self._seeked = position > 0
        if position:
            self._open_next()
            self._offset = min(within, len(self._buffer))
        return position

    def close(self) -> None:
        """Close the stored stream."""
        self._stream.close()
