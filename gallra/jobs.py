"""Jobs the CLI and the Prefect flows both run: plain functions over an App.

Results are counts and ids only, so they can be returned from Prefect tasks
and printed without personal data.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from gallra.errors import ConfigError
from gallra.settings import ImapSourceSettings
from gallra.wiring import App
from ingest.imap import ImapMailbox
from ingest.mail import IngestSummary
from ingest.mail_sync import Progress, SyncOptions, sync_mailbox
from ingest.recordings import RecordingSummary
from storage.backup import prune_backups, write_backup
from storage.locks import exclusive
from storage.sweep import SweepOptions, SweepResult, run_sweep
from storage.temporaries import owned_name, remove_dead, remove_older

__all__ = [
    "BackupRun",
    "adhoc_source",
    "backup_now",
    "configured_source",
    "ingest_recordings",
    "ingest_s3_inbox",
    "remove_stale",
    "sweep",
    "sync_source",
]


def adhoc_source(
    url: str, *, password_env: str, folders: list[str], name: str
) -> ImapSourceSettings:
    """An IMAP source from `imap://USER@HOST:PORT` (plain, loopback tests) or `imaps://`."""
    parsed = urlsplit(url)
    if parsed.scheme not in ("imap", "imaps") or not parsed.hostname or not parsed.username:
        raise ConfigError("--imap: expected imap://USER@HOST[:PORT] or imaps://USER@HOST[:PORT]")
    if parsed.password is not None:
        raise ConfigError(
            "--imap: a password in the URL is refused (ps and shell history show it); "
            "give --password-env NAME"
        )
    if not password_env:
        raise ConfigError("--imap: give --password-env NAME (the password is never an argument)")
    return ImapSourceSettings(
        name=name,
        host=parsed.hostname,
        port=parsed.port or (993 if parsed.scheme == "imaps" else 143),
        security="tls" if parsed.scheme == "imaps" else "none",
        user=unquote(parsed.username),
        password_env=password_env,
        folders=folders,
    )


def sync_source(
    gallra: App, source: ImapSourceSettings, *, progress: Progress | None = None
) -> IngestSummary:
    """Sync one configured IMAP source; counts summed over its folders."""
    from gallra.own_addresses import retag_own

    config = gallra.imap_config(source)
    own = (source.user.lower(),) if "@" in source.user else ()
    retag_own(gallra, extra=own)  # an address listed since the last run is nobody's
    remove_dead_temporaries(gallra)  # a killed run's leftovers go before this run adds any
    options = SyncOptions(
        batch_size=gallra.settings.mail.batch_size,
        batch_bytes=gallra.settings.mail.batch_bytes,
        ingest_delay_hours=source.ingest_delay_hours,
        after_store=source.after_store,
        move_to=source.move_to,
    )
    with gallra.mail_ingestor(extra_own=own) as ingestor:
        reports = sync_mailbox(
            lambda: ImapMailbox(config),
            ingestor,
            options,
            source_name=source.name,
            now=gallra.clock.now(),
            where=f"{source.host}:{source.port}",
            progress=progress,
        )
    gallra.bind_keys()
    total = IngestSummary()
    for report in reports:
        total.add(report.summary)
    return total


def configured_source(gallra: App, name: str) -> ImapSourceSettings:
    """The configured mail source with this name."""
    for source in gallra.settings.mail.sources:
        if source.name == name:
            return source
    raise ConfigError(f"mail source {name}: not configured in [[mail.sources]]")


def sweep(gallra: App, options: SweepOptions | None = None) -> SweepResult:
    """The retention sweep with this app's store, policy, clock, source erasers and keys.

    It also removes what a killed run left in GALLRA_HOME's private work
    folders (an index snapshot, an export bundle) once it is 12 hours old.
    """
    options = options or SweepOptions()
    engine = gallra.require_index()
    with nullcontext() if options.dry_run else exclusive(engine, wait=options.lock_wait_seconds):
        gallra.reread_master_key()  # a rotation may have finished while this waited
        result = run_sweep(
            engine,
            gallra.blobs,
            gallra.policy,
            gallra.clock,
            options=options,
            hash_key=gallra.hash_key,
            erasers=gallra.source_erasers(),
            keystore=gallra.keystore if gallra.settings.keys.encrypt else None,
        )
    if not options.dry_run:
        home = gallra.settings.home
        result.stale_temp_removed = remove_dead_temporaries(gallra) + remove_stale(
            [home / "tmp", home / "work"], older_than=timedelta(hours=12)
        )
    return result


def temporary_folders(gallra: App) -> list[Path]:
    """Where gallra keeps temporaries: the home's tmp/ and work/, the local store's .tmp/."""
    home = gallra.settings.home
    folders = [home / "tmp", home / "work"]
    if gallra.settings.blobs.backend == "local":
        folders.append(gallra.settings.blob_path / ".tmp")
    return folders


def remove_dead_temporaries(gallra: App) -> int:
    """What killed runs of this host left (their owner no longer runs); how many went."""
    return remove_dead(temporary_folders(gallra))


def remove_stale(folders: list[Path], *, older_than: timedelta) -> int:
    """Delete entries of these folders untouched for `older_than` (wall clock); how many."""
    return remove_older(folders, older_than=older_than)


@dataclass
class BackupRun:
    """A backup written and the expired ones deleted (keys are opaque names)."""

    key: str
    size: int
    kind: str
    pruned: list[str]


def backup_now(gallra: App) -> BackupRun:
    """Write a backup, then delete those past retention (with their keys)."""
    engine = gallra.require_index()
    info = write_backup(
        engine,
        gallra.settings.index_url,
        gallra.blobs,
        gallra.clock.now(),
        gallra.settings.home / "tmp",
    )
    pruned = prune_backups(
        engine,
        gallra.blobs,
        gallra.clock.now(),
        timedelta(days=gallra.settings.backup.retention_days),
    )
    return BackupRun(key=info.key, size=info.size, kind=info.kind, pruned=pruned)


def ingest_s3_inbox(gallra: App) -> RecordingSummary:
    """Recordings put into the configured S3 inbox prefix (complete once visible).

    Each object is streamed to a private temp folder under GALLRA_HOME,
    taken in like a dropped file, and removed from the inbox once stored
    (or quarantined, with its bytes kept in the quarantine folder).
    """
    from storage.s3 import S3BlobStore, make_s3_client

    rec = gallra.settings.recordings
    blobs = gallra.settings.blobs
    inbox = S3BlobStore(
        make_s3_client(endpoint_url=blobs.endpoint_url, region=blobs.region),
        rec.s3_inbox_bucket,
        prefix=rec.s3_inbox_prefix,
    )
    ingestor = gallra.recording_ingestor(after_store="delete")
    summary = RecordingSummary()
    work = gallra.settings.home / "tmp" / owned_name()
    work.mkdir(parents=True, mode=0o700)
    try:
        keys = set(inbox.keys())
        for key in sorted(k for k in keys if not k.endswith(".json")):
            local = work / Path(key).name
            for name, target in (
                (key, local),
                (key + ".json", local.with_name(local.name + ".json")),
            ):
                if name in keys:
                    with inbox.open(name) as stream, target.open("wb") as out:
                        shutil.copyfileobj(stream, out, 1024 * 1024)
            part = RecordingSummary()
            ingestor.ingest_file(local, work, part, stable=True)
            summary.add(part)
            if not local.exists():  # stored and verified, or moved to quarantine
                inbox.delete([key, *([key + ".json"] if key + ".json" in keys else [])])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def ingest_recordings(
    gallra: App,
    folders: list[Path] | None = None,
    *,
    progress: Callable[[RecordingSummary], None] | None = None,
) -> RecordingSummary:
    """The given folders, or every configured drop folder and the S3 inbox."""
    rec = gallra.settings.recordings
    chosen = folders if folders is not None else list(rec.folders)
    if folders is None and not chosen and not rec.s3_inbox_bucket:
        raise ConfigError(
            "ingest recordings: give --dir, or set recordings.folders / recordings.s3_inbox_bucket"
        )
    ingestor = gallra.recording_ingestor()
    total = RecordingSummary()
    for folder in chosen:
        total.add(ingestor.ingest_folder(folder, progress=progress))
    if folders is None and rec.s3_inbox_bucket:
        total.add(ingest_s3_inbox(gallra))
    gallra.bind_keys()
    return total


def tell_practice(gallra: App, failed_steps: list[str]) -> dict[str, int]:
    """After a nightly run: e-mail the practice when something needs a person (counts only)."""
    from gallra.digest import compose, needs_her, send
    from gallra.overview import overview

    notify = gallra.settings.notify
    if not notify.to:
        return {"sent": 0}
    digest = needs_her(overview(gallra), failed_steps, due_within_days=notify.due_within_days)
    if not digest.anything:
        return {"sent": 0}
    send(compose(digest, notify), notify)
    return {"sent": 1}
