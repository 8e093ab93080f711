"""The flows: ingest_mail, enforce_retention and nightly (all of them, in order).

Parameters are source names and options, never names or addresses. A
failed source does not stop the other sources or the sweep; the run is
then marked failed so it is seen.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import flow

from flows.app import build_app
from flows.tasks import (
    TaskFailed,
    backup_index_task,
    enforce_retention_task,
    ingest_recordings_task,
    prune_history_task,
    sync_mail_source_task,
)

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


@flow(name="ingest_mail", persist_result=False, log_prints=False)
def ingest_mail(sources: list[str] | None = None) -> dict[str, dict[str, int]]:
    """Pull the configured mail sources (all, or those named); raises if any failed."""
    gallra = build_app()
    names = sources or [s.name for s in gallra.settings.mail.sources]
    results: dict[str, dict[str, int]] = {}
    failed: list[str] = []
    for name in names:
        try:
            results[name] = sync_mail_source_task(name)
        except TaskFailed as exc:
            log.error("mail source %s failed: %s", name, exc)
            failed.append(name)
    if failed:
        raise NightlyFailed(f"mail sources failed: {', '.join(failed)}")
    return results


@flow(name="ingest_recordings", persist_result=False, log_prints=False)
def ingest_recordings() -> dict[str, int]:
    """Take in recordings from the configured drop folders and S3 inbox."""
    return ingest_recordings_task()


@flow(name="enforce_retention", persist_result=False, log_prints=False)
def enforce_retention(dry_run: bool = False) -> dict[str, Any]:
    """The retention sweep."""
    return enforce_retention_task(dry_run)


@flow(name="nightly", persist_result=False, log_prints=False)
def nightly(history_days: int = HISTORY_DAYS) -> dict[str, Any]:
    """Ingest every mail source and the recordings, sweep, back up the index, prune history."""
    gallra = build_app()
    report: dict[str, Any] = {"mail": {}, "failed": []}
    for source in gallra.settings.mail.sources:
        try:
            report["mail"][source.name] = sync_mail_source_task(source.name)
        except TaskFailed as exc:
            log.error("mail source %s failed: %s", source.name, exc)
            report["failed"].append(f"mail:{source.name}")
    recordings = gallra.settings.recordings
    if recordings.folders or recordings.s3_inbox_bucket:
        try:
            report["recordings"] = ingest_recordings_task()
        except TaskFailed as exc:
            log.error("recordings failed: %s", exc)
            report["failed"].append("recordings")
    try:
        report["sweep"] = enforce_retention_task()
        if report["sweep"]["failures"]:
            report["failed"].append(
                f"sweep ({report['sweep']['failures']} items left for next run)"
            )
    except TaskFailed as exc:
        log.error("sweep failed: %s", exc)
        report["failed"].append("sweep")
    if gallra.settings.backup.nightly:
        try:
            report["backup"] = backup_index_task()
        except TaskFailed as exc:
            log.error("backup failed: %s", exc)
            report["failed"].append("backup")
    report["history_pruned"] = prune_history_task(history_days)
    if report["failed"]:
        raise NightlyFailed(f"nightly steps failed: {', '.join(report['failed'])}")
    return report


@flow(name="export_subject", persist_result=False, log_prints=False)
def export_subject(subject_id: int, portable_only: bool = False) -> dict[str, Any]:
    """The access bundle of one person (by id), kept (encrypted) as an export item 30 days.

    Fetch it with `gallra item get ITEM --out FILE` or from the person's web
    page; no plaintext copy is left on this machine.
    """
    import shutil
    import uuid

    from gallra import rights

    gallra = build_app()
    work = gallra.settings.home / "tmp" / uuid.uuid4().hex
    work.mkdir(parents=True, mode=0o700)
    try:
        result = rights.export(
            gallra, subject_id=subject_id, out=work / "export.zip", portable_only=portable_only
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "export_item_id": result["export_item_id"],
        "items": result["items"],
        "sha256": result["sha256"],
    }


@flow(name="erase_subject", persist_result=False, log_prints=False)
def erase_subject(subject_id: int, dry_run: bool = False) -> dict[str, Any]:
    """Art. 17 for one person (by id); returns the certificate (no personal data)."""
    from dataclasses import asdict

    from gallra import rights

    return asdict(rights.erase(build_app(), subject_id=subject_id, dry_run=dry_run))
