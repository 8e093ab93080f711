"""The local-folder blob store (the default): temp file, fsync, atomic rename."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, cast

from storage.blobs import CHUNK, DeleteOutcome, HashingReader, StoredBlob, check_key
from storage.errors import BlobIntegrityError, BlobNotFound, StorageError
from storage.temporaries import owned_name

__all__ = ["LocalBlobStore"]

_TMP = ".tmp"


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """Linux's syncfs(2): flush one file system in one call (None elsewhere)."""
    libc = ctypes.CDLL(None, use_errno=True)
    function = getattr(libc, "syncfs", None)
    if function is None:
        return None
    function.argtypes = [ctypes.c_int]
    return cast(Callable[[int], int], function)


def _sync_filesystem(root: Path, files: Iterable[Path]) -> None:
    """Make `files` (all under `root`) and their directory entries durable."""
    syncfs = _syncfs()
    if syncfs is None:
        for file in files:
            with file.open("rb") as handle:
                os.fsync(handle.fileno())
        for parent in {file.parent for file in files}:
            _fsync_dir(parent)
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise StorageError(f"sync of {root} failed: {os.strerror(error)}")
    finally:
        os.close(fd)


def _create_private(path: Path) -> int:
    """A new file only its owner can read, from its first moment (a descriptor to write)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _move_into_place(tmp: Path, target: Path) -> None:
    """Rename `tmp` to `target`, making the target's folder the first time it is missing."""
    try:
        tmp.replace(target)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(target)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs as files under one folder; keys map to relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / _TMP).mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def description(self) -> str:
        """The folder."""
        return f"local:{self.root}"

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(
        self,
        key: str,
        stream: BinaryIO,
        *,
        expected_sha256: str | None = None,
        hashed: bool = True,
    ) -> StoredBlob:
        """Write to a temp file while hashing, fsync, then rename into place."""
        target = self._path(key)
        tmp = self.root / _TMP / owned_name()
        reader = HashingReader(stream, hashed=hashed or expected_sha256 is not None)
        # Unhashed, the stream is copied as it comes (short reads are fine here).
        source = reader if hashed or expected_sha256 is not None else stream
        size = 0
        try:
            with open(_create_private(tmp), "wb") as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                # Data and size durable before the rename (the directory is synced after it).
                os.fdatasync(out.fileno())
            if expected_sha256 is not None and reader.sha256 != expected_sha256:
                raise BlobIntegrityError(f"blob {key}: sha256 of the bytes written does not match")
            _move_into_place(tmp, target)
            _fsync_dir(target.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return StoredBlob(key=key, sha256=reader.sha256, size=size)

    def put_many(
        self, payloads: Mapping[str, tuple[bytes, str]], *, verify: bool = True
    ) -> dict[str, StoredBlob]:
        """Many small files for the price of two syncs, not two fsyncs each.

        Every payload is checked and written to a temp file, the file system is
        synced (the data is durable), the files are renamed into place and it
        is synced again (the names are durable). A crash leaves at most temp
        files (`clean_temp`) or whole files no committed row points at yet.
        """
        for key, (data, sha) in payloads.items():
            if verify and hashlib.sha256(data).hexdigest() != sha:
                raise BlobIntegrityError(f"blob {key}: sha256 of the bytes does not match")
        staged: list[tuple[Path, Path]] = []
        try:
            for key, (data, _) in payloads.items():
                tmp = self.root / _TMP / owned_name()
                staged.append((tmp, self._path(key)))
                fd = _create_private(tmp)
                try:
                    _write_all(fd, data)
                finally:
                    os.close(fd)
            _sync_filesystem(self.root, [tmp for tmp, _ in staged])
            for tmp, target in staged:
                _move_into_place(tmp, target)
            _sync_filesystem(self.root, [target for _, target in staged])
        except BaseException:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise
        return {
            key: StoredBlob(key=key, sha256=sha, size=len(data))
            for key, (data, sha) in payloads.items()
        }

    @contextlib.contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        """The file, opened for reading."""
        try:
            handle = self._path(key).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(f"blob {key}: not in {self.description}") from None
        with handle:
            yield handle

    def delete(self, keys: Iterable[str]) -> DeleteOutcome:
        """Unlink each file; a missing file counts as deleted."""
        outcome = DeleteOutcome()
        parents: set[Path] = set()
        for key in keys:
            path = self._path(key)
            try:
                path.unlink(missing_ok=True)
            except OSError as exc:
                outcome.failed[key] = exc.strerror or type(exc).__name__
                continue
            parents.add(path.parent)
            outcome.deleted.append(key)
        for parent in parents:
            if parent.exists():
                _fsync_dir(parent)
        return outcome

    def exists(self, key: str) -> bool:
        """Whether the file is there."""
        return self._path(key).exists()

    def modified(self, key: str) -> datetime | None:
        """The file's modification time."""
        try:
            return datetime.fromtimestamp(self._path(key).stat().st_mtime, UTC)
        except FileNotFoundError:
            return None

    def remaining(self, keys: Iterable[str]) -> set[str]:
        """The keys whose file is still there."""
        return {key for key in keys if self.exists(key)}

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key under `prefix`, temp files excluded."""
        for path in sorted(self.root.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(self.root).as_posix()
            if rel.startswith(_TMP + "/"):
                continue
            if rel.startswith(prefix):
                yield rel

    def clean_temp(self) -> int:
        """Remove leftovers of puts that a crash interrupted; returns how many."""
        count = 0
        for path in (self.root / _TMP).iterdir():
            try:
                path.unlink()
                count += 1
            except OSError as exc:
                raise StorageError(f"cannot clean temp file in {self.description}: {exc}") from exc
        return count
