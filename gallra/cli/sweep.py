"""`gallra sweep`, `gallra hold ...`, `gallra ledger verify`."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer

from gallra.cli.context import app_of, audit, parse_date
from gallra.cli.output import JsonOpt, emit, group, iso, local_day, plural
from models.enums import HoldKind

if TYPE_CHECKING:
    from gallra.wiring import App
    from storage.sweep import SweepResult

__all__ = ["hold_app", "ledger_app", "sweep"]

hold_app = group("Legal holds and restrictions: frozen data is never deleted.")
ledger_app = group("The deletion ledger.")


def _people(names: list[tuple[int, str]]) -> str:
    return ", ".join(f"{name} (#{sid})" for sid, name in names) or "nobody"


def _preview_lines(gallra: App, result: SweepResult, *, per_day: bool) -> list[str]:
    """What would go, item by item (or day by day), and what a hold stops."""
    from storage.listing import items_overview

    with gallra.session() as session:
        going = {o.item_id: o for o in items_overview(session, result.would_delete_item_ids)}
        held = items_overview(session, result.held_past_expiry_item_ids)
    lines: list[str] = []
    if per_day:
        days = Counter(entry["deletable_from"] or "-" for entry in result.would_delete)
        lines += [f"  {day}: {plural(n, 'item')}" for day, n in sorted(days.items())]
    for entry in result.would_delete:
        item = going.get(entry["item_id"])
        if item is None:
            continue
        lines.append(
            f"  #{item.item_id} {item.kind} {local_day(item.received_at)} rule {entry['rule']}"
            f" from {entry['deletable_from']}  {_people(item.people)}"
        )
    lines += [
        f"  held: #{item.item_id} {item.kind} {local_day(item.received_at)} rule {item.rule_id}"
        f" ({', '.join(item.holds) or 'hold'})  {_people(item.people)}"
        for item in held
    ]
    return lines


def sweep(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go; touch nothing.")
    ] = False,
    preview: Annotated[
        int | None,
        typer.Option(help="Dry run: what would go within this many days, per day.", min=0),
    ] = None,
    batch_size: Annotated[
        int, typer.Option(help="Items per batch (S3 deletes up to 1000).", min=1, max=100_000)
    ] = 500,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every expiry, then delete what is due and not held, everywhere it lives."""
    from gallra.jobs import sweep as sweep_job
    from storage.sweep import SweepOptions

    gallra = app_of(ctx)
    options = SweepOptions(
        dry_run=dry_run or preview is not None, preview_days=preview or 0, batch_size=batch_size
    )
    result = sweep_job(gallra, options)
    if result.dry_run:
        count = len(result.would_delete_item_ids)
        head = f"sweep as of {local_day(gallra.clock.now())}"
        if preview:
            head += f" and the next {plural(preview, 'day')}"
        lines = [f"{head}: would delete {plural(count, 'item')} ({result.bytes_freed} bytes)"]
    else:
        lines = [
            f"sweep as of {local_day(gallra.clock.now())}: deleted {plural(result.deleted, 'item')}"
            f" ({result.bytes_freed} bytes), {plural(result.subjects_deleted, 'person', 'people')}"
            f", resumed {result.resumed}"
        ]
    lines += [f"  rule {rule}: {n}" for rule, n in sorted(result.deleted_by_rule.items())]
    lines.append(f"  expiry dates recomputed: {result.expiry_changes} changed")
    lines.append(f"  held past expiry (not deleted): {result.held_past_expiry}")
    if result.dry_run:
        lines += _preview_lines(gallra, result, per_day=preview is not None)
    lines += [
        f"  FAILED item {f['item_id']}: {f['reason']} (retried next sweep)" for f in result.failures
    ]
    emit(result.as_dict(), as_json=as_json, lines=lines)
    if result.failures:
        raise typer.Exit(1)


@hold_app.command("add")
def hold_add(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why (kept in the index, never logged).")],
    subject: Annotated[int | None, typer.Option(help="Freeze everything of this subject.")] = None,
    item: Annotated[int | None, typer.Option(help="Freeze one item.")] = None,
    kind: Annotated[
        HoldKind, typer.Option(help="legal_hold or restriction.")
    ] = HoldKind.LEGAL_HOLD,
    review_on: Annotated[str | None, typer.Option(help="Review date YYYY-MM-DD.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Place a hold: the data is neither used nor deleted until it is lifted."""
    from storage.holds import add_hold

    gallra = app_of(ctx)
    with gallra.session() as session:
        hold = add_hold(
            session,
            kind=kind,
            reason=reason,
            subject_id=subject,
            item_id=item,
            review_on=parse_date(review_on, option="--review-on") if review_on else None,
        )
    audit(gallra, "hold-add", subject_id=subject, item_id=item, detail={"hold_id": hold.id})
    emit({"id": hold.id}, as_json=as_json, lines=[f"hold {hold.id} placed"])


@hold_app.command("lift")
def hold_lift(ctx: typer.Context, hold_id: int, as_json: JsonOpt = False) -> None:
    """Lift a hold; the next sweep deletes what has expired meanwhile."""
    from storage.holds import lift_hold

    gallra = app_of(ctx)
    with gallra.session() as session:
        hold = lift_hold(session, hold_id=hold_id, at=gallra.clock.now())
    audit(
        gallra,
        "hold-lift",
        subject_id=hold.subject_id,
        item_id=hold.item_id,
        detail={"hold_id": hold.id},
    )
    emit(
        {"id": hold.id, "lifted_at": iso(hold.lifted_at)},
        as_json=as_json,
        lines=[f"hold {hold.id} lifted"],
    )


@hold_app.command("list")
def hold_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Active holds, with review dates (overdue reviews flagged)."""
    from storage.holds import active_holds

    gallra = app_of(ctx)
    with gallra.session() as session:
        holds = active_holds(session)
    rows = [
        {
            "id": h.id,
            "kind": h.kind,
            "subject_id": h.subject_id,
            "item_id": h.item_id,
            "reason": h.reason,
            "review_on": iso(h.review_on),
            "review_overdue": h.review_on is not None and h.review_on < gallra.today,
        }
        for h in holds
    ]
    lines = [
        f"{r['id']:>4} {r['kind']:<12} "
        + (f"subject {r['subject_id']}" if r["subject_id"] else f"item {r['item_id']}")
        + (
            f"  review {r['review_on']}" + (" OVERDUE" if r["review_overdue"] else "")
            if r["review_on"]
            else ""
        )
        for r in rows
    ]
    emit(rows, as_json=as_json, lines=lines or ["no active holds"])


@ledger_app.command("verify")
def ledger_verify(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Check the hash chain (and the head the last sweep saw); exit 1 at the first broken entry."""
    from dataclasses import asdict

    from storage import ledger
    from storage.sweep import last_recorded_head

    gallra = app_of(ctx)
    with gallra.session() as session:
        verdict = ledger.verify(session, expected_head=last_recorded_head(session))
    line = (
        f"ledger ok: {plural(verdict.entries, 'entry', 'entries')}"
        if verdict.ok
        else f"ledger BROKEN at entry {verdict.first_broken}: {verdict.reason}"
    )
    emit(asdict(verdict), as_json=as_json, lines=[line])
    if not verdict.ok:
        raise typer.Exit(1)
