"""Temporary files named by their owner, so the next run can remove a killed run's leftovers.

A name is `<host>-<pid>-<random>`. An entry whose owner was a process on this
host that no longer runs is a killed run's leftover: the next ingest, sweep
or nightly run removes it at once instead of waiting out the 12-hour rule
(which still catches anything else, such as an owner on another host).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

__all__ = ["owned_name", "remove_dead", "remove_entries", "remove_older"]

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:40] or "host"
_OWNED = re.compile(r"^(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-[0-9a-f]{8,}")


def owned_name() -> str:
    """A fresh temporary name that says which process made it."""
    return f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex}"


def _dead(name: str) -> bool:
    found = _OWNED.match(name)
    if found is None or found["host"] != _HOST:
        return False
    pid = int(found["pid"])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def remove_dead(folders: Iterable[Path]) -> int:
    """Remove the entries of `folders` whose owner died on this host; how many."""
    return remove_entries(folders, lambda entry: _dead(entry.name))


def remove_older(folders: Iterable[Path], *, older_than: timedelta) -> int:
    """Remove the entries of `folders` untouched for `older_than` (wall clock); how many."""
    cutoff = time.time() - older_than.total_seconds()
    return remove_entries(folders, lambda entry: entry.lstat().st_mtime < cutoff)


def remove_entries(folders: Iterable[Path], doomed: Callable[[Path], bool]) -> int:
    """Remove every entry of `folders` (a file or a whole folder) that `doomed` picks."""
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            try:
                if not doomed(entry):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            except FileNotFoundError:
                continue
            removed += 1
    return removed
