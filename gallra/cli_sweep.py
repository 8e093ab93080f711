"""`gallra sweep`, `gallra hold ...`, `gallra ledger verify`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from gallra.context import app_of, parse_date
from gallra.jobs import sweep as sweep_job
from gallra.output import emit, iso
from models.enums import HoldKind
from storage import ledger
from storage.holds import active_holds, add_hold, lift_hold
from storage.sweep import SweepOptions, last_recorded_head

__all__ = ["hold_app", "ledger_app", "sweep"]

hold_app = typer.Typer(
    help="Legal holds and restrictions: frozen data is never deleted.", no_args_is_help=True
)
ledger_app = typer.Typer(help="The deletion ledger.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def sweep(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would go; touch nothing.")
    ] = False,
    preview: Annotated[
        int | None, typer.Option(help="Dry run: what would go within this many days.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Items per batch (S3 deletes up to 1000).")] = 500,
    as_json: JsonOpt = False,
) -> None:
    """Recompute every expiry, then delete what is due and not held, everywhere it lives."""
    gallra = app_of(ctx)
    options = SweepOptions(
        dry_run=dry_run or preview is not None, preview_days=preview or 0, batch_size=batch_size
    )
    result = sweep_job(gallra, options)
    verb = "would delete" if result.dry_run else "deleted"
    count = len(result.would_delete_item_ids) if result.dry_run else result.deleted
    lines = [
        f"sweep as of {result.as_of}: {verb} {count} items ({result.bytes_freed} bytes)"
        + (
            ""
            if result.dry_run
            else f", {result.subjects_deleted} people, resumed {result.resumed}"
        ),
        *(f"  rule {rule}: {n}" for rule, n in sorted(result.deleted_by_rule.items())),
        f"  expiry dates recomputed: {result.expiry_changes} changed",
        f"  held past expiry (not deleted): {result.held_past_expiry}",
    ]
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
    emit({"id": hold.id}, as_json=as_json, lines=[f"hold {hold.id} placed"])


@hold_app.command("lift")
def hold_lift(ctx: typer.Context, hold_id: int, as_json: JsonOpt = False) -> None:
    """Lift a hold; the next sweep deletes what has expired meanwhile."""
    gallra = app_of(ctx)
    with gallra.session() as session:
        hold = lift_hold(session, hold_id=hold_id, at=gallra.clock.now())
    emit(
        {"id": hold.id, "lifted_at": iso(hold.lifted_at)},
        as_json=as_json,
        lines=[f"hold {hold.id} lifted"],
    )


@hold_app.command("list")
def hold_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Active holds, with review dates (overdue reviews flagged)."""
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
    gallra = app_of(ctx)
    with gallra.session() as session:
        verdict = ledger.verify(session, expected_head=last_recorded_head(session))
    line = (
        f"ledger ok: {verdict.entries} entries"
        if verdict.ok
        else f"ledger BROKEN at entry {verdict.first_broken}: {verdict.reason}"
    )
    emit(asdict(verdict), as_json=as_json, lines=[line])
    if not verdict.ok:
        raise typer.Exit(1)
