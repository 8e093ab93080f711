"""`gallra ingest mail ...` and `gallra doctor`.

Over 300 lines because doctor reports on what the ingests leave (parse
problems, unfetched messages, quarantine, items left deleting).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gallra.cli.context import app_of
from gallra.cli.output import JsonOpt, emit, group, local_time, plural

if TYPE_CHECKING:
    from gallra.settings import ImapSourceSettings
    from gallra.wiring import App
    from ingest.archives import PassedOver
    from ingest.mail import IngestSummary, MailIngestor, RawMessage
    from storage.health import Flagged

__all__ = ["doctor", "ingest_app", "run_archive"]

ingest_app = group("Pull data in.")


def run_archive(
    ingestor: MailIngestor,
    messages: Iterable[RawMessage],
    *,
    batch_size: int,
    batch_bytes: int,
    progress: bool,
) -> IngestSummary:
    """Feed an archive through the pipeline in batches, pending leftovers first."""
    from ingest.archives import batched

    total = ingestor.finish_pending()
    done = 0
    batches = ((batch, None) for batch in batched(messages, batch_size, batch_bytes))
    for summary in ingestor.ingest_stream(batches):
        total.add(summary)
        done += summary.fetched
        if progress:
            sys.stderr.write(f"\r  {done} messages")
            sys.stderr.flush()
    if progress:
        sys.stderr.write("\n")
    return total


def _one_source(
    mbox: Path | None,
    maildir: Path | None,
    eml_dir: Path | None,
    *,
    suffixes: list[str],
    passed_over: PassedOver,
) -> Iterator[RawMessage]:
    from gallra.errors import ConfigError
    from ingest.archives import read_eml_dir, read_maildir, read_mbox

    chosen = [p for p in (mbox, maildir, eml_dir) if p is not None]
    if len(chosen) > 1:
        raise ConfigError("ingest mail: give one of --mbox, --maildir, --eml-dir, --imap")
    if mbox is not None:
        return read_mbox(mbox)
    if maildir is not None:
        return read_maildir(maildir)
    assert eml_dir is not None
    return read_eml_dir(eml_dir, suffixes=suffixes, passed_over=passed_over)


def summary_lines(summary: IngestSummary) -> list[str]:
    """A person's view of an ingest summary."""
    return [
        f"{summary.new} new, {plural(summary.duplicates, 'duplicate')}, "
        f"{summary.skipped_bulk} bulk skipped, {plural(summary.parse_errors, 'parse error')}, "
        f"{summary.parse_warnings} with warnings",
        f"{plural(summary.attachments, 'attachment')}, "
        f"{plural(summary.prospects_created, 'new prospect')}, "
        f"{summary.previously_deleted} already deleted once (not restored)",
    ] + (
        [f"{summary.unfetched} the server would not deliver (tried again next run; gallra doctor)"]
        if summary.unfetched
        else []
    )


@ingest_app.command("mail")
def ingest_mail(
    ctx: typer.Context,
    mbox: Annotated[Path | None, typer.Option(help="An mbox file.")] = None,
    maildir: Annotated[Path | None, typer.Option(help="A Maildir (subfolders included).")] = None,
    eml_dir: Annotated[
        Path | None, typer.Option(help="A folder of message files (.eml, .msg; see --suffix).")
    ] = None,
    suffix: Annotated[
        list[str] | None,
        typer.Option(help="With --eml-dir: read files with this ending too (repeatable)."),
    ] = None,
    imap: Annotated[
        str | None, typer.Option(help="imaps://USER@HOST[:PORT] (imap:// for plain loopback).")
    ] = None,
    password_env: Annotated[str, typer.Option(help="Env var holding the IMAP password.")] = "",
    folder: Annotated[list[str] | None, typer.Option(help="IMAP folder (repeatable).")] = None,
    source: Annotated[
        list[str] | None, typer.Option(help="A configured source by name (default: all).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest mail: an archive, an ad hoc IMAP mailbox, or the configured sources.

    Raw bytes are stored first, then indexed, tagged and dated. With no option,
    every source in gallra.toml [[mail.sources]] is synced.
    """
    import gc
    from dataclasses import asdict

    from gallra.errors import ConfigError
    from ingest.archives import EML_SUFFIXES, PassedOver

    gallra = app_of(ctx)
    # A bulk ingest makes many short-lived objects that refcounting frees; the modules
    # loaded so far need not be traced again (2000 messages: user CPU 3.42 -> 3.22 s).
    gc.freeze()
    passed_over = PassedOver()
    on_terminal = sys.stderr.isatty() and not as_json
    if mbox is not None or maildir is not None or eml_dir is not None:
        if imap is not None:
            raise ConfigError("ingest mail: give one of --mbox, --maildir, --eml-dir, --imap")
        messages = _one_source(
            mbox, maildir, eml_dir, suffixes=[*EML_SUFFIXES, *(suffix or [])],
            passed_over=passed_over,
        )  # fmt: skip
        summary = _ingest_archive(gallra, messages, progress=on_terminal)
    else:
        chosen = _chosen_sources(gallra, imap, password_env, folder or [], source or [])
        summary = _sync_sources(gallra, chosen, progress=on_terminal)
    data = asdict(summary)
    data["passed_over"] = asdict(passed_over)
    data.pop("item_ids")
    emit(data, as_json=as_json, lines=summary_lines(summary) + _passed_over_lines(passed_over))


def _ingest_archive(
    gallra: App, messages: Iterator[RawMessage], *, progress: bool
) -> IngestSummary:
    """An archive through the pipeline; its people's keys bound after."""
    from gallra.jobs import remove_dead_temporaries
    from gallra.own_addresses import retag_own

    retag_own(gallra)  # an address listed since the last run is nobody's
    remove_dead_temporaries(gallra)  # a killed run's leftovers go before this run adds any
    with gallra.mail_ingestor() as ingestor:
        summary = run_archive(
            ingestor,
            messages,
            batch_size=gallra.settings.mail.batch_size,
            batch_bytes=gallra.settings.mail.batch_bytes,
            progress=progress,
        )
    gallra.bind_keys()
    return summary


def _chosen_sources(
    gallra: App, imap: str | None, password_env: str, folders: list[str], names: list[str]
) -> list[ImapSourceSettings]:
    """The ad hoc --imap source, or the configured ones (those named, or all)."""
    from gallra.errors import ConfigError
    from gallra.jobs import adhoc_source

    if imap is not None:
        return [adhoc_source(imap, password_env=password_env, folders=folders, name="adhoc")]
    chosen = [s for s in gallra.settings.mail.sources if not names or s.name in names]
    if not chosen:
        raise ConfigError(
            "ingest mail: no mail source; give --mbox/--maildir/--eml-dir/--imap "
            "or configure [[mail.sources]] in gallra.toml"
        )
    return chosen


def _sync_sources(
    gallra: App, sources: list[ImapSourceSettings], *, progress: bool
) -> IngestSummary:
    """Each source in turn; counts summed (progress on stderr when on a terminal)."""
    from gallra.jobs import sync_source
    from ingest.mail import IngestSummary

    def show(folder: str, done: int, total: int) -> None:
        sys.stderr.write(f"\r  {folder}: {done}/{total} messages")
        sys.stderr.flush()

    summary = IngestSummary()
    for chosen in sources:
        summary.add(sync_source(gallra, chosen, progress=show if progress else None))
    if progress:
        sys.stderr.write("\n")
    return summary


def _passed_over_lines(passed: PassedOver) -> list[str]:
    """What an --eml-dir ingest did not read, by reason (never silently)."""
    if not passed.total:
        return []
    reasons = [
        (passed.other_suffix, "with another ending (--suffix reads them)"),
        (passed.outlook_msg, "Outlook .msg (OLE2), not RFC 822 text: not read"),
        (passed.not_a_message, "not a message (no header at the start)"),
    ]
    return [f"passed over {plural(passed.total, 'file')}:"] + [
        f"  {plural(n, 'file')} {why}" for n, why in reasons if n
    ]


def doctor(
    ctx: typer.Context,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Read back every blob: decrypt, authenticate, re-hash."),
    ] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Delete orphan blobs and forget orphan keys older than a day."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """What needs a person: parse errors, quarantine, and index/store mismatches."""
    from dataclasses import asdict

    from gallra.cli.recordings import quarantine_entries
    from storage.reconcile import reconcile

    gallra = app_of(ctx)
    integrity = reconcile(
        gallra.require_index(),
        gallra.blobs,
        now=gallra.clock.now(),
        verify=verify,
        repair=repair,
        keystore=gallra.keystore if gallra.settings.keys.encrypt else None,
    )
    from gallra.overview import dominant_person
    from models.enums import ParseStatus
    from storage.health import index_health

    with gallra.session() as session:
        health = index_health(session)
        dominant = dominant_person(session)
    counts, flagged, unfetched, deleting = (
        health.counts, health.flagged, health.unfetched, health.deleting
    )  # fmt: skip
    quarantine = gallra.settings.recordings.quarantine or gallra.settings.home / "quarantine"
    quarantined = [
        {"item_id": f.item_id, "reason": f.reason}
        for f in flagged
        if f.status == ParseStatus.QUARANTINED.value
    ] + quarantine_entries(quarantine)  # and what an older version left in the folder
    lines = _status_lines(counts, flagged) + _waiting_lines(unfetched, deleting)
    lines.append(
        f"files refused at intake (kept encrypted, deleted after 30 days): {len(quarantined)}"
    )
    lines += [
        f"  {q.get('file') or 'item ' + str(q['item_id'])}: {q['reason']}" for q in quarantined
    ]
    lines += _integrity_lines(integrity, verify=verify, repair=repair)
    if dominant is not None:
        lines.append(
            f"warning: subject {dominant.subject_id} is on {dominant.items} e-mails, more than "
            "half: likely the practice's own address; add it to mail.own_addresses"
        )
    emit(
        {
            "counts": counts,
            "flagged": [asdict(f) for f in flagged],
            "unfetched": [asdict(u) for u in unfetched],
            "quarantined": quarantined,
            "deleting": [asdict(d) for d in deleting],
            "integrity": asdict(integrity),
            "dominant_subject": asdict(dominant) if dominant else None,
        },
        as_json=as_json,
        lines=lines,
    )
    if not integrity.ok and (verify or repair):
        raise typer.Exit(1)


def _waiting_lines(unfetched: list[Any], deleting: list[Any]) -> list[str]:
    """Messages a server would not deliver, and deletions left unfinished."""
    lines = []
    if unfetched:
        lines.append(
            f"{plural(len(unfetched), 'message')} the server would not deliver "
            "(tried again every sync):"
        )
        lines += [
            f"  {u.source} {u.folder} uid {u.uid}: {u.reason}, "
            f"{plural(u.attempts, 'attempt')} since {local_time(u.first_failed_at)}"
            for u in unfetched
        ]
    if deleting:
        lines.append(
            f"{plural(len(deleting), 'item')} left deleting: a copy could not be removed "
            "(retried every sweep; see the sweep's failures):"
        )
        lines += [f"  item {d.item_id} ({d.kind}) at {', '.join(d.at)}" for d in deleting]
    return lines


def _status_lines(counts: dict[str, int], flagged: list[Flagged]) -> list[str]:
    total = sum(counts.values())
    by_status = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    lines = [f"items: {total}" + (f" ({by_status})" if by_status else "")]
    lines += [f"  item {r.item_id} ({r.kind}) {r.status}: {r.reason}" for r in flagged]
    return lines


def _integrity_lines(integrity: Any, *, verify: bool, repair: bool) -> list[str]:
    lines = [
        f"store: {plural(integrity.blobs, 'blob')}, {plural(integrity.rows, 'row')}; "
        f"{len(integrity.orphan_blobs)} blobs without a row, "
        f"{len(integrity.missing_blobs)} rows without a blob"
        + (
            f", {len(integrity.corrupt)} of {integrity.verified} failed verification"
            if verify
            else ""
        )
    ]
    lines += [f"  MISSING blob of item {i}" for i in integrity.missing_blobs]
    lines += [
        f"  CORRUPT item {i}: altered or truncated in the store (fails authentication or sha256)"
        for i in integrity.corrupt
    ]
    lines += [
        f"  UNREADABLE item {i}: its data key is gone (destroyed or never recorded)"
        for i in integrity.key_missing
    ]
    if integrity.newest_backup_ok is not None:
        lines.append(
            "newest index backup: "
            + (
                "reads back whole"
                if integrity.newest_backup_ok
                else "CORRUPT (altered or truncated)"
            )
        )
    if integrity.orphan_keys:
        lines.append(
            f"key store: {integrity.orphan_keys} data keys without a blob"
            + (f", {integrity.orphan_keys_forgotten} forgotten" if repair else "")
        )
    lines += [f"  deleted orphan blob {k} (ledgered)" for k in integrity.orphans_deleted]
    return lines
