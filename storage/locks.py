"""Jobs that must run alone, whoever starts them: a lock held in the index itself.

A sweep (every path that deletes: the nightly, enforce-retention, erasure from
the CLI, a flow or the page), a restore and a key rotation each take the
"exclusive" lock, so two of them never interleave, whether Prefect, cron, the
coach or an operator started them. Prefect's concurrency limits only cover
runs of one deployment; this covers everything that shares the index.

- PostgreSQL: a session-level advisory lock on a connection held for the job.
  A process that dies drops its connection and, with it, the lock.
- SQLite: a row in `joblock` with a lease the holder renews every few seconds.
  A holder that died (its pid gone on this host, or its lease run out) is
  replaced by the next job that asks.

A second job waits for the first up to `wait` seconds (saying so on stderr
when it must wait), then raises JobRunning naming what holds the lock. The
lock is reentrant within a thread: a job that holds it (an erasure) can run
another that takes it (the sweep the erasure ends with) without waiting for
itself.
Leases use the wall clock, never the injectable one: `--now 2030-01-01` must
not make a live lock look expired.
"""

from __future__ import annotations

import hashlib
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from storage.errors import JobRunning

__all__ = ["EXCLUSIVE", "JobRunning", "exclusive"]

EXCLUSIVE = "exclusive"  # sweeps, restores and key rotations
_POLL_SECONDS = 0.25
_held = threading.local()  # (index URL, lock name) -> depth, for this thread


def _holder() -> str:
    """Who holds a lock: host, pid and a nonce (no personal data)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(holder: str) -> bool:
    """Whether `holder` was a process on this host that no longer runs."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _advisory_key(name: str) -> int:
    digest = hashlib.sha256(f"gallra:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def exclusive(
    engine: Engine, name: str = EXCLUSIVE, *, wait: float = 900.0, lease: float = 30.0
) -> Iterator[None]:
    """Hold the lock `name` for the block; wait up to `wait` seconds for it."""
    held: dict[tuple[str, str], int] = _held.__dict__.setdefault("depth", {})
    key = (engine.url.render_as_string(hide_password=True), name)
    if held.get(key):
        held[key] += 1
        try:
            yield
        finally:
            held[key] -= 1
        return
    taking = (
        _advisory(engine, name, wait)
        if engine.dialect.name == "postgresql"
        else _leased(engine, name, wait, lease)
    )
    with taking:
        held[key] = 1
        try:
            yield
        finally:
            held.pop(key, None)


def _waited(name: str, started: float, holder: str, wait: float, told: bool) -> bool:
    """Say once that we wait; raise when waited long enough. Whether we told."""
    waited = time.monotonic() - started
    if waited >= wait:
        raise JobRunning(
            f"{name} job: another one is running ({holder or 'another process'}); "
            "try again when it has finished"
        )
    if not told:
        sys.stderr.write(f"gallra: waiting for the {name} job already running ({holder})\n")
    return True


@contextmanager
def _advisory(engine: Engine, name: str, wait: float) -> Iterator[None]:
    key = _advisory_key(name)
    started, told = time.monotonic(), False
    with engine.connect() as db:
        while not db.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            db.rollback()
            told = _waited(name, started, "another PostgreSQL session", wait, told)
            time.sleep(_POLL_SECONDS)
        db.commit()
        try:
            yield
        finally:
            db.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            db.commit()


_TAKE = text(
    "INSERT INTO joblock (name, holder, expires_at) VALUES (:name, :holder, :expires) "
    "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
    "WHERE joblock.expires_at < :now OR joblock.holder = :dead OR joblock.holder = :holder"
)


def _try_take(engine: Engine, name: str, holder: str, lease: float) -> str:
    """Take the lease if it is free, expired or held by a dead process; the holder after."""
    now = time.time()
    with engine.begin() as db:
        current = db.execute(
            text("SELECT holder FROM joblock WHERE name = :name"), {"name": name}
        ).scalar()
        dead = current if current and _dead_here(str(current)) else ""
        db.execute(
            _TAKE,
            {"name": name, "holder": holder, "expires": now + lease, "now": now, "dead": dead},
        )
        return str(
            db.execute(
                text("SELECT holder FROM joblock WHERE name = :name"), {"name": name}
            ).scalar()
        )


@contextmanager
def _leased(engine: Engine, name: str, wait: float, lease: float) -> Iterator[None]:
    holder = _holder()
    started, told = time.monotonic(), False
    while (current := _try_take(engine, name, holder, lease)) != holder:
        told = _waited(name, started, current, wait, told)
        time.sleep(_POLL_SECONDS)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease / 3):
            with engine.begin() as db:
                db.execute(
                    text(
                        "UPDATE joblock SET expires_at = :expires "
                        "WHERE name = :name AND holder = :holder"
                    ),
                    {"expires": time.time() + lease, "name": name, "holder": holder},
                )

    keeper = threading.Thread(target=renew, name=f"lease-{name}", daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join()
        with engine.begin() as db:
            db.execute(
                text("DELETE FROM joblock WHERE name = :name AND holder = :holder"),
                {"name": name, "holder": holder},
            )
