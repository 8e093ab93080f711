"""Writing a file that is whole or absent: the export bundle, an item fetched to disk.

`file_sink` writes under a temp name beside the target (mode 0600, never
readable by others), syncs it and renames it into place only when the block
succeeds; when the block fails the temp file goes and the target is never
touched, so a failed export never looks complete (paperless-ngx's export
sinks do the same). `copy_checked` streams a stored item through a sha256.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, BinaryIO

from models.errors import InvalidInput

__all__ = ["copy_checked", "file_sink", "sha256_of"]

CHUNK = 1024 * 1024


@contextmanager
def file_sink(out: Path, *, exclusive: bool = False) -> Iterator[BinaryIO]:
    """A private file that becomes `out` when the block succeeds, and nothing when it fails.

    With `exclusive`, an existing `out` is refused (InvalidInput naming it) and
    never replaced.
    """
    if exclusive and out.exists():
        raise InvalidInput(f"--out {out}: already exists")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            try:
                os.link(tmp, out)  # fails if `out` appeared meanwhile: never overwrite
            except FileExistsError:
                raise InvalidInput(f"--out {out}: already exists") from None
            tmp.unlink()
        else:
            tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def copy_checked(source: IO[bytes], sink: IO[bytes], *, sha256: str, what: str) -> int:
    """Stream `source` into `sink`; InvalidInput naming `what` when the bytes' sha256 differs."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        sink.write(chunk)
        size += len(chunk)
    if digest.hexdigest() != sha256:
        raise InvalidInput(f"{what}: stored bytes do not match their sha256")
    return size


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
