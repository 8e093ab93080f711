"""The blob store protocol and what every implementation shares.

A blob store keeps raw bytes under opaque keys. `put` streams (sha256 and
size computed while the bytes pass; a failed put leaves nothing behind),
`open` streams back, `delete` removes every copy (every object version on a
versioned bucket) and is idempotent, `exists` says whether any copy is left
(the sweep's verification), `keys` lists.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol

from storage.errors import BadBlobKey, BlobIntegrityError, KeyUnavailable

__all__ = [
    "CHUNK",
    "BlobStore",
    "DeleteOutcome",
    "HashingReader",
    "StoredBlob",
    "check_key",
    "open_for_item",
]

CHUNK = 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def check_key(key: str) -> str:
    """Refuse a key that could escape the store; return it unchanged."""
    if len(key) > 512 or not _KEY.match(key) or ".." in key.split("/"):
        raise BadBlobKey("blob key refused: use [A-Za-z0-9._-] segments joined by '/'")
    return key


@dataclass(frozen=True)
class StoredBlob:
    """What a put wrote."""

    key: str
    sha256: str
    size: int


@dataclass
class DeleteOutcome:
    """Result of a batch delete: keys whose deletion failed, with a reason (no content)."""

    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class HashingReader:
    """Wraps a binary stream; hashes (unless told not to) and counts what is read through it."""

    def __init__(self, stream: BinaryIO, *, hashed: bool = True) -> None:
        self._stream = stream
        self._hash = hashlib.sha256() if hashed else None
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        """Read exactly `size` bytes unless the stream ends, hashing as bytes pass.

        Short reads are filled: boto3's transfer manager takes a short read
        for the end of the stream and would silently store a truncated
        object from a pipe or socket.
        """
        if size is None or size < 0:
            data = self._stream.read()
        else:
            parts: list[bytes] = []
            wanted = size
            while wanted > 0:
                part = self._stream.read(wanted)
                if not part:
                    break
                parts.append(part)
                wanted -= len(part)
            data = b"".join(parts)
        if self._hash is not None:
            self._hash.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        """Always readable."""
        return True

    @property
    def sha256(self) -> str:
        """Hex digest of everything read so far ('' when not hashing)."""
        return self._hash.hexdigest() if self._hash is not None else ""


class BlobStore(Protocol):
    """Where raw bytes live."""

    @property
    def description(self) -> str:
        """Where the store is, for reports (no secrets)."""
        ...

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        expected_sha256: str | None = None,
        hashed: bool = True,
    ) -> StoredBlob:
        """Stream `stream` to `key`; raise BlobIntegrityError (leaving nothing) on a mismatch.

        `hashed=False` skips hashing (sha256 reported as '') for a caller that
        authenticates the bytes itself (the encrypting store).
        """
        ...

    def put_many(
        self, payloads: Mapping[str, tuple[bytes, str]], *, verify: bool = True
    ) -> dict[str, StoredBlob]:
        """Store small payloads (key -> (bytes, sha256)), all durable when this returns.

        A mismatching sha256 raises BlobIntegrityError before anything is kept;
        `verify=False` skips the check for a caller that just computed them.
        """
        ...

    def open(self, key: str) -> AbstractContextManager[BinaryIO]:
        """A stream of the blob's bytes; BlobNotFound when absent."""
        ...

    def delete(self, keys: Iterable[str]) -> DeleteOutcome:
        """Delete every copy of each key; a missing key counts as deleted."""
        ...

    def exists(self, key: str) -> bool:
        """Whether any copy (any version) of `key` remains."""
        ...

    def remaining(self, keys: Iterable[str]) -> set[str]:
        """The keys of which any copy remains (batch verification after a delete)."""
        ...

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under `prefix`."""
        ...

    def modified(self, key: str) -> datetime | None:
        """When the current copy of `key` was written (None when absent)."""
        ...


@contextlib.contextmanager
def open_for_item(blobs: BlobStore, item_id: int | None, key: str) -> Iterator[BinaryIO]:
    """`blobs.open(key)`, with a tampered or unreadable blob's error naming the item.

    Reads fail lazily (a chunk is authenticated as it is read), so errors
    raised while the caller reads are renamed too.
    """
    try:
        with blobs.open(key) as stream:
            yield stream
    except (BlobIntegrityError, KeyUnavailable) as exc:
        raise type(exc)(f"item {item_id}: {exc}") from None
