"""The data-subject rights from the command line, one command each.

Over 300 lines because it holds one command per data-subject right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gallra.cli.context import app_of, audit, parse_date
from gallra.cli.output import JsonOpt, emit, group, iso, plural
from gallra.cli.subjects import subject_app
from models.enums import RequestRight

__all__ = ["consent_app", "request_app"]

request_app = group("Data-subject requests and their deadlines.")
consent_app = group("Consents (GDPR article 7).")
NoSweep = Annotated[bool, typer.Option("--no-sweep", help="Leave the deletion to the nightly run.")]


@request_app.command("open")
def request_open(
    ctx: typer.Context,
    subject_id: int,
    right: Annotated[RequestRight, typer.Option(help="Which right.")],
    received: Annotated[
        str | None, typer.Option(help="Received YYYY-MM-DD (default today).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a request; access and portability hold the person's data until closed."""
    from storage.requests import open_request

    gallra = app_of(ctx)
    on = parse_date(received, option="--received") if received else gallra.today
    with gallra.session() as session:
        request = open_request(session, subject_id=subject_id, right=right, received_on=on)
    audit(
        gallra,
        "request-open",
        subject_id=subject_id,
        detail={"request_id": request.id, "right": right.value},
    )
    emit(
        {"id": request.id, "deadline": iso(request.deadline)},
        as_json=as_json,
        lines=[f"request {request.id} ({right.value}) due {request.deadline}"],
    )


@request_app.command("extend")
def request_extend(
    ctx: typer.Context,
    request_id: int,
    reason: Annotated[str, typer.Option(help="Why (the person must be told).")],
    as_json: JsonOpt = False,
) -> None:
    """Extend a request by two months (once)."""
    from storage.requests import extend_request

    gallra = app_of(ctx)
    with gallra.session() as session:
        request = extend_request(session, request_id=request_id, reason=reason)
    audit(
        gallra, "request-extend", subject_id=request.subject_id, detail={"request_id": request.id}
    )
    emit(
        {"id": request.id, "deadline": iso(request.deadline)},
        as_json=as_json,
        lines=[f"request {request.id} now due {request.deadline}"],
    )


@request_app.command("close")
def request_close(
    ctx: typer.Context,
    request_id: int,
    outcome: Annotated[str, typer.Option(help="What was done (no personal data).")],
    refused: Annotated[bool, typer.Option("--refused", help="The request was refused.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Close a request; the hold it placed is lifted."""
    from storage.requests import close_request

    gallra = app_of(ctx)
    with gallra.session() as session:
        request = close_request(
            session, request_id=request_id, outcome=outcome, at=gallra.clock.now(), refused=refused
        )
    audit(
        gallra,
        "request-close",
        subject_id=request.subject_id,
        detail={"request_id": request.id, "status": request.status},
    )
    emit(
        {"id": request.id, "status": request.status},
        as_json=as_json,
        lines=[f"request {request.id} {request.status}"],
    )


def requests_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Open requests by deadline, with the person's name and the days left."""
    from gallra.overview import request_rows

    gallra = app_of(ctx)
    with gallra.session() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": r.id,
                "subject_id": r.subject_id,
                "name": r.name,
                "right": r.right,
                "received_on": iso(r.received_on),
                "deadline": iso(r.deadline),
                "days_left": r.days_left,
                "extended": r.extended,
            }
            for r in request_rows(session, gallra.today)
        ]
    emit(rows, as_json=as_json, lines=[_request_line(r) for r in rows] or ["no open requests"])


def _request_line(row: dict[str, Any]) -> str:
    left = int(row["days_left"])
    when = (
        f"OVERDUE by {plural(-left, 'day')}"
        if left < 0
        else ("due today" if left == 0 else f"{plural(left, 'day')} left")
    )
    who = f"{row['name']} (#{row['subject_id']})" if row["name"] else "person deleted"
    extended = ", extended" if row["extended"] else ""
    return f"{row['id']:>4} {row['right']:<18} due {row['deadline']} ({when}{extended})  {who}"


def export_cmd(
    ctx: typer.Context,
    subject_id: int,
    out: Annotated[Path, typer.Option(help="Where to write the zip.")],
    portable_only: Annotated[
        bool, typer.Option("--portable-only", help="Only what the person provided (art. 20).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The access export (DSAR bundle): one zip, written whole or not at all."""
    from gallra import rights

    gallra = app_of(ctx)
    result = rights.export(gallra, subject_id=subject_id, out=out, portable_only=portable_only)
    audit(
        gallra,
        "export",
        subject_id=subject_id,
        detail={"items": result.items, "portable_only": portable_only},
    )
    lines = [
        f"export written: {plural(result.items, 'item')}, {result.size} bytes, "
        f"sha256 {result.sha256}"
    ]
    if result.also_about_others:
        lines.append(
            "review before sending, also about other people: items "
            + ", ".join(str(i) for i in result.also_about_others)
        )
    emit(result, as_json=as_json, lines=lines)


def erase_cmd(
    ctx: typer.Context,
    subject_id: int,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go.")] = False,
    no_sweep: NoSweep = False,
    as_json: JsonOpt = False,
) -> None:
    """Erasure (GDPR article 17): everything goes but what the law keeps; a certificate."""
    from dataclasses import asdict

    from gallra import rights

    gallra = app_of(ctx)
    cert = rights.erase(gallra, subject_id=subject_id, dry_run=dry_run, run_sweep=not no_sweep)
    audit(
        gallra,
        "erase-preview" if dry_run else "erase",
        subject_id=subject_id,
        detail={"deleted": len(cert.deleted), "kept": len(cert.kept)},
    )
    data = asdict(cert)
    lines = [
        f"{'would delete' if dry_run else 'deleted'} {plural(len(cert.deleted), 'item')}; "
        f"kept {len(cert.kept)}"
    ]
    lines += [
        f"  kept item {k.item_id} ({k.kind}): {k.why}, "
        + (f"deletable from {k.deletable_from}" if k.deletable_from else "while an agreement runs")
        for k in cert.kept
    ]
    if not dry_run:
        lines.append(
            f"certificate: request {cert.request_id}, ledger at {cert.ledger_position['seq']}, "
            f"person's entry {cert.subject_entry}"
        )
        if cert.others_swept:
            lines.append(
                f"the same sweep also deleted {plural(cert.others_swept, 'item')} of other "
                "people that were due anyway (not part of this erasure)"
            )
    emit(data, as_json=as_json, lines=lines)


def object_cmd(
    ctx: typer.Context, subject_id: int, no_sweep: NoSweep = False, as_json: JsonOpt = False
) -> None:
    """Objection (GDPR article 21): a direct-marketing block; marketing items go now."""
    from gallra import rights

    gallra = app_of(ctx)
    result = rights.object_to_marketing(gallra, subject_id=subject_id, run_sweep=not no_sweep)
    audit(gallra, "object", subject_id=subject_id, detail={"deleted": result.deleted})
    emit(
        result,
        as_json=as_json,
        lines=[
            f"marketing blocked for subject {subject_id}; {plural(result.deleted, 'item')} deleted"
        ],
    )


@consent_app.command("give")
def consent_give(
    ctx: typer.Context,
    subject_id: int,
    purpose: Annotated[str, typer.Option(help="A consent-based purpose.")],
    as_json: JsonOpt = False,
) -> None:
    """Record a consent."""
    from gallra import rights

    gallra = app_of(ctx)
    result = rights.set_consent(gallra, subject_id=subject_id, purpose=purpose, given=True)
    audit(gallra, "consent-give", subject_id=subject_id, detail={"purpose": purpose})
    emit(result, as_json=as_json, lines=[f"consent recorded for {purpose}"])


@consent_app.command("withdraw")
def consent_withdraw(
    ctx: typer.Context,
    subject_id: int,
    purpose: Annotated[str, typer.Option(help="The purpose.")],
    no_sweep: NoSweep = False,
    as_json: JsonOpt = False,
) -> None:
    """Withdraw a consent (article 7(3)): what rested on it alone goes, the rest stays."""
    from gallra import rights

    gallra = app_of(ctx)
    result = rights.set_consent(
        gallra, subject_id=subject_id, purpose=purpose, given=False, run_sweep=not no_sweep
    )
    audit(
        gallra,
        "consent-withdraw",
        subject_id=subject_id,
        detail={"purpose": purpose, "deleted": result.deleted},
    )
    emit(
        result,
        as_json=as_json,
        lines=[f"consent for {purpose} withdrawn; {plural(result.deleted, 'item')} deleted"],
    )


@subject_app.command("edit")
def subject_edit(
    ctx: typer.Context,
    subject_id: int,
    name: Annotated[str | None, typer.Option(help="Corrected display name.")] = None,
    add_email: Annotated[list[str] | None, typer.Option(help="Add an address.")] = None,
    remove_email: Annotated[list[str] | None, typer.Option(help="Remove an address.")] = None,
    add_phone: Annotated[list[str] | None, typer.Option(help="Add a phone number.")] = None,
    personnummer: Annotated[str | None, typer.Option(help="Set the personnummer.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Rectification (article 16): correct or complete a person; fields recorded, not values."""
    from gallra.coach import Correction, rectify

    gallra = app_of(ctx)
    done = rectify(
        gallra,
        subject_id=subject_id,
        correction=Correction(
            name=name,
            add_emails=tuple(add_email or ()),
            remove_emails=tuple(remove_email or ()),
            add_phones=tuple(add_phone or ()),
            personnummer=personnummer,
        ),
    )
    changed, request_id = done.changed, done.request_id
    audit(gallra, "subject-edit", subject_id=subject_id, detail={"changed": changed})
    emit(
        {"subject_id": subject_id, "changed": changed, "request_id": request_id},
        as_json=as_json,
        lines=[f"subject {subject_id}: {', '.join(changed)} (request {request_id})"],
    )
