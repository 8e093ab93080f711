"""Finding a person's items by an address, a domain or a phone number, as the coach types
them, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlmodel import Session

from models.policy import Policy
from storage.identifier_search import split_identifiers
from storage.local import LocalBlobStore
from storage.registry import NewIdentifier, add_subject
from storage.search import search
from tests.factory import make_item

TODAY = date(2026, 11, 30)


def test_identifiers_are_taken_out_of_the_words() -> None:
    found = split_identifiers("faktura Karin.Sjoberg@Exempel.se @firma.se 070-123 45 67 möte")
    assert found.emails == ["karin.sjoberg@exempel.se"]
    assert found.domains == ["firma.se"]
    assert found.phones == ["+46701234567"]
    assert found.rest == "faktura möte"
    assert split_identifiers("+46 70 123 45 67").phones == ["+46701234567"]
    assert split_identifiers("0046701234567").phones == ["+46701234567"]
    dated = split_identifiers("möte 2026-11-30 kl 10")  # a date is not a phone number
    assert not dated.any and dated.rest == "möte 2026-11-30 kl 10"


def test_search_by_address_domain_and_phone(
    session: Session, policy: Policy, tmp_path: Path
) -> None:
    """GIVEN two people at one firm and one elsewhere WHEN the coach searches by address,
    by domain or by phone (in any usual form) THEN she gets exactly their items."""
    blobs = LocalBlobStore(tmp_path / "blobs")
    karin = add_subject(
        session,
        display_name="Karin Sjöberg",
        identifiers=[NewIdentifier.email("karin@firma.se"), NewIdentifier.phone("0701234567")],
    )
    olle = add_subject(
        session, display_name="Olle Ring", identifiers=[NewIdentifier.email("olle@firma.se")]
    )
    other = add_subject(
        session, display_name="Pia Berg", identifiers=[NewIdentifier.email("pia@annat_ab.se")]
    )
    assert karin.id and olle.id and other.id
    items = {
        name: make_item(session, blobs, policy, text=body, subjects=[sid]).id
        for name, body, sid in (
            ("karin", "Faktura för oktober", karin.id),
            ("karin2", "Inför mötet", karin.id),
            ("olle", "Faktura för november", olle.id),
            ("pia", "Faktura från Pia", other.id),
        )
    }
    session.commit()

    def found(query: str) -> set[int | None]:
        return {h.item_id for h in search(session, query, today=TODAY).hits}

    assert found("karin@firma.se") == {items["karin"], items["karin2"]}
    assert found("KARIN@FIRMA.SE faktura") == {items["karin"]}
    assert found("@firma.se") == {items["karin"], items["karin2"], items["olle"]}
    assert found("@firma.se faktura") == {items["karin"], items["olle"]}
    assert found("+46 70 123 45 67") == found("070-123 45 67") == {items["karin"], items["karin2"]}
    assert found("nobody@firma.se") == set()
    assert found("@annat_ab.se") == {items["pia"]}
    assert found("@annatxab.se") == set()  # "_" is a character here, not a LIKE wildcard
