"""The data-subject rights from the command line, one command each."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlmodel import select

from gallra import rights
from gallra.cli_subjects import subject_app
from gallra.context import app_of, parse_date
from gallra.output import emit, iso
from models.enums import IdentifierKind, RequestRight
from models.errors import InvalidInput
from models.identifiers import normalise_email
from models.personnummer import parse_personnummer
from models.tables import Identifier, Subject
from storage.registry import NewIdentifier, add_identifier
from storage.requests import close_request, extend_request, open_request, open_requests

__all__ = ["consent_app", "request_app"]

request_app = typer.Typer(help="Data-subject requests and their deadlines.", no_args_is_help=True)
consent_app = typer.Typer(help="Consents (art. 7).", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
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
    gallra = app_of(ctx)
    on = parse_date(received, option="--received") if received else gallra.today
    with gallra.session() as session:
        request = open_request(session, subject_id=subject_id, right=right, received_on=on)
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
    gallra = app_of(ctx)
    with gallra.session() as session:
        request = extend_request(session, request_id=request_id, reason=reason)
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
    gallra = app_of(ctx)
    with gallra.session() as session:
        request = close_request(
            session, request_id=request_id, outcome=outcome, at=gallra.clock.now(), refused=refused
        )
    emit(
        {"id": request.id, "status": request.status},
        as_json=as_json,
        lines=[f"request {request.id} {request.status}"],
    )


def requests_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Open requests with the days left."""
    gallra = app_of(ctx)
    with gallra.session() as session:
        rows: list[dict[str, Any]] = [
            {
                "id": r.id,
                "subject_id": r.subject_id,
                "right": r.right,
                "received_on": iso(r.received_on),
                "deadline": iso(r.deadline),
                "days_left": (r.deadline - gallra.today).days,
                "extended": bool(r.extension_reason),
            }
            for r in open_requests(session)
        ]
    emit(
        rows,
        as_json=as_json,
        lines=[
            f"{r['id']:>4} subject {r['subject_id']:>4} {r['right']:<18} due {r['deadline']} "
            f"({r['days_left']} days{' OVERDUE' if int(r['days_left']) < 0 else ''})"
            for r in rows
        ]
        or ["no open requests"],
    )


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
    gallra = app_of(ctx)
    result = rights.export(gallra, subject_id=subject_id, out=out, portable_only=portable_only)
    lines = [
        f"export written: {result['items']} items, {result['size']} bytes, "
        f"sha256 {result['sha256']}"
    ]
    if result["also_about_others"]:
        lines.append(
            "review before sending, also about other people: items "
            + ", ".join(str(i) for i in result["also_about_others"])
        )
    emit(result, as_json=as_json, lines=lines)


def erase_cmd(
    ctx: typer.Context,
    subject_id: int,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would go.")] = False,
    no_sweep: NoSweep = False,
    as_json: JsonOpt = False,
) -> None:
    """Art. 17: erase a person; prints a certificate without personal data."""
    gallra = app_of(ctx)
    cert = rights.erase(gallra, subject_id=subject_id, dry_run=dry_run, run_sweep=not no_sweep)
    data = asdict(cert)
    lines = [
        f"{'would delete' if dry_run else 'deleted'} {len(cert.deleted)} items; "
        f"kept {len(cert.kept)}"
    ]
    lines += [
        f"  kept item {k['item_id']} ({k['kind']}): {k['why']}, until {k['deletable_from']}"
        for k in cert.kept
    ]
    if not dry_run:
        lines.append(
            f"certificate: request {cert.request_id}, ledger at {cert.ledger_position['seq']}, "
            f"person's entry {cert.subject_entry}"
        )
    emit(data, as_json=as_json, lines=lines)


def object_cmd(
    ctx: typer.Context, subject_id: int, no_sweep: NoSweep = False, as_json: JsonOpt = False
) -> None:
    """Art. 21: direct-marketing block; marketing-based items go now."""
    result = rights.object_to_marketing(app_of(ctx), subject_id=subject_id, run_sweep=not no_sweep)
    emit(
        result,
        as_json=as_json,
        lines=[f"marketing blocked for subject {subject_id}; {result['deleted']} items deleted"],
    )


@consent_app.command("give")
def consent_give(
    ctx: typer.Context,
    subject_id: int,
    purpose: Annotated[str, typer.Option(help="A consent-based purpose.")],
    as_json: JsonOpt = False,
) -> None:
    """Record a consent."""
    result = rights.set_consent(app_of(ctx), subject_id=subject_id, purpose=purpose, given=True)
    emit(result, as_json=as_json, lines=[f"consent recorded for {purpose}"])


@consent_app.command("withdraw")
def consent_withdraw(
    ctx: typer.Context,
    subject_id: int,
    purpose: Annotated[str, typer.Option(help="The purpose.")],
    no_sweep: NoSweep = False,
    as_json: JsonOpt = False,
) -> None:
    """Art. 7(3): withdraw; what rested on this consent alone goes, the rest stays."""
    result = rights.set_consent(
        app_of(ctx), subject_id=subject_id, purpose=purpose, given=False, run_sweep=not no_sweep
    )
    emit(
        result,
        as_json=as_json,
        lines=[f"consent for {purpose} withdrawn; {result['deleted']} items deleted"],
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
    """Art. 16: correct or complete registry data; the change is recorded (fields, not values)."""
    gallra = app_of(ctx)
    changed: list[str] = []
    with gallra.session() as session:
        subject = session.get(Subject, subject_id)
        if subject is None:
            raise InvalidInput(f"subject {subject_id}: no such subject")
        if name is not None and name.strip():
            subject.display_name = name.strip()
            changed.append("name")
        for address in add_email or []:
            add_identifier(session, subject_id=subject_id, identifier=NewIdentifier.email(address))
            changed.append("email added")
        for address in remove_email or []:
            value = normalise_email(address)
            for ident in session.exec(
                select(Identifier).where(
                    Identifier.subject_id == subject_id,
                    Identifier.kind == IdentifierKind.EMAIL.value,
                    Identifier.value == value,
                )
            ):
                session.delete(ident)
                changed.append("email removed")
        for phone in add_phone or []:
            add_identifier(session, subject_id=subject_id, identifier=NewIdentifier.phone(phone))
            changed.append("phone added")
        if personnummer is not None:
            number = parse_personnummer(personnummer, today=gallra.today)
            for ident in session.exec(
                select(Identifier).where(
                    Identifier.subject_id == subject_id,
                    Identifier.kind == IdentifierKind.PERSONNUMMER.value,
                )
            ):
                session.delete(ident)
            session.flush()
            add_identifier(
                session,
                subject_id=subject_id,
                identifier=NewIdentifier.personnummer(number, hash_key=gallra.hash_key),
            )
            changed.append("personnummer set")
        if not changed:
            raise InvalidInput("subject edit: nothing to change")
        session.add(subject)
        request = open_request(
            session,
            subject_id=subject_id,
            right=RequestRight.RECTIFICATION,
            received_on=gallra.today,
        )
        assert request.id is not None
        close_request(
            session,
            request_id=request.id,
            at=gallra.clock.now(),
            outcome=json.dumps({"changed": changed}),
        )
    emit(
        {"subject_id": subject_id, "changed": changed, "request_id": request.id},
        as_json=as_json,
        lines=[f"subject {subject_id}: {', '.join(changed)} (request {request.id})"],
    )
