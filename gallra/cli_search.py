"""`gallra search` and `gallra audit`."""

from __future__ import annotations

import getpass
import sys
from datetime import timedelta
from typing import Annotated, Any

import typer

from gallra.context import app_of, parse_date
from gallra.output import emit, iso
from models.clock import local_date
from models.enums import ItemKind, LegalBasis
from storage.audit import audit_events, record
from storage.search import CANDIDATES, HIT_END, HIT_START, SearchFilters, SearchHit, search

__all__ = ["audit_cmd", "cli_actor", "search_cmd"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def cli_actor() -> str:
    """Who runs a command, for the audit trail (the OS account, never a client)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _kept(hit: SearchHit) -> str | None:
    """The last day kept (the day before the item becomes deletable), Stockholm time."""
    if hit.expires_at is None:
        return None
    return iso(local_date(hit.expires_at) - timedelta(days=1))


def _hit_json(hit: SearchHit) -> dict[str, Any]:
    return {
        "item_id": hit.item_id,
        "kind": hit.kind,
        "title": hit.title,
        "received_at": iso(hit.received_at),
        "kept_until": _kept(hit),
        "legal_basis": hit.legal_basis,
        "special_category": hit.special_category,
        "subjects": [{"id": sid, "name": name} for sid, name in hit.subjects],
        "restricted": hit.restricted,
        "held": hit.held,
        "snippet": hit.snippet.replace(HIT_START, "").replace(HIT_END, ""),
    }


def _hit_lines(hit: SearchHit, *, bold: bool) -> list[str]:
    start, end = ("\x1b[1m", "\x1b[0m") if bold else ("[", "]")
    expires = _kept(hit) or "while the agreement runs"
    flags = "".join(
        f" [{flag}]"
        for flag, on in (
            ("restricted", hit.restricted),
            ("held", hit.held),
            ("special", hit.special_category),
        )
        if on
    )
    people = ", ".join(f"{name} (#{sid})" for sid, name in hit.subjects) or "unassigned"
    lines = [
        f"#{hit.item_id} {hit.kind} {iso(local_date(hit.received_at))} "
        f"kept until {expires}{flags}  {people}",
        f"    {hit.title}",
    ]
    if hit.snippet:
        lines.append("    " + hit.snippet.replace(HIT_START, start).replace(HIT_END, end))
    return lines


def search_cmd(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to find (all must match; prefixes count).")],
    subject: Annotated[int | None, typer.Option(help="Only items of this subject id.")] = None,
    kind: Annotated[list[ItemKind] | None, typer.Option(help="Item kind (repeatable).")] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="Received on or after YYYY-MM-DD.")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="Received on or before YYYY-MM-DD.")
    ] = None,
    basis: Annotated[LegalBasis | None, typer.Option(help="Legal basis.")] = None,
    special: Annotated[
        bool | None, typer.Option("--special/--not-special", help="Special category or not.")
    ] = None,
    expiring_within: Annotated[
        int | None, typer.Option(help="Only items that expire within N days.", min=0)
    ] = None,
    limit: Annotated[int, typer.Option(help="Results per page.", min=1, max=500)] = 20,
    offset: Annotated[int, typer.Option(help="Skip this many results.", min=0)] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Find items by words in their subject line, people, text, attachment names or metadata."""
    gallra = app_of(ctx)
    filters = SearchFilters(
        subject_id=subject,
        kinds=tuple(k.value for k in kind or ()),
        received_from=parse_date(date_from, option="--from") if date_from else None,
        received_to=parse_date(date_to, option="--to") if date_to else None,
        legal_basis=basis.value if basis else None,
        special_category=special,
        expiring_within_days=expiring_within,
    )
    with gallra.session() as session:
        page = search(
            session, query, filters=filters, today=gallra.today, limit=limit, offset=offset
        )
        record(
            session,
            actor=cli_actor(),
            action="search",
            at=gallra.clock.now(),
            subject_id=subject,
            detail={"results": len(page.hits), "filters": _filter_names(filters)},
        )
    bold = sys.stdout.isatty()
    lines = [line for hit in page.hits for line in _hit_lines(hit, bold=bold)]
    if page.more:
        lines.append(f"more results: --offset {offset + limit}")
    if page.capped:
        lines.append(f"many matches: ranked among the newest {CANDIDATES}; add a word or filter")
    emit(
        {"hits": [_hit_json(h) for h in page.hits], "more": page.more, "capped": page.capped},
        as_json=as_json,
        lines=lines or ["nothing found"],
    )


def _filter_names(filters: SearchFilters) -> list[str]:
    """Which filters were set (names only: the audit keeps no search words)."""
    return sorted(
        name
        for name, value in vars(filters).items()
        if value is not None and value != () and name != "subject_id"
    )


def audit_cmd(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="Events of the last N days.", min=1)] = 30,
    subject: Annotated[int | None, typer.Option(help="Only events about this subject.")] = None,
    item: Annotated[int | None, typer.Option(help="Only events about this item.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.", min=1)] = 200,
    as_json: JsonOpt = False,
) -> None:
    """Who viewed, searched, downloaded or changed what, and when (no content)."""
    gallra = app_of(ctx)
    since = gallra.clock.now() - timedelta(days=days)
    with gallra.session() as session:
        events = audit_events(session, since=since, subject_id=subject, item_id=item, limit=limit)
    rows = [
        {
            "id": e.id,
            "at": iso(e.at),
            "actor": e.actor,
            "action": e.action,
            "item_id": e.item_id,
            "subject_id": e.subject_id,
            "detail": e.detail,
        }
        for e in events
    ]
    lines = [
        f"{r['at']} {r['actor']:<16} {r['action']:<18}"
        + (f" subject {r['subject_id']}" if r["subject_id"] else "")
        + (f" item {r['item_id']}" if r["item_id"] else "")
        + (f" {r['detail']}" if r["detail"] != "{}" else "")
        for r in rows
    ]
    emit(rows, as_json=as_json, lines=lines or ["no events"])
