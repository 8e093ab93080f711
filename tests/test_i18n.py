"""Swedish first: every message the page, the report and the e-mails use has a Swedish
translation in the catalogue, with the same placeholders; times are Stockholm time."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from gallra.i18n import LOCALE_DIR, Texts, choose_language, translations
from gallra.labels import LABELS

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _extracted() -> set[str | tuple[str, str]]:
    method_map, options_map = parse_mapping_cfg(  # type: ignore[no-untyped-call]
        io.StringIO((LOCALE_DIR / "babel.cfg").read_text(encoding="utf-8"))
    )
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=keywords
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


def test_every_message_has_a_swedish_translation() -> None:
    """GIVEN every message marked in the code and the templates THEN the Swedish catalogue
    translates each (not fuzzy, not empty) with the same placeholders."""
    with (LOCALE_DIR / "sv" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle, locale="sv")
    extracted = _extracted()
    assert len(extracted) > 250  # the extraction really read the templates and the code
    missing, wrong = [], []
    for message in extracted:
        entry = catalogue.get(message if isinstance(message, str) else message[0])
        targets = (
            []
            if entry is None
            else list(entry.string)
            if isinstance(entry.string, tuple)
            else [entry.string]
        )
        if entry is None or entry.fuzzy or not targets or not all(targets):
            missing.append(message)
            continue
        source = message if isinstance(message, str) else message[1]
        wanted = set(PLACEHOLDER.findall(source)) - {"num"}
        if any(set(PLACEHOLDER.findall(str(t))) - {"num"} != wanted for t in targets):
            wrong.append(message)
    assert missing == [] and wrong == []


def test_the_vocabularies_have_swedish_names() -> None:
    """THEN purposes, legal bases, roles and rules read as a Swedish practice says them."""
    sv = Texts("sv")
    assert sv.label("basis", "contract") == "avtal"
    assert sv.label("basis", "legal_obligation") == "rättslig förpliktelse"
    assert sv.label("basis", "legitimate_interest") == "berättigat intresse"
    assert sv.label("basis", "consent") == "samtycke"
    assert sv.label("purpose", "agreement") == "avtal"
    assert sv.label("role", "client") == "klient"
    assert sv.label("purpose", "a_purpose_of_their_own") == "a purpose of their own"
    for vocabulary, names in LABELS.items():
        for value in names:
            assert sv.label(vocabulary, value) != names[value] or value in ("ok", "export")


def test_times_are_stockholm_time_in_either_language() -> None:
    """GIVEN a mail stored at 08:12 UTC on 18 November THEN it reads 09:12 in Stockholm."""
    at = datetime(2026, 11, 18, 8, 12, tzinfo=UTC)
    assert Texts("sv").moment(at) == "18 nov. 2026 09:12"
    assert Texts("en").moment(at) == "18 Nov 2026 09:12"
    assert Texts("sv", today=date(2026, 11, 18)).moment(at) == "i dag 09:12"
    assert Texts("sv", today=date(2026, 11, 17)).moment(at) == "i morgon 09:12"
    assert Texts("en", today=date(2026, 11, 19)).moment(at) == "yesterday 09:12"
    summer = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # CEST: the next day already
    assert Texts("sv").day(summer) == "2 juli 2026"


def test_language_follows_the_user_then_the_browser_then_swedish() -> None:
    assert choose_language("en", "sv-SE,sv;q=0.9") == "en"
    assert choose_language(None, "en-GB,en;q=0.9,sv;q=0.8") == "en"
    assert choose_language(None, "de-DE,sv;q=0.5,en;q=0.4") == "sv"
    assert choose_language(None, "de-DE, fr;q=0.9") == "sv"
    assert choose_language(None, "en;q=0, sv;q=0.1") == "sv"
    assert choose_language(None, None) == "sv"


def test_an_uncompiled_catalogue_is_read_from_its_po(tmp_path: Path) -> None:
    """GIVEN a checkout run in place (no .mo) THEN the .po is compiled in memory."""
    translations.cache_clear()
    mo = LOCALE_DIR / "sv" / "LC_MESSAGES" / "messages.mo"
    kept = tmp_path / "messages.mo"
    had = mo.exists()
    if had:
        mo.replace(kept)
    try:
        assert translations("sv").gettext("Search") == "Sök"
    finally:
        if had:
            kept.replace(mo)
        translations.cache_clear()
