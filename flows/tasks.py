"""Prefect tasks: each wraps one plain job; ids and counts in and out, nothing persisted.

A task that fails raises an error naming only the exception type, so
Prefect's state message (stored in its database) carries no personal data;
the full text goes to the process's redacted log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.app import current_app
from gallra import jobs
from models.errors import GallraError
from storage.sweep import SweepOptions

__all__ = [
    "TaskFailed",
    "enforce_retention_task",
    "ingest_recordings_task",
    "notify_task",
    "prune_history_task",
    "sync_mail_source_task",
]

P = ParamSpec("P")
R = TypeVar("R")
log = logging.getLogger("gallra.flows")


class TaskFailed(RuntimeError):
    """A task failed; the message names the step and the exception type only."""

    def __init__(self, message: str, *, error_type: str = "") -> None:
        super().__init__(message)
        self.error_type = error_type or "TaskFailed"


def _sanitised(step: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        @wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except GallraError as exc:  # our messages carry no personal data
                raise TaskFailed(f"{step}: {exc}", error_type=type(exc).__name__) from None
            except Exception as exc:
                log.error("%s failed", step, exc_info=exc)
                raise TaskFailed(
                    f"{step}: {type(exc).__name__}", error_type=type(exc).__name__
                ) from None

        return run

    return decorate


@task(
    name="sync-mail-source",
    retries=1,
    retry_delay_seconds=30,
    persist_result=False,
    cache_policy=NO_CACHE,
)
@_sanitised("sync mail source")
def sync_mail_source_task(source_name: str) -> dict[str, int]:
    """Pull one configured IMAP source; returns counts."""
    with current_app() as gallra:
        summary = jobs.sync_source(gallra, jobs.configured_source(gallra, source_name))
    counts = asdict(summary)
    counts.pop("item_ids")
    return counts


@task(name="ingest-recordings", persist_result=False, cache_policy=NO_CACHE)
@_sanitised("ingest recordings")
def ingest_recordings_task() -> dict[str, int]:
    """Every configured drop folder and the S3 inbox; returns counts."""
    with current_app() as gallra:
        counts = asdict(jobs.ingest_recordings(gallra))
    counts.pop("item_ids")
    return counts


@task(name="enforce-retention", persist_result=False, cache_policy=NO_CACHE)
@_sanitised("sweep")
def enforce_retention_task(dry_run: bool = False) -> dict[str, Any]:
    """The sweep; returns its report without item ids."""
    with current_app() as gallra:
        result = jobs.sweep(gallra, SweepOptions(dry_run=dry_run))
    report = result.as_dict()
    for key in ("held_past_expiry_item_ids", "would_delete_item_ids", "would_delete", "failures"):
        report[key] = len(report[key])
    return report


@task(name="backup-index", persist_result=False, cache_policy=NO_CACHE)
@_sanitised("backup")
def backup_index_task() -> dict[str, Any]:
    """An encrypted snapshot of the index; expired ones deleted with their keys."""
    with current_app() as gallra:
        result = jobs.backup_now(gallra)
    return {"size": result.size, "pruned": len(result.pruned)}


@task(name="prune-orchestration-history", persist_result=False, cache_policy=NO_CACHE)
@_sanitised("prune history")
def prune_history_task(older_than_days: int) -> int:
    """Delete Prefect's own finished flow runs (and their logs) older than the age given."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterStartTime

    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
    deleted = 0
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(start_time=FlowRunFilterStartTime(before_=cutoff))
        )
        for run in runs:
            if run.state is not None and run.state.is_final():
                client.delete_flow_run(run.id)
                deleted += 1
    return deleted


@task(name="tell-the-practice", persist_result=False, cache_policy=NO_CACHE)
@_sanitised("digest")
def notify_task(failed_steps: list[str]) -> dict[str, int]:
    """E-mail the practice what needs a person (counts and a link; step labels only in)."""
    with current_app() as gallra:
        return jobs.tell_practice(gallra, failed_steps)
