"""Jobs the CLI and the Prefect flows both run: plain functions over an App.

Results are counts and ids only, so they can be returned from Prefect tasks
and printed without personal data.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from gallra.errors import ConfigError
from gallra.settings import ImapSourceSettings
from gallra.wiring import App
from ingest.imap import ImapMailbox
from ingest.mail import IngestSummary
from ingest.mail_sync import SyncOptions, sync_mailbox
from storage.sweep import SweepOptions, SweepResult, run_sweep

__all__ = ["adhoc_source", "configured_source", "sweep", "sync_source"]


def adhoc_source(
    url: str, *, password_env: str, folders: list[str], name: str
) -> ImapSourceSettings:
    """An IMAP source from `imap://USER@HOST:PORT` (plain, loopback tests) or `imaps://`."""
    parsed = urlsplit(url)
    if parsed.scheme not in ("imap", "imaps") or not parsed.hostname or not parsed.username:
        raise ConfigError("--imap: expected imap://USER@HOST[:PORT] or imaps://USER@HOST[:PORT]")
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


def sync_source(gallra: App, source: ImapSourceSettings) -> IngestSummary:
    """Sync one configured IMAP source; counts summed over its folders."""
    config = gallra.imap_config(source)
    own = (source.user.lower(),) if "@" in source.user else ()
    options = SyncOptions(
        batch_size=gallra.settings.mail.batch_size,
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
        )
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
    """The retention sweep with this app's store, policy, clock and source erasers."""
    return run_sweep(
        gallra.require_index(),
        gallra.blobs,
        gallra.policy,
        gallra.clock,
        options=options or SweepOptions(),
        hash_key=gallra.hash_key,
        erasers=gallra.source_erasers(),
    )
