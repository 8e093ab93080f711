"""Full-text search on SQLite FTS5 and PostgreSQL: Swedish words, hostile input, filters."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col, select

from models.enums import HoldKind, ItemKind, ItemState, LegalBasis, Role
from models.policy import Policy
from models.tables import Item, ItemText
from storage.engine import current_revision, make_engine, migrate
from storage.holds import add_hold
from storage.local import LocalBlobStore
from storage.registry import add_subject
from storage.search import HIT_END, HIT_START, SearchFilters, make_snippet, search, terms_of
from tests.factory import make_item

TODAY = date(2026, 11, 30)

HOSTILE = [
    '"',
    '""*',
    "*",
    "NEAR(a b)",
    "'; DROP TABLE item; --",
    "a:* & !b | c",
    "body:samtal",
    "(((",
    "\x00",
    "-",
    "AND OR NOT",
    "^samtal",
    "ö" * 500,
]


@pytest.fixture
def corpus(session: Session, policy: Policy, tmp_path: Path) -> dict[str, int]:
    """Given a few Swedish and English items of two invented clients."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    astrid = add_subject(session, display_name="Astrid Lindqvist", roles=[Role.CLIENT])
    bertil = add_subject(session, display_name="Bertil Öhman", roles=[Role.PROSPECT])
    assert astrid.id is not None and bertil.id is not None
    texts = {
        "mote": "Om mötet på torsdag\nVi ses för samtalet om sömnen och hälsan.",
        "samtal": "Inför samtalen\nTack för senaste samtalet, här är mina anteckningar.",
        "invoice": "Faktura november\nBifogar fakturan för oktober.",
        "english": "Session notes\nThe session about work stress went well.",
    }
    ids: dict[str, int] = {}
    for name, body in texts.items():
        subjects = [bertil.id] if name == "invoice" else [astrid.id]
        item = make_item(
            session,
            blobs,
            policy,
            text=body,
            subjects=subjects,
            received=datetime(2026, 10, 1 + len(ids), 9, 0, tzinfo=UTC),
            basis=LegalBasis.LEGAL_OBLIGATION if name == "invoice" else LegalBasis.CONTRACT,
            purpose="accounting" if name == "invoice" else "agreement",
        )
        assert item.id is not None
        ids[name] = item.id
    session.commit()
    ids["astrid"], ids["bertil"] = astrid.id, bertil.id
    return ids


def found(session: Session, query: str, **filters: object) -> set[int]:
    page = search(session, query, filters=SearchFilters(**filters), today=TODAY)  # type: ignore[arg-type]
    return {hit.item_id for hit in page.hits}


def test_swedish_words_with_and_without_diacritics_and_inflection(
    session: Session, corpus: dict[str, int]
) -> None:
    """WHEN the coach types Swedish words THEN å ä ö, their absence and inflections match."""
    assert found(session, "mötet") == {corpus["mote"]}
    assert found(session, "MÖTET") == {corpus["mote"]}
    assert found(session, "motet") == {corpus["mote"]}  # typed without ö
    assert found(session, "sömnen hälsan") == {corpus["mote"]}
    assert found(session, "samtal") == {corpus["mote"], corpus["samtal"]}  # samtalet, samtalen
    assert found(session, "faktura") == {corpus["invoice"]}  # finds fakturan too
    assert found(session, "session stress") == {corpus["english"]}
    assert found(session, "sömnen faktura") == set()  # every word must match


def test_stemming_finds_other_inflections_on_postgresql(
    session: Session, corpus: dict[str, int]
) -> None:
    """GIVEN PostgreSQL's Swedish stemmer THEN 'samtalen' also finds 'samtalet'."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite FTS5 has no Swedish stemmer: prefix matching only")
    assert found(session, "samtalen") == {corpus["mote"], corpus["samtal"]}


def test_hits_carry_snippet_subjects_and_rank(session: Session, corpus: dict[str, int]) -> None:
    """THEN a hit shows where the word is, whose item it is and when it expires."""
    page = search(session, "anteckningar", today=TODAY)
    assert [h.item_id for h in page.hits] == [corpus["samtal"]]
    hit = page.hits[0]
    assert f"{HIT_START}anteckningar{HIT_END}" in hit.snippet
    assert hit.subjects == [(corpus["astrid"], "Astrid Lindqvist")]
    assert hit.expires_at is not None
    assert not hit.restricted and not hit.held


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_input_never_breaks_a_query(
    session: Session, corpus: dict[str, int], query: str
) -> None:
    """WHEN the input holds query syntax or SQL THEN it is only words, and the index survives."""
    search(session, query, today=TODAY)
    assert found(session, "faktura") == {corpus["invoice"]}


def test_terms_are_words_only() -> None:
    """THEN only letters and digits reach the engine, at most twelve distinct terms."""
    assert terms_of("\"Möte\"* NEAR(a_b) 'x' 2026") == ["möte", "near", "a", "b", "x", "2026"]
    assert len(terms_of(" ".join(f"w{n}" for n in range(40)))) == 12


def test_words_the_index_cuts_in_two_still_search(
    session: Session, policy: Policy, tmp_path: Path
) -> None:
    """GIVEN a word that is letters to Python but two tokens to FTS5 (U+19B0 is a separator
    to unicode61) THEN searching for it finds its item, not a phrase-query error.
    """
    blobs = LocalBlobStore(tmp_path / "b")
    item = make_item(session, blobs, policy, text="Ordet ab\u19b0cd här", subjects=[])
    session.commit()
    assert found(session, "ab\u19b0cd") == {item.id}
    assert found(session, "\u19b0") == set()  # no token at all: matches nothing


def test_sqlite_index_keeps_no_token_positions(session: Session, corpus: dict[str, int]) -> None:
    """THEN the FTS5 index stores which items hold a word, not where (migration 0004)."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite FTS5 only")
    ddl = session.execute(text("SELECT sql FROM sqlite_master WHERE name = 'item_fts'")).scalar()
    assert "detail=column" in str(ddl)
    with pytest.raises(OperationalError, match="phrase queries are not supported"):
        session.execute(text("SELECT rowid FROM item_fts WHERE item_fts MATCH '\"om mötet\"'"))


def _index_at(
    revision: str, policy: Policy, tmp_path: Path, kept: str, gone: str
) -> tuple[Engine, int, int]:
    """An SQLite index migrated to `revision`, holding an item of each text; their ids."""
    engine = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
    migrate(engine, revision)
    with Session(engine, expire_on_commit=False) as session:
        blobs = LocalBlobStore(tmp_path / "b")
        items = [make_item(session, blobs, policy, text=t, subjects=[]) for t in (kept, gone)]
        session.commit()
    ids = [item.id for item in items]
    assert ids[0] is not None and ids[1] is not None
    return engine, ids[0], ids[1]


def test_upgrade_to_an_index_without_positions_keeps_every_item_findable(
    policy: Policy, tmp_path: Path
) -> None:
    """GIVEN an index at migration 0003 with text WHEN it is migrated THEN the rebuilt FTS5
    index finds it, and a deletion still takes its words out of the index.
    """
    engine, kept, gone = _index_at(
        "0003", policy, tmp_path, "Samtalet om sömnen", "Anteckningar om sömnen"
    )
    migrate(engine, "0004")
    assert current_revision(engine) == "0004"
    with Session(engine) as session:
        assert found(session, "somnen") == {kept, gone}
        session.execute(delete(ItemText).where(col(ItemText.item_id) == gone))
        session.commit()
        assert found(session, "somn") == {kept}
        rows = session.execute(text("SELECT rowid FROM item_fts WHERE item_fts MATCH 'ante*'"))
        assert rows.all() == []
    engine.dispose()


def test_upgrade_to_short_prefix_indexes_finds_every_prefix_length_as_before(
    policy: Policy, tmp_path: Path
) -> None:
    """GIVEN an index at migration 0005 (seven prefix indexes) WHEN it is migrated to 0006
    (prefixes of two and three letters only) THEN every prefix of every length finds what it
    found before, and a deletion still takes an item's words out of the index.
    """
    engine, kept, gone = _index_at(
        "0005", policy, tmp_path, "Samtalet om sömnen", "Samtalen om målen"
    )
    word = "samtalet"
    with Session(engine) as session:
        before = {n: found(session, word[:n]) for n in range(2, len(word) + 1)}
    assert before[5] == {kept, gone} and before[8] == {kept}
    migrate(engine, "0006")
    assert current_revision(engine) == "0006"
    with Session(engine) as session:
        ddl = session.execute(text("SELECT sql FROM sqlite_master WHERE name = 'item_fts'"))
        assert "prefix='2 3'," in str(ddl.scalar())
        assert {n: found(session, word[:n]) for n in range(2, len(word) + 1)} == before
        assert found(session, "sömn") == found(session, "somnen") == {kept}
        session.execute(delete(ItemText).where(col(ItemText.item_id) == gone))
        session.commit()
        assert found(session, "samta") == {kept}
        assert found(session, "mål") == found(session, "ma") == set()
    engine.dispose()


def test_filters(session: Session, corpus: dict[str, int]) -> None:
    """Subject, kind, dates, legal basis, special category and expiring-within narrow a search."""
    everything = {corpus[k] for k in ("mote", "samtal", "invoice", "english")}
    assert found(session, "") == everything
    assert found(session, "", subject_id=corpus["bertil"]) == {corpus["invoice"]}
    assert found(session, "", kinds=(ItemKind.RECORDING.value,)) == set()
    assert found(session, "", kinds=(ItemKind.EMAIL.value,)) == everything
    assert found(session, "", received_from=date(2026, 10, 2), received_to=date(2026, 10, 3)) == {
        corpus["samtal"],
        corpus["invoice"],
    }
    assert found(session, "", legal_basis=LegalBasis.LEGAL_OBLIGATION.value) == {corpus["invoice"]}
    assert found(session, "", special_category=True) == set()
    # Bertil is a prospect: his mail expires three months after it came, so within 30 days.
    soon = found(session, "", expiring_within_days=30)
    assert corpus["invoice"] not in soon  # accounting: seven years
    assert found(session, "", expiring_within_days=36500) == everything


def test_restricted_and_held_items_are_flagged(session: Session, corpus: dict[str, int]) -> None:
    """GIVEN a restriction on a subject and a hold on an item THEN hits say so."""
    add_hold(session, kind=HoldKind.RESTRICTION, reason="art. 18", subject_id=corpus["astrid"])
    add_hold(session, kind=HoldKind.LEGAL_HOLD, reason="dispute", item_id=corpus["invoice"])
    session.commit()
    hits = {h.item_id: h for h in search(session, "", today=TODAY).hits}
    assert hits[corpus["mote"]].restricted and not hits[corpus["mote"]].held
    assert hits[corpus["invoice"]].held and not hits[corpus["invoice"]].restricted


def test_paging(session: Session, corpus: dict[str, int]) -> None:
    """THEN pages do not overlap and say whether more follow."""
    first = search(session, "", today=TODAY, limit=3)
    second = search(session, "", today=TODAY, limit=3, offset=3)
    assert first.more and not second.more
    assert len(first.hits) == 3 and len(second.hits) == 1
    assert not {h.item_id for h in first.hits} & {h.item_id for h in second.hits}


def test_deleted_and_deleting_items_are_not_found(session: Session, corpus: dict[str, int]) -> None:
    """WHEN an item is being deleted or gone THEN no search finds it; its words leave the index."""
    session.execute(
        update(Item).where(col(Item.id) == corpus["mote"]).values(state=ItemState.DELETING.value)
    )
    assert found(session, "sömnen") == set()
    session.execute(delete(ItemText).where(col(ItemText.item_id) == corpus["samtal"]))
    session.execute(delete(Item).where(col(Item.id) == corpus["samtal"]))
    session.commit()
    assert found(session, "anteckningar") == set()
    if session.get_bind().dialect.name == "sqlite":
        # The FTS index itself holds no row for the deleted text.
        rows = session.execute(
            text("SELECT rowid FROM item_fts WHERE item_fts MATCH 'anteckningar'")
        ).all()
        assert rows == []


def test_text_replaced_is_reindexed(session: Session, corpus: dict[str, int]) -> None:
    """WHEN an item's text is rectified THEN the old words are gone and the new ones found."""
    from storage.items import set_text

    set_text(session, item_id=corpus["english"], body="Corrected notes about sleep")
    session.commit()
    assert found(session, "stress") == set()
    assert found(session, "sleep") == {corpus["english"]}


def test_many_matches_rank_among_the_newest(session: Session, corpus: dict[str, int]) -> None:
    """GIVEN more matches than the candidate cap THEN only the newest are ranked, and it says so."""
    both = {corpus["mote"], corpus["samtal"]}
    full = search(session, "samtal", today=TODAY)
    assert {h.item_id for h in full.hits} == both and not full.capped
    capped = search(session, "samtal", today=TODAY, candidates=1)
    assert capped.capped
    assert [h.item_id for h in capped.hits] == [max(both)]  # the newer of the two


def test_snippets_mark_words_by_stem_and_without_diacritics() -> None:
    """THEN a snippet starts at a word near the first hit and marks every inflected hit."""
    body = "Inledning. " + "fyllnad " * 30 + "Vi pratade om sömnen och samtalet om SÖMN igen."
    snippet = make_snippet(body, ["somnen", "samtalen"])
    assert f"{HIT_START}sömnen{HIT_END}" in snippet
    assert f"{HIT_START}samtalet{HIT_END}" in snippet  # samtalen -> stem samtal
    assert f"{HIT_START}SÖMN{HIT_END}" in snippet  # stem somn, any case, with or without ö
    assert snippet.startswith("…") and not snippet.startswith("…ad")
    assert make_snippet("", ["x"]) == ""
    assert HIT_START not in make_snippet("nothing to see", ["absent"])


def test_the_shared_corpus_is_searchable(
    engine: Engine, policy: Policy, tmp_path: Path, corpora: Path
) -> None:
    """GIVEN the whole public e-mail corpus ingested THEN a distinctive word of any message's
    text finds that message, and no line of hostile input breaks a query over it."""
    from ingest.archives import batched
    from ingest.mail import MailIngestor
    from ingest.tagging import TaggingRules
    from models.clock import FixedClock
    from tests.test_mail_corpus import corpus_messages

    ingestor = MailIngestor(
        engine,
        LocalBlobStore(tmp_path / "blobs"),
        policy,
        TaggingRules.build(own_addresses=["coach@example.org"]),
        FixedClock.on(TODAY),
        parse_workers=0,
    )
    for batch in batched(list(corpus_messages()), 50):
        ingestor.ingest_batch(batch)
    with Session(engine) as session:
        bodies = session.execute(
            select(ItemText.item_id, ItemText.body).order_by(col(ItemText.item_id))
        ).all()
        checked = 0
        for item_id, body in bodies[::5]:
            words = sorted(
                (w for w in terms_of(body) if len(w) >= 7 and w.isalpha()), key=len, reverse=True
            )
            if not words:
                continue
            page = search(session, words[0], today=TODAY, limit=200)
            assert item_id in {h.item_id for h in page.hits}, words[0]
            checked += 1
        assert checked >= 20
        for query in HOSTILE:
            search(session, query, today=TODAY)


@pytest.mark.parametrize("query", ["samtal", "sömnen", "faktura", "session", "x", "nothing"])
def test_newest_first_windows_give_the_same_answer(
    session: Session, corpus: dict[str, int], query: str
) -> None:
    """GIVEN id windows narrower than the archive THEN a search ranks the same newest matches
    as one pass over everything (PostgreSQL widens the window until it has enough)."""
    for cap in (1, 2, 200):
        whole = search(session, query, today=TODAY, candidates=cap, windows=(None,))
        stepped = search(session, query, today=TODAY, candidates=cap, windows=(1, 2, None))
        assert [h.item_id for h in stepped.hits] == [h.item_id for h in whole.hits]
        assert stepped.capped == whole.capped
