"""`gallra search`, `gallra audit`, `gallra passwd` and `gallra web` from the command line."""

from __future__ import annotations

import pytest

from tests.conftest import Cli


@pytest.fixture
def demo(cli: Cli) -> Cli:
    cli.now = "2026-11-30"
    assert cli("demo").code == 0
    return cli


def test_search_prints_ranked_hits_with_expiry(demo: Cli) -> None:
    """WHEN the coach searches a word from an e-mail THEN the hit names the person and expiry."""
    result = demo("search", "gränser", "--json")
    assert result.code == 0, result.err
    hits = result.json()["hits"]
    assert [h["title"] for h in hits] == ["Reflektioner efter sessionen"]
    assert hits[0]["subjects"][0]["name"] == "Astrid Lövgren (demo)"
    assert hits[0]["kept_until"] == "2031-12-31"
    assert "gränser" in hits[0]["snippet"]
    text = demo("search", "granser")  # without ä
    assert "[gränser]" in text.out and "kept until 2031-12-31" in text.out
    recordings = demo("search", "", "--kind", "recording", "--json").json()["hits"]
    assert [h["kind"] for h in recordings] == ["recording"]
    none = demo("search", "zzzzqqq")
    assert none.out.strip() == "nothing found"


def test_search_refuses_bad_filters_by_name(demo: Cli) -> None:
    """WHEN a filter is malformed THEN the error names the option and nothing runs."""
    bad = demo("search", "x", "--from", "last week")
    assert bad.code == 2 and "--from" in bad.err
    assert demo("search", '"; DROP TABLE item; --').code == 0
    assert demo("search", "gränser", "--json").json()["hits"]


def test_searches_are_audited_without_their_words(demo: Cli) -> None:
    """THEN `gallra audit` lists the search with its filters' names, never the words."""
    demo("search", "gränser", "--kind", "email")
    events = demo("audit", "--json").json()
    search = [e for e in events if e["action"] == "search"]
    assert len(search) == 1 and search[0]["actor"].startswith("cli")
    assert "gränser" not in search[0]["detail"] and "kinds" in search[0]["detail"]


def test_web_login_is_set_unattended_or_not_at_all(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN no terminal THEN init sets no login, passwd needs a flag, web will not start."""
    again = cli("init", "--json")
    assert again.code == 0 and again.json()["web_login"] is False
    no_secret = cli("passwd")
    assert no_secret.code == 2 and "--password-env" in no_secret.err
    refused = cli("web")
    assert refused.code == 2 and "gallra passwd" in refused.err
    monkeypatch.setenv("WEB_PW", "short")
    assert "at least 10" in cli("passwd", "--password-env", "WEB_PW").err
    monkeypatch.setenv("WEB_PW", "long enough secret")
    assert cli("passwd", "--password-env", "WEB_PW").code == 0
    missing = cli("passwd", "--password-env", "NOT_SET_ANYWHERE")
    assert missing.code == 2 and "NOT_SET_ANYWHERE" in missing.err
