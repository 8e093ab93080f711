"""`gallra ingest recordings`, `gallra items unassigned`, `gallra item assign|get`."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from gallra.cli_ingest import ingest_app
from gallra.coach import assign_item
from gallra.context import app_of
from gallra.errors import NotFound
from gallra.jobs import ingest_recordings
from gallra.output import emit, iso
from ingest.recordings import RecordingSummary
from models.errors import InvalidInput
from models.tables import Item
from storage.audit import record
from storage.blobs import CHUNK, open_for_item
from storage.listing import unassigned_items

__all__ = ["item_app", "items_app", "quarantine_entries"]

items_app = typer.Typer(help="Items in the index.", no_args_is_help=True)
item_app = typer.Typer(help="One item.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@ingest_app.command("recordings")
def ingest_recordings_cmd(
    ctx: typer.Context,
    folder: Annotated[
        list[Path] | None, typer.Option("--dir", help="A drop folder (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Take in recorded sessions: checked, stored once, tagged; the source copy removed."""
    gallra = app_of(ctx)

    def show(done: RecordingSummary) -> None:
        sys.stderr.write(f"\r  {done.seen} files: {done.new} new, {done.quarantined} quarantined")
        sys.stderr.flush()

    on_terminal = sys.stderr.isatty() and not as_json
    summary = ingest_recordings(gallra, folder, progress=show if on_terminal else None)
    if on_terminal:
        sys.stderr.write("\n")
    data = asdict(summary)
    data.pop("item_ids")
    emit(
        data,
        as_json=as_json,
        lines=[
            f"{summary.new} new recordings, {summary.duplicates} already stored, "
            f"{summary.quarantined} quarantined, {summary.unassigned} unassigned, "
            f"{summary.not_yet_stable} still being copied (next run)",
        ],
    )


@items_app.command("unassigned")
def items_unassigned(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Items tied to nobody: they fall under the 3-month rule until assigned."""
    gallra = app_of(ctx)
    with gallra.session() as session:
        rows = unassigned_items(session)
    data = [
        {
            "id": i.id,
            "kind": i.kind,
            "title": i.title,
            "received_at": iso(i.received_at),
            "expires_at": iso(i.expires_at),
            "note": i.parse_error,
        }
        for i in rows
    ]
    emit(
        data,
        as_json=as_json,
        lines=[
            f"{i.id:>6} {i.kind:<10} {i.received_at.date()}  goes "
            f"{i.expires_at.date() if i.expires_at else '-'}  {i.title}"
            for i in rows
        ]
        or ["nothing unassigned"],
    )


@item_app.command("assign")
def item_assign(
    ctx: typer.Context, item_id: int, subject_id: int, as_json: JsonOpt = False
) -> None:
    """Tie an item to a person; its expiry is recomputed (a session follows the contract)."""
    done = assign_item(app_of(ctx), item_id=item_id, subject_id=subject_id)
    emit(
        {
            "item_id": item_id,
            "subject_id": subject_id,
            "expires_at": done.expires_on,
            "rule": done.rule_id,
        },
        as_json=as_json,
        lines=[
            f"item {item_id} assigned to subject {subject_id}; rule {done.rule_id}, "
            f"goes {done.expires_on or 'not yet (contract running)'}"
        ],
    )


@item_app.command("get")
def item_get(
    ctx: typer.Context,
    item_id: int,
    out: Annotated[Path, typer.Option(help="File to write (must not exist).")],
    as_json: JsonOpt = False,
) -> None:
    """Write an item's stored bytes (decrypted, checked against its sha256) to --out; audited.

    This is how an export bundle made by the export_subject flow is fetched.
    """
    gallra = app_of(ctx)
    with gallra.session() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise NotFound(f"item {item_id}: no such item")
        record(session, actor="cli", action="download", at=gallra.clock.now(), item_id=item_id)
    digest = hashlib.sha256()
    try:
        with open_for_item(gallra.blobs, item_id, item.blob_key) as stream, out.open("xb") as sink:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                sink.write(chunk)
    except FileExistsError:
        raise InvalidInput(f"--out {out}: already exists") from None
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    if digest.hexdigest() != item.sha256:
        out.unlink(missing_ok=True)
        raise InvalidInput(f"item {item_id}: stored bytes do not match their sha256")
    emit(
        {"item_id": item_id, "file": str(out), "size": item.size, "sha256": item.sha256},
        as_json=as_json,
        lines=[f"item {item_id} written to {out} ({item.size} bytes, sha256 checked)"],
    )


def quarantine_entries(folder: Path) -> list[dict[str, Any]]:
    """Quarantined files with their reasons (for doctor)."""
    if not folder.is_dir():
        return []
    entries = []
    for reason_file in sorted(folder.glob("*.reason.json")):
        data = json.loads(reason_file.read_text(encoding="utf-8"))
        entries.append({"file": reason_file.name.removesuffix(".reason.json"), **data})
    return entries
