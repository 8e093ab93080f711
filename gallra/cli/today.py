"""`gallra today`: what needs a person, the same facts as the web page's start page."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer

from gallra.cli.context import app_of, audit
from gallra.cli.output import JsonOpt, emit, local_time, plural

__all__ = ["today"]


def _deadline(days_left: int) -> str:
    if days_left < 0:
        return f"OVERDUE by {plural(-days_left, 'day')}"
    return "due today" if days_left == 0 else f"{plural(days_left, 'day')} left"


def today(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """What needs a person today: requests due, what is deleted tonight, last night's run."""
    from gallra.overview import overview

    gallra = app_of(ctx)
    facts = overview(gallra)
    audit(gallra, "view-today")
    data: dict[str, Any] = asdict(facts)
    lines = [f"requests open: {len(facts.requests)}"]
    lines += [
        f"  #{r.id} {r.right} for {r.name or 'a deleted person'}: {_deadline(r.days_left)}"
        for r in facts.requests
    ]
    for ahead in facts.deletions:
        when = "tonight" if ahead.days == 1 else f"within {ahead.days} days"
        held = f" ({plural(ahead.held, 'item')} held past its date)" if ahead.held else ""
        lines.append(f"deleted {when}: {plural(ahead.items, 'item')}{held}")
        lines += [
            f"  {p.name or 'unassigned'}: {plural(p.items, 'item')}" for p in ahead.people[:10]
        ]
    lines.append(
        f"past their date: {facts.past_date_held} held, "
        f"{facts.past_date_not_deleted} not deleted yet"
    )
    lines.append(f"unassigned: {plural(facts.unassigned, 'item')}")
    run = facts.last_run
    if run is None:
        lines.append("last nightly run: none yet")
    else:
        lines.append(f"last nightly run: {run.status}, started {local_time(run.started_at)}")
        lines += [
            f"  {s.step}: {s.status}" + (f" ({s.error_type})" if s.error_type else "")
            for s in run.steps
        ]
    lines.append(f"problems (see `gallra doctor`): {facts.problems}")
    if facts.dominant is not None:
        lines.append(
            f"warning: {facts.dominant.name} (#{facts.dominant.subject_id}) is on "
            f"{facts.dominant.items} e-mails, more than half: likely the practice's own "
            "address; add it to mail.own_addresses"
        )
    emit(data, as_json=as_json, lines=lines)
