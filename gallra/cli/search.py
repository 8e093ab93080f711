"""`gallra search` and `gallra audit`."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gallra.cli.context import app_of, cli_actor, parse_date
from gallra.cli.output import JsonOpt, emit, iso, local_time, plural
from models.enums import ItemKind, LegalBasis

if TYPE_CHECKING:
    from storage.search import SearchFilters, SearchHit

__all__ = ["audit_cmd", "kept_text", "search_cmd"]


def kept_text(expires_at: Any) -> str:
    """'kept until 2031-12-31' (the last day kept, Stockholm), or why no date is set yet."""
    if expires_at is None:
        return "kept while an agreement runs"
    return f"kept until {_kept_day(expires_at)}"


def _kept_day(expires_at: Any) -> str | None:
    from models.retention import last_day_kept

    return iso(last_day_kept(expires_at))


def _hit_json(hit: SearchHit) -> dict[str, Any]:
    from storage.search import HIT_END, HIT_START

    return {
        "item_id": hit.item_id,
        "kind": hit.kind,
        "title": hit.title,
        "received_at": iso(hit.received_at),
        "kept_until": _kept_day(hit.expires_at),
        "legal_basis": hit.legal_basis,
        "special_category": hit.special_category,
        "subjects": [{"id": sid, "name": name} for sid, name in hit.subjects],
        "restricted": hit.restricted,
        "held": hit.held,
        "snippet": hit.snippet.replace(HIT_START, "").replace(HIT_END, ""),
    }


def _hit_lines(hit: SearchHit) -> list[str]:
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
        f"#{hit.item_id} {hit.kind} {local_time(hit.received_at)} "
        f"{kept_text(hit.expires_at)}{flags}  {people}",
        f"    {hit.title}",
    ]
    if hit.snippet:
        lines.append("    " + hit.snippet)
    return lines


def search_cmd(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words to find (all must match; prefixes count).")],
    subject: Annotated[
        int | None, typer.Option(help="Only items of this subject id (all of a person's items).")
    ] = None,
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
    """Find items by words in their subject line, people, text, attachment names or metadata.

    QUERY '' lists the newest items that pass the filters, e.g. all of a
    person's items with `gallra search '' --subject 12`.
    """
    import sys

    from storage.audit import record
    from storage.search import CANDIDATES, SearchFilters, search

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
    # A plain connection, not an ORM session: a search loads no models (start-up time).
    with gallra.require_index().begin() as db:
        page = search(db, query, filters=filters, today=gallra.today, limit=limit, offset=offset)
        record(
            db,
            actor=cli_actor(),
            action="search",
            at=gallra.clock.now(),
            subject_id=subject,
            detail={"results": len(page.hits), "filters": _filter_names(filters)},
        )
    lines = [line for hit in page.hits for line in _hit_lines(hit)]
    if page.more:
        lines.append(f"more results: --offset {offset + limit}")
    if page.capped:
        lines.append(f"many matches: ranked among the newest {CANDIDATES}; add a word or filter")
    emit(
        {"hits": [_hit_json(h) for h in page.hits], "more": page.more, "capped": page.capped},
        as_json=as_json,
        lines=lines or ["nothing found"],
        bold=sys.stdout.isatty(),
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
    from storage.audit import audit_events

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
        f"{local_time(e.at)} {e.actor:<16} {e.action:<18}"
        + (f" subject {e.subject_id}" if e.subject_id else "")
        + (f" item {e.item_id}" if e.item_id else "")
        + (f" {e.detail}" if e.detail != "{}" else "")
        for e in events
    ]
    emit(rows, as_json=as_json, lines=lines or [f"no events in the last {plural(days, 'day')}"])
