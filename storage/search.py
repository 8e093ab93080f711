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

Over 300 lines because the two engines' queries (FTS5, PostgreSQL full text)
are kept side by side so they stay alike.
"""

from __future__ import annotations

import re
import sqlite3
import unicodedata
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Connection, Integer, String, bindparam, column, text

from models.clock import start_of_local_day
from models.enums import HoldKind, ItemState
from models.types import UTCDateTime
from storage.identifier_search import split_identifiers, subjects_holding

if TYPE_CHECKING:
    from sqlmodel import Session

    Database = Session | Connection  # a session, or (for a quick read) a plain connection

__all__ = [
    "CANDIDATES",
    "HIT_END",
    "HIT_START",
    "MAX_TERMS",
    "WINDOWS",
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
_FTS5_TOKENIZER = "unicode61 remove_diacritics 2"  # as item_fts was created (migrations 0004, 0006)
_ITEM_COLUMNS = (
    "i.id, i.kind, i.title, i.received_at, i.expires_at, i.legal_basis, i.special_category"
)
_SNIPPET_SCAN = 3_000
CANDIDATES = 200
# Newest-first windows of item ids tried in turn. Ranking takes the newest
# `cap` matches; once a window of the newest ids holds more than that, older
# ids cannot change the answer. A common word is settled in the first window,
# a rare one in the last, where the GIN index finds its few rows; without the
# windows a word in ~1% of a million items cost a scan of 14,000 rows.
WINDOWS: tuple[int | None, ...] = (50_000, 400_000, None)


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
    subject_ids: tuple[int, ...] | None = None  # any of these people (from an identifier)
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


def _fts5_query(terms: list[str]) -> str:
    """Each word quoted (so no query syntax), a prefix unless one letter long (all AND).

    Words are first cut as the index's tokenizer cuts them: the index keeps
    no positions (migration 0004), so a quoted word that is two tokens to
    FTS5 (a phrase) would be an error, not a search.
    """
    tokens = _index_tokens(terms)
    return " ".join(f'"{token}"*' if len(token) > 1 else f'"{token}"' for token in tokens)


def _index_tokens(terms: list[str]) -> list[str]:
    """The tokens FTS5's unicode61 makes of words of letters and digits.

    Latin letters (below U+0250: ASCII, å ä ö, every European accent) and
    digits are one token to both. Python and unicode61 read a few letters of
    other scripts differently (21 here: U+19B0-U+19C0, U+19C8-U+19C9 and
    U+1CF2-U+1CF3 are letters to Python, separators to SQLite's older Unicode
    tables; a newer Python adds more): such words are cut by SQLite itself. A word of nothing but
    separators stays as it is, a phrase of no tokens, which matches nothing.
    """
    if all(max(term) < "\u0250" for term in terms):
        return terms
    with closing(sqlite3.connect(":memory:")) as probe:
        probe.execute(f"CREATE VIRTUAL TABLE t USING fts5(body, tokenize='{_FTS5_TOKENIZER}')")
        probe.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        probe.executemany("INSERT INTO t(rowid, body) VALUES (?, ?)", enumerate(terms))
        cut: defaultdict[int, list[str]] = defaultdict(list)
        for row, token in probe.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
            cut[row].append(token)
    return [token for row, term in enumerate(terms) for token in cut.get(row) or [term]]


def _tsquery(terms: list[str]) -> str:
    """The same for PostgreSQL: words are letters and digits only, joined by AND."""
    return " & ".join(f"{term}:*" if len(term) > 1 else term for term in terms)


def _dialect(db: Database) -> str:
    return db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name


def search(
    session: Database,
    query: str,
    *,
    filters: SearchFilters | None = None,
    today: date,
    limit: int = 20,
    offset: int = 0,
    candidates: int = CANDIDATES,
    windows: tuple[int | None, ...] = WINDOWS,
) -> SearchPage:
    """Live items matching every word of `query` (best first), or all by date when it has none.

    Ranking runs over the newest `candidates` matches: past that, a common word
    would make every search rank half the archive. `SearchPage.capped` says
    when older matches were left out, so the page can ask for more words.
    """
    filters = filters or SearchFilters()
    named = split_identifiers(query)
    if named.any:  # an address, a domain or a phone number: the items of whoever holds it
        filters = replace(filters, subject_ids=tuple(subjects_holding(session, named)))
        query = named.rest
    terms = terms_of(query)
    where, params = _filter_sql(filters, today)
    params |= {"limit": limit + 1, "offset": offset, "cap": candidates}
    conditions = " AND ".join(where)
    if terms and _dialect(session) != "sqlite":
        found, capped = _postgresql_page(session, terms, conditions, params, windows)
    else:
        if terms:
            params |= {"match": _fts5_query(terms), "scan": _SNIPPET_SCAN}
        sql = _sqlite_sql(conditions) if terms else _browse_sql(conditions)
        found = list(session.execute(text(sql).columns(*_RESULT_COLUMNS), params).all())
        capped = bool(terms) and bool(found) and bool(found[0].capped)
    more = len(found) > limit
    found = found[:limit]
    hits = [
        SearchHit(
            item_id=row.id,
            kind=row.kind,
            title=row.title,
            received_at=row.received_at,
            expires_at=row.expires_at,
            legal_basis=row.legal_basis,
            special_category=bool(row.special_category),
            snippet=" ".join(make_snippet(row.snippet or "", terms).split()) if terms else "",
        )
        for row in found
    ]
    _add_people_and_freezes(session, hits)
    return SearchPage(hits=hits, more=more, capped=capped)


def _browse_sql(conditions: str) -> str:
    """No words: the newest items that pass the filters."""
    return (
        f"SELECT {_ITEM_COLUMNS}, '' AS snippet, 0 AS capped FROM item i WHERE {conditions} "
        "ORDER BY i.received_at DESC, i.id DESC LIMIT :limit OFFSET :offset"
    )


def _sqlite_sql(conditions: str) -> str:
    """A ranked page on SQLite FTS5.

    One walk of the doclists, newest first, scoring as it goes and stopping
    after `cap` matches that pass the filters; then rank those. (A second FTS
    query for snippets would walk the doclists again: the page's bodies are
    marked in Python instead.)
    """
    return (
        "WITH cand AS (SELECT item_fts.rowid AS id, bm25(item_fts) AS score "
        "FROM item_fts JOIN item i ON i.id = item_fts.rowid "
        f"WHERE item_fts MATCH :match AND {conditions} "
        "ORDER BY item_fts.rowid DESC LIMIT :cap + 1), "
        f"page AS (SELECT {_ITEM_COLUMNS}, c.score FROM "
        "(SELECT id, score FROM cand ORDER BY id DESC LIMIT :cap) c "
        "JOIN item i ON i.id = c.id "
        "ORDER BY c.score, i.received_at DESC LIMIT :limit OFFSET :offset) "
        "SELECT page.id, page.kind, page.title, page.received_at, page.expires_at, "
        "page.legal_basis, page.special_category, substr(t.body, 1, :scan), "
        "(SELECT count(*) > :cap FROM cand) FROM page "
        "JOIN itemtext t ON t.item_id = page.id "
        "ORDER BY page.score, page.received_at DESC"
    )


_RESULT_COLUMNS = (
    column("id", Integer),
    column("kind", String),
    column("title", String),
    column("received_at", UTCDateTime()),
    column("expires_at", UTCDateTime()),
    column("legal_basis", String),
    column("special_category", Boolean),
    column("snippet", String),
    column("capped", Boolean),
)


def _postgresql_page(
    session: Database,
    terms: list[str],
    conditions: str,
    params: dict[str, Any],
    windows: tuple[int | None, ...],
) -> tuple[list[Any], bool]:
    """Rows of a ranked page on PostgreSQL and whether older matches were left out."""
    params = params | {"tsq": _tsquery(terms), "scan": _SNIPPET_SCAN}
    # The tsquery is written out, not put in a CTE: as a constant the planner
    # sees how common the words are. The candidates are materialised so ranking
    # joins at most `cap` rows. Bodies are read for the page only and marked in
    # Python: ts_headline runs every word through the dictionaries.
    tsq = "to_tsquery('gallra_sv', :tsq)"

    def statement(order_key: str) -> Any:
        return text(
            "WITH cand AS MATERIALIZED (SELECT t.item_id FROM itemtext t "
            f"JOIN item i ON i.id = t.item_id WHERE t.tsv @@ {tsq} AND t.item_id > :low "
            f"AND {conditions} ORDER BY {order_key} DESC LIMIT :cap + 1), "
            "meta AS (SELECT count(*) AS n FROM cand), "
            f"page AS (SELECT {_ITEM_COLUMNS}, ts_rank_cd(t.tsv, {tsq}) AS score "
            "FROM (SELECT item_id FROM cand ORDER BY item_id DESC LIMIT :cap) c "
            "JOIN itemtext t ON t.item_id = c.item_id JOIN item i ON i.id = c.item_id "
            "ORDER BY score DESC, i.received_at DESC LIMIT :limit OFFSET :offset) "
            "SELECT meta.n, p.id, p.kind, p.title, p.received_at, p.expires_at, "
            "p.legal_basis, p.special_category, p.snippet FROM meta LEFT JOIN ("
            "SELECT page.*, substr(t.body, 1, :scan) AS snippet FROM page "
            "JOIN itemtext t ON t.item_id = page.id) p ON true "
            "ORDER BY p.score DESC, p.received_at DESC"
        ).columns(column("n", Integer), *_RESULT_COLUMNS[:-1])

    # In the first window the planner chooses: newest first by primary key for
    # a common word, the GIN index for a rare one. A wider window is only
    # reached when the words are rare among the newest items, but PostgreSQL
    # cannot estimate prefix terms (it guesses 0.5%) and would walk the key
    # backwards through most of the archive: "+ 0" leaves it the GIN index.
    natural, by_index = statement("t.item_id"), statement("t.item_id + 0")
    newest = session.execute(text("SELECT coalesce(max(item_id), 0) FROM itemtext")).scalar()
    rows: list[Any] = []
    count = 0
    for round_, window in enumerate(windows):
        low = max(0, int(newest or 0) - window) if window is not None else 0
        sql = natural if round_ == 0 else by_index
        rows = list(session.execute(sql, params | {"low": low}).all())
        count = int(rows[0].n) if rows else 0
        if count > params["cap"] or low == 0:
            break
    return [row for row in rows if row.id is not None], count > params["cap"]


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
    if filters.subject_ids is not None:
        names = [f"who{n}" for n in range(len(filters.subject_ids))] or ["who_none"]
        where.append(
            "EXISTS (SELECT 1 FROM itemsubject s WHERE s.item_id = i.id AND s.subject_id IN "
            f"({', '.join(':' + n for n in names)}))"
        )
        params |= dict(zip(names, filters.subject_ids or (-1,), strict=True))
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


_PEOPLE_AND_FREEZES = text(
    "SELECT l.item_id, s.id, s.display_name, NULL FROM itemsubject l "
    "JOIN subject s ON s.id = l.subject_id WHERE l.item_id IN :ids "
    "UNION ALL SELECT l.item_id, NULL, NULL, h.kind FROM itemsubject l "
    "JOIN hold h ON h.subject_id = l.subject_id "
    "WHERE l.item_id IN :ids AND h.lifted_at IS NULL "
    "UNION ALL SELECT h.item_id, NULL, NULL, h.kind FROM hold h "
    "WHERE h.item_id IN :ids AND h.lifted_at IS NULL"
).bindparams(bindparam("ids", expanding=True))


def _add_people_and_freezes(session: Database, hits: list[SearchHit]) -> None:
    """Fill in each hit's subjects and whether a restriction or hold freezes it (one query)."""
    if not hits:
        return
    by_id = {hit.item_id: hit for hit in hits}
    frozen: dict[int, set[str]] = defaultdict(set)
    for item_id, subject_id, name, kind in session.execute(
        _PEOPLE_AND_FREEZES, {"ids": list(by_id)}
    ):
        if kind is not None:
            frozen[item_id].add(kind)
        else:
            by_id[item_id].subjects.append((subject_id, name))
    for hit in hits:
        hit.subjects.sort(key=lambda pair: (pair[1], pair[0]))
        hit.restricted = HoldKind.RESTRICTION.value in frozen[hit.item_id]
        hit.held = bool(frozen[hit.item_id] - {HoldKind.RESTRICTION.value})
