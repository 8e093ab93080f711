"""`gallra subject ...` and `gallra engagement ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gallra.cli.context import app_of, audit, parse_date
from gallra.cli.output import JsonOpt, emit, group, iso, plural
from models.enums import Role

__all__ = ["engagement_app", "subject_app"]

subject_app = group("People the practice holds data about.")
engagement_app = group("Coaching agreements.")


@subject_app.command("add")
def subject_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Option(help="Display name.")],
    email: Annotated[list[str] | None, typer.Option(help="E-mail address (repeatable).")] = None,
    phone: Annotated[list[str] | None, typer.Option(help="Phone number (repeatable).")] = None,
    role: Annotated[list[Role] | None, typer.Option(help="Role (repeatable).")] = None,
    personnummer: Annotated[
        str | None, typer.Option(help="Personnummer or samordningsnummer; stored as a keyed hash.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a person."""
    from gallra.coach import register_person

    gallra = app_of(ctx)
    done = register_person(
        gallra,
        name=name,
        emails=tuple(email or ()),
        phones=tuple(phone or ()),
        roles=tuple(r.value for r in role or ()),
        personnummer=personnummer,
    )
    audit(gallra, "subject-add", subject_id=done.subject_id)
    emit(
        {"id": done.subject_id, "roles": done.roles},
        as_json=as_json,
        lines=[f"subject {done.subject_id} added"],
    )


@subject_app.command("list")
def subject_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List subjects with roles and item counts."""
    from sqlmodel import col, func, select

    from models.tables import ItemSubject, Subject

    gallra = app_of(ctx)
    with gallra.session() as session:
        counts = dict(
            session.exec(
                select(ItemSubject.subject_id, func.count()).group_by(col(ItemSubject.subject_id))
            ).all()
        )
        subjects = list(session.exec(select(Subject).order_by(col(Subject.id))))
    rows = [
        {
            "id": s.id,
            "name": s.display_name,
            "roles": s.role_list,
            "items": counts.get(s.id or 0, 0),
        }
        for s in subjects
    ]
    lines = [
        f"{s.id:>5}  {s.display_name:<30} {s.roles:<20} {plural(counts.get(s.id or 0, 0), 'item')}"
        for s in subjects
    ]
    emit(rows, as_json=as_json, lines=lines or ["no subjects"])


def _subject_view(ctx: typer.Context, subject_id: int) -> dict[str, Any]:
    from sqlmodel import select

    from gallra.errors import NotFound
    from models.tables import Engagement, EngagementParty, Subject
    from storage.expiry import kept_until, subject_retention
    from storage.registry import identifiers_of

    gallra = app_of(ctx)
    with gallra.session() as session:
        subject = session.get(Subject, subject_id)
        if subject is None:
            raise NotFound(f"subject {subject_id}: no such subject")
        identifiers = identifiers_of(session, subject_id=subject_id)
        engagements = list(
            session.exec(select(Engagement).where(Engagement.client_id == subject_id))
        )
        acting_for = list(
            session.exec(select(EngagementParty).where(EngagementParty.subject_id == subject_id))
        )
        retention = subject_retention(
            session, gallra.policy, subject_id=subject_id, today=gallra.today
        )
    return {
        "id": subject.id,
        "name": subject.display_name,
        "roles": subject.role_list,
        "identifiers": [{"kind": i.kind, "masked": i.masked} for i in identifiers],
        "engagements": [
            {"id": e.id, "starts_on": iso(e.starts_on), "ends_on": iso(e.ends_on)}
            for e in engagements
        ],
        "acting_for": [{"engagement_id": p.engagement_id, "role": p.role} for p in acting_for],
        "marketing_blocked_on": iso(subject.marketing_blocked_on),
        "retention": {
            "deletable_from": iso(retention.deletable_from),
            "kept_until": iso(kept_until(retention.deletable_from)),
            "rule": retention.rule_id,
            "items": retention.items,
            "basis": retention.basis,
        },
    }


@subject_app.command("show")
def subject_show(ctx: typer.Context, subject_id: int, as_json: JsonOpt = False) -> None:
    """Show a subject, masked, with how long their data is kept."""
    view = _subject_view(ctx, subject_id)
    audit(app_of(ctx), "view-subject", subject_id=subject_id)
    ret = view["retention"]
    kept = (
        f"kept until {ret['kept_until']}" if ret["kept_until"] else "kept while an agreement runs"
    )
    lines = [
        f"subject {view['id']}: {view['name']}",
        f"  roles: {', '.join(view['roles']) or '-'}",
        *(f"  {i['kind']}: {i['masked']}" for i in view["identifiers"]),
        *(
            f"  engagement {e['id']}: {e['starts_on']} - {e['ends_on'] or 'running'}"
            for e in view["engagements"]
        ),
        f"  retention: {kept} (rule {ret['rule']}, {plural(ret['items'], 'item')})",
    ]
    emit(view, as_json=as_json, lines=lines)


def _restamp(ctx: typer.Context, subject_ids: list[int]) -> int:
    from storage.expiry import recompute

    gallra = app_of(ctx)
    with gallra.session() as session:
        return len(recompute(session, gallra.policy, subject_ids=subject_ids))


@engagement_app.command("start")
def engagement_start(
    ctx: typer.Context,
    subject_id: int,
    on: Annotated[str, typer.Option(help="Start date YYYY-MM-DD.")],
    as_json: JsonOpt = False,
) -> None:
    """Open an agreement for a client; their items move to the contract rule."""
    from gallra.coach import begin_engagement

    gallra = app_of(ctx)
    started = begin_engagement(
        gallra, subject_id=subject_id, starts_on=parse_date(on, option="--on")
    )
    audit(
        gallra,
        "engagement-start",
        subject_id=subject_id,
        detail={"engagement_id": started.engagement_id},
    )
    emit(
        {
            "id": started.engagement_id,
            "client_id": subject_id,
            "items_restamped": started.items_restamped,
        },
        as_json=as_json,
        lines=[
            f"engagement {started.engagement_id} started; "
            f"{plural(started.items_restamped, 'item')} restamped"
        ],
    )


@engagement_app.command("end")
def engagement_end(
    ctx: typer.Context,
    engagement_id: int,
    on: Annotated[str, typer.Option(help="End date YYYY-MM-DD.")],
    as_json: JsonOpt = False,
) -> None:
    """Record the end of an agreement; expiry of its people's items is recomputed."""
    from gallra.coach import finish_engagement

    gallra = app_of(ctx)
    done = finish_engagement(
        gallra, engagement_id=engagement_id, ends_on=parse_date(on, option="--on")
    )
    changed = done.items_restamped
    audit(gallra, "engagement-end", detail={"engagement_id": engagement_id})
    emit(
        {"id": engagement_id, "ends_on": iso(done.ends_on), "items_restamped": changed},
        as_json=as_json,
        lines=[f"engagement {engagement_id} ended; {plural(changed, 'item')} restamped"],
    )


@engagement_app.command("party")
def engagement_party(
    ctx: typer.Context,
    engagement_id: int,
    subject_id: int,
    role: Annotated[Role, typer.Option(help="payer, guardian, trustee, attorney, company_contact")],
    as_json: JsonOpt = False,
) -> None:
    """Link a payer or contact to the engagement they act for."""
    from gallra.coach import link_party

    gallra = app_of(ctx)
    changed = link_party(
        gallra, engagement_id=engagement_id, subject_id=subject_id, role=role.value
    )
    audit(
        gallra, "engagement-party", subject_id=subject_id, detail={"engagement_id": engagement_id}
    )
    emit(
        {"engagement_id": engagement_id, "subject_id": subject_id, "items_restamped": changed},
        as_json=as_json,
        lines=[f"subject {subject_id} linked to engagement {engagement_id}"],
    )
