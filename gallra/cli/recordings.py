"""`gallra ingest recordings`, `gallra items unassigned`, `gallra item assign|get`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gallra.cli.context import app_of, audit
from gallra.cli.output import JsonOpt, emit, group, iso, local_day, plural

if TYPE_CHECKING:
    from gallra.wiring import App
    from ingest.recordings import RecordingSummary

__all__ = ["ingest_recordings_cmd", "item_app", "items_app", "quarantine_entries"]

items_app = group("Items in the index.")
item_app = group("One item.")


def ingest_recordings_cmd(
    ctx: typer.Context,
    folder: Annotated[
        list[Path] | None, typer.Option("--dir", help="A drop folder (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Take in recorded sessions: checked, stored once, tagged; the source copy removed."""
    from dataclasses import asdict

    from gallra.jobs import ingest_recordings

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
            f"{plural(summary.new, 'new recording')}, {summary.duplicates} already stored, "
            f"{summary.quarantined} quarantined, {summary.unassigned} unassigned, "
            f"{summary.not_yet_stable} still being copied (next run)",
        ],
    )


@items_app.command("unassigned")
def items_unassigned(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Items tied to nobody: they fall under the 3-month rule until assigned."""
    from storage.listing import unassigned_items

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
            f"{i.id:>6} {i.kind:<10} {local_day(i.received_at)}  deletable from "
            f"{local_day(i.expires_at)}  {i.title}"
            for i in rows
        ]
        or ["nothing unassigned"],
    )


@item_app.command("assign")
def item_assign(
    ctx: typer.Context, item_id: int, subject_id: int, as_json: JsonOpt = False
) -> None:
    """Tie an item to a person; its expiry is recomputed (a session follows the contract)."""
    from gallra.coach import assign_item

    gallra = app_of(ctx)
    done = assign_item(gallra, item_id=item_id, subject_id=subject_id)
    audit(gallra, "assign", item_id=item_id, subject_id=subject_id)
    emit(
        {
            "item_id": item_id,
            "subject_id": subject_id,
            "expires_at": iso(done.expires_at),
            "rule": done.rule_id,
        },
        as_json=as_json,
        lines=[
            f"item {item_id} assigned to subject {subject_id}; rule {done.rule_id}, "
            + (
                f"deletable from {local_day(done.expires_at)}"
                if done.expires_at
                else "kept while the agreement runs"
            )
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
    A download that fails is recorded as failed, with the reason's type.
    """
    gallra = app_of(ctx)
    try:
        item = _write_item(gallra, item_id, out)
    except Exception as exc:
        audit(gallra, "download-failed", item_id=item_id, detail={"why": type(exc).__name__})
        raise
    audit(gallra, "download", item_id=item_id)
    emit(
        {"item_id": item_id, "file": str(out), "size": item.size, "sha256": item.sha256},
        as_json=as_json,
        lines=[f"item {item_id} written to {out} ({item.size} bytes, sha256 checked)"],
    )


def _write_item(gallra: App, item_id: int, out: Path) -> Any:
    """The item's bytes to a new private file, checked; the item row. Nothing left on failure."""
    from gallra.errors import NotFound
    from models.tables import Item
    from storage.blobs import open_for_item
    from storage.sink import copy_checked, file_sink

    with gallra.session() as session:
        item = session.get(Item, item_id)
    if item is None:
        raise NotFound(f"item {item_id}: no such item")
    with (
        file_sink(out, exclusive=True) as sink,
        open_for_item(gallra.blobs, item_id, item.blob_key) as stream,
    ):
        copy_checked(stream, sink, sha256=item.sha256, what=f"item {item_id}")
    return item


def quarantine_entries(folder: Path) -> list[dict[str, Any]]:
    """Quarantined files with their reasons (for doctor)."""
    if not folder.is_dir():
        return []
    entries = []
    for reason_file in sorted(folder.glob("*.reason.json")):
        data = json.loads(reason_file.read_text(encoding="utf-8"))
        entries.append({"file": reason_file.name.removesuffix(".reason.json"), **data})
    return entries
