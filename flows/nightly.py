"""The flows: ingest_mail, ingest_recordings, enforce_retention, nightly, export and erase.

Parameters are source names, ids, options, a home folder and a date, never a
name or an address. Each flow run builds one App and closes it at the end. A
failed step does not stop the others; the run is then marked failed so it is
seen, and the exception carries the step report (counts only).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, cast

from prefect import flow
from prefect.states import Failed

from flows.app import current_app, flow_app
from flows.tasks import (
    TaskFailed,
    backup_index_task,
    enforce_retention_task,
    ingest_recordings_task,
    notify_task,
    prune_history_task,
    sync_mail_source_task,
)
from storage.runs import finish_run, record_step, start_run
from storage.temporaries import owned_name

__all__ = [
    "NightlyFailed",
    "enforce_retention",
    "erase_subject",
    "export_subject",
    "ingest_mail",
    "ingest_recordings",
    "nightly",
]

log = logging.getLogger("gallra.flows")
HISTORY_DAYS = 30


class NightlyFailed(RuntimeError):
    """Some step failed; the message names the steps (source labels), nothing personal."""

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__(f"nightly steps failed: {', '.join(report['failed'])}")
        self.report = report


def _outcome(report: dict[str, Any]) -> dict[str, Any]:
    """The report, or, when a step failed, a Failed state carrying NightlyFailed in memory.

    A flow that raises has its exception pickled into Prefect's result storage
    whatever `persist_result` says; a returned Failed state is not written.
    Called in-process, the flow still raises the NightlyFailed (with the report).
    """
    if not report["failed"]:
        return report
    failure = NightlyFailed(report)
    # Prefect makes a returned State the run's final state: the caller never sees it.
    return cast(dict[str, Any], Failed(message=str(failure), data=failure))


def _step(
    report: dict[str, Any], name: str, run: Callable[[], Any], *, fails_run: bool = True
) -> Any:
    """Run one step; on failure log it (redacted), record its name and go on.

    A step that does not fail the run (the e-mail to the practice) is still
    recorded as failed for the start page.

    In a nightly run each step is also recorded in the index (numbers and the
    error's type), for the start page and `gallra today`.
    """
    run_id = report.get("run_id")
    with current_app() as gallra:
        started = gallra.clock.now()
        error_type, result = "", None
        try:
            result = run()
        except TaskFailed as exc:
            log.error("%s failed: %s", name, exc)
            if fails_run:
                report["failed"].append(name)
            error_type = exc.error_type
        if run_id is not None:
            record_step(
                gallra.require_index(),
                run_id,
                name,
                started_at=started,
                finished_at=gallra.clock.now(),
                result=result,
                error_type=error_type,
            )
    return result


def _sync_sources(report: dict[str, Any], names: list[str]) -> None:
    for name in names:
        counts = _step(report, f"mail:{name}", functools.partial(sync_mail_source_task, name))
        if counts is not None:
            report["mail"][name] = counts


@flow(name="ingest_mail", persist_result=False, log_prints=False)
def ingest_mail(
    sources: list[str] | None = None, home: str | None = None, now: str | None = None
) -> dict[str, dict[str, int]]:
    """Pull the configured mail sources (all, or those named); raises if any failed."""
    with flow_app(home, now) as gallra:
        report: dict[str, Any] = {"mail": {}, "failed": []}
        _sync_sources(report, sources or [s.name for s in gallra.settings.mail.sources])
    outcome = _outcome(report)
    return outcome["mail"] if outcome is report else outcome


@flow(name="ingest_recordings", persist_result=False, log_prints=False)
def ingest_recordings(home: str | None = None, now: str | None = None) -> dict[str, int]:
    """Take in recordings from the configured drop folders and S3 inbox."""
    with flow_app(home, now):
        return ingest_recordings_task()


@flow(name="enforce_retention", persist_result=False, log_prints=False)
def enforce_retention(
    dry_run: bool = False, home: str | None = None, now: str | None = None
) -> dict[str, Any]:
    """The retention sweep."""
    with flow_app(home, now):
        return enforce_retention_task(dry_run)


@flow(name="nightly", persist_result=False, log_prints=False)
def nightly(
    history_days: int = HISTORY_DAYS, home: str | None = None, now: str | None = None
) -> dict[str, Any]:
    """Ingest every mail source and the recordings, sweep, back up the index, prune history."""
    report: dict[str, Any] = {"mail": {}, "failed": []}
    with flow_app(home, now) as gallra:
        report["run_id"] = start_run(gallra.require_index(), gallra.clock.now())
        _sync_sources(report, [s.name for s in gallra.settings.mail.sources])
        recordings = gallra.settings.recordings
        if recordings.folders or recordings.s3_inbox_bucket:
            found = _step(report, "recordings", ingest_recordings_task)
            if found is not None:
                report["recordings"] = found
        swept = _step(report, "sweep", enforce_retention_task)
        if swept is not None:
            report["sweep"] = swept
            if swept["failures"]:
                report["failed"].append(f"sweep ({swept['failures']} items left for next run)")
        if gallra.settings.backup.nightly:
            backed_up = _step(report, "backup", backup_index_task)
            if backed_up is not None:
                report["backup"] = backed_up
        pruned = _step(report, "prune history", lambda: prune_history_task(history_days))
        report["history_pruned"] = pruned or 0
        if gallra.settings.notify.to:
            failed = list(report["failed"])
            told = _step(report, "digest", lambda: notify_task(failed), fails_run=False)
            report["digest"] = (
                "sent" if told and told["sent"] else "failed" if told is None else "nothing to tell"
            )
        finish_run(
            gallra.require_index(),
            report["run_id"],
            gallra.clock.now(),
            failed=bool(report["failed"]),
        )
    return _outcome(report)


@flow(name="export_subject", persist_result=False, log_prints=False)
def export_subject(
    subject_id: int, portable_only: bool = False, home: str | None = None, now: str | None = None
) -> dict[str, Any]:
    """The access bundle of one person (by id), kept (encrypted) as an export item 30 days.

    Fetch it with `gallra item get ITEM --out FILE` or from the person's web
    page; no plaintext copy is left on this machine.
    """
    import shutil

    from gallra import rights

    with flow_app(home, now) as gallra:
        work = gallra.settings.home / "tmp" / owned_name()
        work.mkdir(parents=True, mode=0o700)
        try:
            result = rights.export(
                gallra, subject_id=subject_id, out=work / "export.zip", portable_only=portable_only
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return {
        "export_item_id": result.export_item_id,
        "items": result.items,
        "sha256": result.sha256,
    }


@flow(name="erase_subject", persist_result=False, log_prints=False)
def erase_subject(
    subject_id: int, dry_run: bool = False, home: str | None = None, now: str | None = None
) -> dict[str, Any]:
    """Art. 17 for one person (by id); returns the certificate (no personal data)."""
    from dataclasses import asdict

    from gallra import rights

    with flow_app(home, now) as gallra:
        return asdict(rights.erase(gallra, subject_id=subject_id, dry_run=dry_run))
