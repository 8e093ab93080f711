"""Full-text search over the index: SQLite FTS5 or PostgreSQL full text.

The user's words are never handed to the engine as query syntax: they are cut
into word tokens (letters and digits only) and each becomes a quoted prefix
term, so `"`, `*`, `NEAR(`, `:` or `'` can neither break a query nor change
its meaning. Every token must match (AND); a prefix term lets "samtal" find
"samtalet" and "samtalen" on SQLite, where no Swedish stemmer exists;
PostgreSQL stems with its Swedish dictionary as well. Both fold diacritics,
so "mote" finds "möte" (typed on a keyboard without å ä ö).

Snippets mark hits with HIT_START/HIT_END (private-use characters) so the
caller escapes the text first and only then turns the marks into markup.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, func, select

from models.clock import start_of_local_day
from models.enums import HoldKind, ItemState
from models.tables import Hold, ItemSubject, ItemText, Subject

__all__ = [
    "CANDIDATES",
    "HIT_END",
    "HIT_START",
    "MAX_TERMS",
    "SearchFilters",
    "SearchHit",
    "SearchPage",
    "make_snippet",
    "search",
    "terms_of",
]

HIT_START = "\ue000"
HIT_END = "\ue001"
MAX_TERMS = 12
_MAX_TERM_LENGTH = 64
_WORD = re.compile(r"[^\W_]+")
_SNIPPET_TOKENS = 16
_SNIPPET_SCAN = 20_000
CANDIDATES = 2000


def _fold_table() -> dict[int, str]:
    """Lower-case and strip diacritics char for char (lengths kept, so offsets stay valid)."""
    table: dict[int, str] = {}
    for code in range(0x250):
        char = chr(code)
        decomposed = unicodedata.normalize("NFKD", char.lower())
        base = "".join(c for c in decomposed if not unicodedata.combining(c))
        if len(base) == 1 and base != char:
            table[code] = base
    return table


_FOLD = _fold_table()


@dataclass(frozen=True)
class SearchFilters:
    """What narrows a search besides its words; None means no limit."""

    subject_id: int | None = None
    kinds: tuple[str, ...] = ()
    received_from: date | None = None  # Stockholm calendar dates, inclusive
    received_to: date | None = None
    legal_basis: str | None = None
    special_category: bool | None = None
    expiring_within_days: int | None = None


@dataclass
class SearchHit:
    """One item found, with what a result list shows."""

    item_id: int
    kind: str
    title: str
    received_at: datetime
    expires_at: datetime | None
    legal_basis: str
    special_category: bool
    snippet: str
    subjects: list[tuple[int, str]] = field(default_factory=list)
    restricted: bool = False
    held: bool = False


@dataclass
class SearchPage:
    """One page of results, whether more follow, and whether older matches were left unranked."""

    hits: list[SearchHit]
    more: bool
    capped: bool = False


def terms_of(query: str) -> list[str]:
    """The word tokens of user input, lower-cased, at most MAX_TERMS of them."""
    words = [w.lower()[:_MAX_TERM_LENGTH] for w in _WORD.findall(query)]
    return list(dict.fromkeys(words))[:MAX_TERMS]


def search(
    session: Session,
    query: str,
    *,
    filters: SearchFilters | None = None,
    today: date,
    limit: int = 20,
    offset: int = 0,
    candidates: int = CANDIDATES,
) -> SearchPage:
    """Live items matching every word of `query` (best first), or all by date when it has none.

    Ranking runs over the newest `candidates` matches: past that, a common word
    would make every search rank half the archive. `SearchPage.capped` says
    when older matches were left out, so the page can ask for more words.
    """
    filters = filters or SearchFilters()
    terms = terms_of(query)
    where, params = _filter_sql(filters, today)
    params |= {"limit": limit + 1, "offset": offset}
    dialect = session.get_bind().dialect.name
    capped = False
    if not terms:
        sql = (
            "SELECT i.id, '' AS snippet FROM item i WHERE "
            + " AND ".join(where)
            + " ORDER BY i.received_at DESC, i.id DESC LIMIT :limit OFFSET :offset"
        )
    elif dialect == "sqlite":
        params["match"] = " ".join(f'"{term}"*' for term in terms)
        floor = session.execute(
            text(
                "SELECT rowid FROM item_fts WHERE item_fts MATCH :match "
                "ORDER BY rowid DESC LIMIT 1 OFFSET :cap"
            ),
            {"match": params["match"], "cap": candidates},
        ).scalar()
        capped = floor is not None
        params["floor"] = floor or 0
        sql = (
            "SELECT i.id, snippet(item_fts, 0, :hs, :he, '…', :tokens) AS snippet "
            "FROM item_fts JOIN item i ON i.id = item_fts.rowid "
            "WHERE item_fts MATCH :match AND item_fts.rowid > :floor AND "
            + " AND ".join(where)
            + " ORDER BY bm25(item_fts), i.received_at DESC LIMIT :limit OFFSET :offset"
        )
        params |= {"hs": HIT_START, "he": HIT_END, "tokens": _SNIPPET_TOKENS}
    else:
        params["tsq"] = " & ".join(f"{term}:*" for term in terms)
        floor = session.execute(
            text(
                "SELECT item_id FROM itemtext WHERE tsv @@ to_tsquery('gallra_sv', :tsq) "
                "ORDER BY item_id DESC LIMIT 1 OFFSET :cap"
            ),
            {"tsq": params["tsq"], "cap": candidates},
        ).scalar()
        capped = floor is not None
        params["floor"] = floor or 0
        sql = (
            "SELECT i.id, '' AS snippet FROM itemtext t JOIN item i ON i.id = t.item_id, "
            "to_tsquery('gallra_sv', :tsq) AS q "
            "WHERE t.tsv @@ q AND t.item_id > :floor AND "
            + " AND ".join(where)
            + " ORDER BY ts_rank_cd(t.tsv, q) DESC, i.received_at DESC "
            "LIMIT :limit OFFSET :offset"
        )
    rows = [(int(r[0]), str(r[1] or "")) for r in session.execute(text(sql), params)]
    more = len(rows) > limit
    rows = rows[:limit]
    if terms and dialect != "sqlite":
        # ts_headline runs every word of a body through the dictionaries (~0.5 ms an
        # item); marking the page's few bodies here costs a tenth of that.
        bodies = dict(
            session.execute(
                select(ItemText.item_id, func.substr(ItemText.body, 1, _SNIPPET_SCAN)).where(
                    col(ItemText.item_id).in_([item_id for item_id, _ in rows])
                )
            ).all()
        )
        rows = [(item_id, make_snippet(bodies.get(item_id, ""), terms)) for item_id, _ in rows]
    return SearchPage(hits=_hits(session, rows), more=more, capped=capped)


def make_snippet(body: str, terms: list[str], *, before: int = 60, after: int = 160) -> str:
    """A window of `body` around the first hit, each word starting with a term marked.

    Terms are shortened to a stem-like prefix (all but two letters, at least
    four) so the words PostgreSQL matched by stemming are marked too.
    """
    if not body:
        return ""
    folded = body.translate(_FOLD)
    stems = sorted({t.translate(_FOLD)[: max(4, len(t) - 2)] for t in terms}, key=len)
    alternatives = "|".join(re.escape(stem) for stem in reversed(stems))
    pattern = re.compile(r"(?<![^\W_])(?:" + alternatives + r")[^\W_]*")
    first = pattern.search(folded)
    anchor = first.start() if first else 0
    start, end = max(0, anchor - before), min(len(body), anchor + after)
    if start > 0:  # begin at a word, not inside one
        space = body.find(" ", start, anchor)
        start = space + 1 if space != -1 else start
    pieces = ["…" if start > 0 else ""]
    cursor = start
    for match in pattern.finditer(folded, start, end):
        pieces += [body[cursor : match.start()], HIT_START, body[match.start() : match.end()]]
        pieces.append(HIT_END)
        cursor = match.end()
    pieces += [body[cursor:end], "…" if end < len(body) else ""]
    return "".join(pieces)


def _filter_sql(filters: SearchFilters, today: date) -> tuple[list[str], dict[str, Any]]:
    where = ["i.state = :live"]
    params: dict[str, Any] = {"live": ItemState.LIVE.value}
    if filters.subject_id is not None:
        where.append(
            "EXISTS (SELECT 1 FROM itemsubject s WHERE s.item_id = i.id AND s.subject_id = :sid)"
        )
        params["sid"] = filters.subject_id
    if filters.kinds:
        names = [f"kind{n}" for n in range(len(filters.kinds))]
        where.append(f"i.kind IN ({', '.join(':' + n for n in names)})")
        params |= dict(zip(names, filters.kinds, strict=True))
    if filters.received_from is not None:
        where.append("i.received_at >= :rfrom")
        params["rfrom"] = start_of_local_day(filters.received_from)
    if filters.received_to is not None:
        where.append("i.received_at < :rto")
        params["rto"] = start_of_local_day(filters.received_to + timedelta(days=1))
    if filters.legal_basis is not None:
        where.append("i.legal_basis = :basis")
        params["basis"] = filters.legal_basis
    if filters.special_category is not None:
        where.append("i.special_category = :special")
        params["special"] = filters.special_category
    if filters.expiring_within_days is not None:
        where.append("i.expires_at IS NOT NULL AND i.expires_at < :horizon")
        params["horizon"] = start_of_local_day(
            today + timedelta(days=filters.expiring_within_days + 1)
        )
    return where, params


def _hits(session: Session, rows: list[tuple[int, str]]) -> list[SearchHit]:
    """Load the items of a result page with their subjects and freezes, in rank order."""
    from models.tables import Item

    if not rows:
        return []
    ids = [item_id for item_id, _ in rows]
    items = {i.id: i for i in session.exec(select(Item).where(col(Item.id).in_(ids)))}
    subjects: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for item_id, subject_id, name in session.exec(
        select(ItemSubject.item_id, Subject.id, Subject.display_name)
        .join(Subject, col(Subject.id) == col(ItemSubject.subject_id))
        .where(col(ItemSubject.item_id).in_(ids))
        .order_by(col(Subject.display_name))
    ):
        assert subject_id is not None
        subjects[item_id].append((subject_id, name))
    frozen: dict[int, set[str]] = defaultdict(set)
    subject_ids = {sid for pairs in subjects.values() for sid, _ in pairs}
    holds = session.exec(
        select(Hold).where(
            col(Hold.lifted_at).is_(None),
            col(Hold.item_id).in_(ids) | col(Hold.subject_id).in_(subject_ids),
        )
    ).all()
    for hold in holds:
        for item_id in ids:
            if hold.item_id == item_id or any(
                hold.subject_id == sid for sid, _ in subjects[item_id]
            ):
                frozen[item_id].add(hold.kind)
    hits = []
    for item_id, snippet in rows:
        item = items[item_id]
        hits.append(
            SearchHit(
                item_id=item_id,
                kind=item.kind,
                title=item.title,
                received_at=item.received_at,
                expires_at=item.expires_at,
                legal_basis=item.legal_basis,
                special_category=item.special_category,
                snippet=" ".join(snippet.split()),
                subjects=subjects[item_id],
                restricted=HoldKind.RESTRICTION.value in frozen[item_id],
                held=bool(frozen[item_id] - {HoldKind.RESTRICTION.value}),
            )
        )
    return hits
