"""`gallra ingest recordings`, `gallra items unassigned`, `gallra item assign`."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import col, select

from gallra.cli_ingest import ingest_app
from gallra.context import app_of
from gallra.errors import NotFound
from gallra.jobs import ingest_recordings
from gallra.output import emit, iso
from ingest.recordings import RecordingSummary
from models.enums import ItemState
from models.tables import Item, ItemSubject, Subject
from storage.items import link_subjects, stamp_expiry

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
        linked = select(ItemSubject.item_id)
        rows = list(
            session.exec(
                select(Item)
                .where(
                    col(Item.id).not_in(linked),
                    Item.state == ItemState.LIVE.value,
                    col(Item.parse_status) != "skipped",
                )
                .order_by(col(Item.id))
            )
        )
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
    gallra = app_of(ctx)
    with gallra.session() as session:
        item = session.get(Item, item_id)
        if item is None:
            raise NotFound(f"item {item_id}: no such item")
        if session.get(Subject, subject_id) is None:
            raise NotFound(f"subject {subject_id}: no such subject")
        link_subjects(
            session, item_id=item_id, links=[(subject_id, "assigned", "assigned by the coach")]
        )
        subject_ids = [
            s
            for s in session.exec(
                select(ItemSubject.subject_id).where(ItemSubject.item_id == item_id)
            )
        ]
        children = list(session.exec(select(Item).where(Item.parent_id == item_id)))
        for child in children:
            assert child.id is not None
            link_subjects(
                session,
                item_id=child.id,
                links=[(subject_id, "assigned", f"attachment of item {item_id}")],
            )
            stamp_expiry(session, gallra.policy, item=child, subject_ids=subject_ids)
        stamp_expiry(session, gallra.policy, item=item, subject_ids=subject_ids)
    emit(
        {
            "item_id": item_id,
            "subject_id": subject_id,
            "expires_at": iso(item.expires_at),
            "rule": item.rule_id,
        },
        as_json=as_json,
        lines=[
            f"item {item_id} assigned to subject {subject_id}; rule {item.rule_id}, "
            f"goes {iso(item.expires_at) or 'not yet (contract running)'}"
        ],
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
