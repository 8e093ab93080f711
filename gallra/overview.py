"""What needs the coach today: the facts the start page and `gallra today` both show.

Requests by deadline, what the sweep deletes tonight and in the next 7 and 30
days (per person), what is past its date but kept (a hold) or not yet deleted
(a failure), the unassigned queue, last night's run and the problems `doctor`
lists. Every figure comes from the functions the CLI uses: the sweep's own
dry run and the request table's deadlines.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlmodel import Session, col, func, select

from gallra.wiring import App
from models.enums import ItemState
from models.tables import Item, ItemSubject, Subject
from storage.health import index_health
from storage.listing import unassigned_items
from storage.requests import open_requests
from storage.runs import RunReport, last_run
from storage.sweep import preview_horizons

__all__ = [
    "HORIZONS",
    "Deletions",
    "Overview",
    "RequestRow",
    "deletions_ahead",
    "dominant_person",
    "overview",
    "request_rows",
]

HORIZONS = (1, 7, 30)  # tonight, within a week, within a month


@dataclass(frozen=True)
class RequestRow:
    """An open request: whose, which right, and how many days are left."""

    id: int
    subject_id: int | None
    name: str | None
    right: str
    received_on: date
    deadline: date
    days_left: int
    extended: bool


@dataclass(frozen=True)
class PersonCount:
    """How many of one person's items (0: nobody, the unassigned queue)."""

    subject_id: int
    name: str
    items: int


@dataclass(frozen=True)
class Deletions:
    """What a sweep run `days` from today would delete, and what holds stop."""

    days: int
    items: int
    people: list[PersonCount]
    held: int


@dataclass
class Overview:
    """Everything the start page shows (no content: names, counts, dates)."""

    today: date
    requests: list[RequestRow]
    deletions: list[Deletions]
    past_date_held: int
    past_date_not_deleted: int
    unassigned: int
    last_run: RunReport | None
    problems: int
    dominant: PersonCount | None = None
    notes: list[str] = field(default_factory=list)


def request_rows(session: Session, today: date) -> list[RequestRow]:
    """Open requests, soonest deadline first, with the person's name and the days left."""
    rows = []
    for r in sorted(open_requests(session), key=lambda r: (r.deadline, r.id or 0)):
        person = session.get(Subject, r.subject_id) if r.subject_id is not None else None
        assert r.id is not None
        rows.append(
            RequestRow(
                id=r.id,
                subject_id=r.subject_id,
                name=person.display_name if person is not None else None,
                right=r.right,
                received_on=r.received_on,
                deadline=r.deadline,
                days_left=(r.deadline - today).days,
                extended=bool(r.extension_reason),
            )
        )
    return rows


def _per_person(session: Session, item_ids: list[int]) -> list[PersonCount]:
    """Items per person (the unassigned as id 0), most first."""
    owners: dict[int, set[int]] = defaultdict(set)
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        for item_id, subject_id in session.exec(
            select(ItemSubject.item_id, ItemSubject.subject_id).where(
                col(ItemSubject.item_id).in_(chunk)
            )
        ):
            owners[item_id].add(subject_id)
    counts: Counter[int] = Counter()
    for item_id in item_ids:
        for subject_id in owners.get(item_id) or {0}:
            counts[subject_id] += 1
    names = {
        s.id: s.display_name
        for s in session.exec(select(Subject).where(col(Subject.id).in_(list(counts))))
    }
    return [
        PersonCount(subject_id, names.get(subject_id, ""), n)
        for subject_id, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def deletions_ahead(gallra: App, days: tuple[int, ...] = HORIZONS) -> list[Deletions]:
    """The sweep's dry run for each horizon: what would go, per person, and what holds keep.

    Horizon 0 is what is past its date now: held, or not deleted yet.
    """
    horizons = preview_horizons(gallra.require_index(), gallra.policy, gallra.clock.now(), days)
    with gallra.session() as session:
        return [
            Deletions(
                h.days,
                len(h.would_delete_item_ids),
                _per_person(session, h.would_delete_item_ids),
                len(h.held_past_expiry_item_ids),
            )
            for h in horizons
        ]


def dominant_person(session: Session) -> PersonCount | None:
    """A person tagged on more than half of at least 20 e-mails: likely the practice itself."""
    emails = session.exec(
        select(func.count())
        .select_from(Item)
        .where(Item.kind == "email", Item.state == ItemState.LIVE.value)
    ).one()
    if emails < 20:
        return None
    top = session.exec(
        select(ItemSubject.subject_id, func.count())
        .join(Item, col(Item.id) == col(ItemSubject.item_id))
        .where(Item.kind == "email")
        .group_by(col(ItemSubject.subject_id))
        .order_by(func.count().desc())
        .limit(1)
    ).first()
    if top is None or top[1] * 2 <= emails:
        return None
    person = session.get(Subject, top[0])
    return PersonCount(top[0], person.display_name if person else "", int(top[1]))


def overview(gallra: App) -> Overview:
    """What needs her today."""
    today = gallra.today
    due_now, *ahead = deletions_ahead(gallra, (0, *HORIZONS))
    with gallra.session() as session:
        health = index_health(session)
        return Overview(
            today=today,
            requests=request_rows(session, today),
            deletions=ahead,
            past_date_held=due_now.held,
            past_date_not_deleted=due_now.items,
            unassigned=len(unassigned_items(session, newest_first=True, limit=100_000)),
            last_run=last_run(session),
            problems=len(health.flagged) + len(health.unfetched) + len(health.deleting),
            dominant=dominant_person(session),
        )
