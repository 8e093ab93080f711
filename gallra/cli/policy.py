"""`gallra policy show|check`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gallra.cli.context import app_of
from gallra.cli.output import JsonOpt, emit, group

if TYPE_CHECKING:
    from models.policy import Policy

__all__ = ["policy_app"]

policy_app = group("The retention policy.")


def _rule_rows(policy: Policy) -> list[dict[str, Any]]:
    return [
        {
            "id": rule.id,
            "description": rule.description,
            "purpose": rule.purpose,
            "legal_basis": [b.value for b in rule.legal_basis] if rule.legal_basis else None,
            "subject_status": [s.value for s in rule.subject_status]
            if rule.subject_status
            else None,
            "anchor": list(rule.anchors),
            "count_from": rule.count_from,
            "period": rule.period,
            "erasable": rule.erasable,
            "law": rule.law or None,
        }
        for rule in policy.rules
    ]


@policy_app.command("show")
def policy_show(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Print the rules in force."""
    policy = app_of(ctx).policy
    rows = _rule_rows(policy)
    lines = [f"policy {policy.label}: {policy.name}"]
    for row in rows:
        start = "end of year of " if row["count_from"] == "end_of_year" else ""
        lines.append(
            f"  {row['id']:<15} {row['period']:>4} from {start}{' or '.join(row['anchor'])}"
            f"  {row['description']}"
        )
    emit(
        {"version": policy.version, "label": policy.label, "rules": rows},
        as_json=as_json,
        lines=lines,
    )


def _law_overrides(policy: Policy) -> list[dict[str, str]]:
    from models.policy import Period

    stated = Period.parse(policy.stated_maximum)
    found = []
    for rule in policy.rules:
        longer = rule.keep_period.in_months() > stated.in_months()
        if longer or (rule.law and not rule.erasable):
            found.append(
                {
                    "rule": rule.id,
                    "period": rule.period,
                    "stated_maximum": policy.stated_maximum,
                    "law": rule.law or "(no law named!)",
                    "note": (
                        f"keeps longer than the policy text's {policy.stated_maximum}: "
                        f"{'the law wins' if rule.law else 'no law is named; fix the rule'}"
                        if longer
                        else "a legal obligation: erasure cannot shorten it"
                    ),
                }
            )
    return found


@policy_app.command("check")
def policy_check(
    ctx: typer.Context,
    file: Annotated[
        Path | None, typer.Option(help="A policy file to check (default: the one in force).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate a policy, say where the law overrides the policy text, and preview its effect."""
    from models.policy import load_policy
    from storage.expiry import recompute

    gallra = app_of(ctx)
    policy = load_policy(file) if file else gallra.policy
    overrides = _law_overrides(policy)
    effect: dict[str, Any] | None = None
    if gallra.has_index():
        with gallra.session() as session:
            changes = recompute(session, policy, apply=False)
            session.rollback()
        shifts = [c.shift_days for c in changes if c.shift_days is not None]
        effect = {
            "items_moving": len(changes),
            "earlier": sum(1 for s in shifts if s < 0),
            "later": sum(1 for s in shifts if s > 0),
            "to_open_ended": sum(1 for c in changes if c.new is None and c.old is not None),
            "from_open_ended": sum(1 for c in changes if c.old is None and c.new is not None),
            "max_days_earlier": -min(shifts, default=0) if shifts and min(shifts) < 0 else 0,
            "max_days_later": max(shifts, default=0) if shifts and max(shifts) > 0 else 0,
            "by_rule": dict(Counter(f"{c.old_rule}->{c.new_rule}" for c in changes)),
        }
    lines = [f"policy {policy.label}: valid ({len(policy.rules)} rules, every case covered once)"]
    lines += [f"  rule {o['rule']} ({o['period']}): {o['note']} [{o['law']}]" for o in overrides]
    if effect is not None:
        lines.append(
            f"  effect on the index: {effect['items_moving']} items would move "
            f"({effect['earlier']} earlier, up to {effect['max_days_earlier']} days; "
            f"{effect['later']} later, up to {effect['max_days_later']} days)"
        )
    emit(
        {"valid": True, "label": policy.label, "law_overrides": overrides, "effect": effect},
        as_json=as_json,
        lines=lines,
    )
