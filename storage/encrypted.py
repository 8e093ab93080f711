"""A blob store that encrypts every blob before it leaves the process.

Wraps any BlobStore (local folder, S3). `put` streams plaintext through
chunked AES-256-GCM under the blob's data key from the key store (made and
committed first, so a stored blob always has its key); the sha256 and size
reported are the plaintext's, so content addressing is unchanged. `open`
decrypts as it streams and raises BlobTampered on any alteration. `delete`
destroys the data keys of what it deleted: an old object version or a
copy of the bucket is then unreadable too.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import BinaryIO, cast

from models.clock import Clock
from storage.blobs import BlobStore, DeleteOutcome, HashingReader, StoredBlob, check_key
from storage.crypto import DecryptingReader, EncryptingReader, encrypt_bytes
from storage.errors import BlobIntegrityError
from storage.keystore import KeyStore

__all__ = ["STREAM_FROM", "EncryptedBlobStore"]

STREAM_FROM = 8 * 1024 * 1024  # payloads above this are encrypted while they stream


class EncryptedBlobStore:
    """Envelope encryption over an inner store (see the module doc)."""

    def __init__(self, inner: BlobStore, keys: KeyStore, clock: Clock) -> None:
        self.inner = inner
        self.keystore = keys
        self._clock = clock

    @property
    def description(self) -> str:
        """The inner store, marked encrypted."""
        return f"{self.inner.description} (encrypted)"

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        expected_sha256: str | None = None,
        hashed: bool = True,
    ) -> StoredBlob:
        """Encrypt while streaming to the inner store; nothing kept on a sha256 mismatch."""
        check_key(key)
        secret = self.keystore.data_keys_for_write([key], self._clock.now())[key]
        plain = HashingReader(stream, hashed=hashed or expected_sha256 is not None)
        sealed = EncryptingReader(plain, secret, key)
        self.inner.put(key, cast(BinaryIO, sealed), hashed=False)  # chunks carry their tags
        if expected_sha256 is not None and plain.sha256 != expected_sha256:
            self.inner.delete([key])
            raise BlobIntegrityError(f"blob {key}: sha256 of the bytes written does not match")
        return StoredBlob(key=key, sha256=plain.sha256, size=plain.size)

    def put_many(
        self, payloads: Mapping[str, tuple[bytes, str]], *, verify: bool = True
    ) -> dict[str, StoredBlob]:
        """Encrypt each small payload in memory, then hand the batch to the inner store.

        The plaintext is checked against its sha256 (unless `verify` is off);
        the ciphertext needs no hash: every chunk carries its own tag.
        """
        for key, (data, sha) in payloads.items():
            check_key(key)
            if verify and hashlib.sha256(data).hexdigest() != sha:
                raise BlobIntegrityError(f"blob {key}: sha256 of the bytes does not match")
        # A large payload is encrypted as it streams to the store: its ciphertext is never
        # held whole beside it (a 100 MB message would otherwise cost 200 MB more).
        large = {key: value for key, value in payloads.items() if len(value[0]) > STREAM_FROM}
        stored: dict[str, StoredBlob] = {}
        for key, (data, sha) in large.items():
            self.put(key, io.BytesIO(data), hashed=False)  # checked above when asked to
            stored[key] = StoredBlob(key=key, sha256=sha, size=len(data))
        payloads = {key: value for key, value in payloads.items() if key not in large}
        if not payloads:
            return stored
        secrets = self.keystore.data_keys_for_write(payloads, self._clock.now())
        sealed = {
            key: (encrypt_bytes(data, secrets[key], key), "") for key, (data, _) in payloads.items()
        }
        self.inner.put_many(sealed, verify=False)
        return stored | {
            key: StoredBlob(key=key, sha256=sha, size=len(data))
            for key, (data, sha) in payloads.items()
        }

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """The decrypted bytes as a stream (seekable when the inner stream is)."""
        with self.inner.open(key) as stream:
            secret = self.keystore.data_key(key)
            yield cast(BinaryIO, DecryptingReader(stream, secret, key))

    def delete(self, keys: Iterable[str]) -> DeleteOutcome:
        """Delete from the inner store, then destroy the data keys of what it deleted.

        Not checked again here: the caller verifies (`remaining`); a copy that
        somehow survived is unreadable without its key and is deleted on retry.
        """
        outcome = self.inner.delete(keys)
        self.keystore.forget(outcome.deleted)
        return outcome

    def exists(self, key: str) -> bool:
        """Whether any copy remains in the inner store."""
        return self.inner.exists(key)

    def remaining(self, keys: Iterable[str]) -> set[str]:
        """The keys of which a copy remains."""
        return self.inner.remaining(keys)

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under `prefix`."""
        return self.inner.keys(prefix)

    def modified(self, key: str) -> datetime | None:
        """When the current copy was written."""
        return self.inner.modified(key)
