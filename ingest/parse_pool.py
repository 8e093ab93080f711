"""Parsing batches of messages, in worker processes when configured (the parse pool).

The workers are started with 'spawn' (the ingest has threads), at a lower
priority, and leave when the ingesting process is gone. A batch is split
into shares of about equal bytes, one per worker; a small batch (fewer than
eight messages) is parsed in the calling process, where pickling would cost
more than it saves.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from ingest.parse import MAX_PARSE_BYTES, ParsedMessage, parse_message

__all__ = [
    "PARSE_NICENESS",
    "ParsePool",
    "balanced_shares",
    "exit_with_parent",
    "parse_many",
    "start_parse_worker",
]


def balanced_shares(sizes: Sequence[int], workers: int) -> list[list[int]]:
    """Indexes of `sizes` in `workers` shares of about equal total size.

    Largest first, each onto the lightest share: parsing time follows size,
    and a batch is parsed when its heaviest share is (every 80th message of a
    mailbox holding a large attachment once put them all on one worker).
    """
    shares: list[list[int]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        lightest = loads.index(min(loads))
        shares[lightest].append(index)
        loads[lightest] += sizes[index]
    return shares


PARSE_NICENESS = 10  # the parse workers yield the cores to the committing thread


class ParsePool:
    """Parses batches, in `workers` processes (0: in this process)."""

    def __init__(self, workers: int = 0, max_bytes: int = MAX_PARSE_BYTES) -> None:
        self.workers = workers
        self.max_bytes = max_bytes
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the workers now (~0.5 s), e.g. while the first batch is fetched."""
        self._processes()

    def close(self) -> None:
        """Stop the workers, if any."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def _processes(self) -> ProcessPoolExecutor | None:
        """The worker processes, started on first use (None when not configured)."""
        if self.workers <= 0:
            return None
        if self._pool is None:
            # spawn, not fork: this process has threads (IMAP prefetch, blob puts).
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=get_context("spawn"),
                initializer=start_parse_worker,
                initargs=(os.getpid(), PARSE_NICENESS),
            )
            for _ in range(self.workers):  # a pool starts a process per waiting task
                self._pool.submit(parse_many, [])
        return self._pool

    def later(self, datas: list[bytes]) -> Callable[[], list[ParsedMessage]]:
        """Start parsing now (in the workers when configured); the result when called."""
        pool = self._processes() if len(datas) >= 8 else None
        if pool is None:
            return lambda: parse_many(datas, self.max_bytes)
        shares = balanced_shares([len(data) for data in datas], self.workers)
        futures = [
            pool.submit(parse_many, [datas[i] for i in share], self.max_bytes) for share in shares
        ]

        def collect() -> list[ParsedMessage]:
            merged: list[ParsedMessage] = [ParsedMessage()] * len(datas)
            for share, future in zip(shares, futures, strict=True):
                for index, message in zip(share, future.result(), strict=True):
                    merged[index] = message
            return merged

        return collect


def parse_many(datas: list[bytes], max_bytes: int = MAX_PARSE_BYTES) -> list[ParsedMessage]:
    """`parse_message` over a list (one call per worker process, not one per message).

    Attachments are hashed here, in the worker, for the ingest that stores them.
    """
    parsed = [parse_message(data, max_bytes=max_bytes) for data in datas]
    for message in parsed:
        for attachment in message.attachments:
            _ = attachment.sha256
    return parsed


def start_parse_worker(parent_pid: int, niceness: int) -> None:
    """Worker initializer: run at a lower priority, and leave with the parent.

    The ingest's committing thread is the pipeline's slowest stage and the
    parse workers have batches of slack, so when the cores are short they
    should wait, not it. On two cores, measured on the 200 MB bench mailbox
    (eight interleaved rounds, three times): 6-11% less time at niceness 10.
    """
    import os

    if hasattr(os, "nice"):  # POSIX; elsewhere the workers keep their priority
        os.nice(niceness)
    exit_with_parent(parent_pid)


def exit_with_parent(parent_pid: int) -> None:
    """Worker initializer: leave when the process that started us is gone.

    A parse worker whose parent was killed (SIGKILL, OOM) would otherwise live
    on as an orphan holding memory: a watchdog thread ends it within half a
    second. Not Linux's parent-death signal: it fires when the *thread* that
    spawned the worker ends, and workers are spawned from the ingest's
    helper thread, so they were killed mid-batch (a worker dying with the
    task queue's lock held left the pool hung at shutdown).
    """
    import os
    import threading
    import time

    if os.getppid() != parent_pid:
        os._exit(0)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()
