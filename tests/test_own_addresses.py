"""The practice's own addresses: asked for by `gallra init`, written to gallra.toml, and
never a person, even when listed after mail to them was indexed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from gallra.own_addresses import set_own_addresses

GALLRA = shutil.which("gallra", path=str(Path(sys.executable).parent)) or "gallra"


def _run(home: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    done = subprocess.run(
        [GALLRA, "--home", str(home), "--now", "2026-11-30", *args],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_init_takes_own_addresses_unattended_and_keeps_them(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = _run(home, "init", "--own-address", "Coach@Example.org", "--json")
    assert json.loads(made.stdout)["own_addresses"] == ["coach@example.org"]
    again = _run(home, "init", "--json", env={"GALLRA_OWN_ADDRESSES": "info@example.org"})
    assert json.loads(again.stdout)["own_addresses"] == ["coach@example.org", "info@example.org"]
    settings = tomllib.loads((home / "gallra.toml").read_text(encoding="utf-8"))
    assert settings["mail"]["own_addresses"] == ["coach@example.org", "info@example.org"]
    quiet = _run(home, "init")  # no terminal, nothing given: nothing asked, nothing changed
    assert "coach@example.org" not in quiet.stderr
    assert tomllib.loads((home / "gallra.toml").read_text(encoding="utf-8")) == settings


def test_settings_with_sources_get_the_line_in_their_mail_table(tmp_path: Path) -> None:
    toml = tmp_path / "gallra.toml"
    toml.write_text(
        '[mail]\nbatch_size = 50\n\n[[mail.sources]]\nname = "practice"\nhost = "h"\nuser = "u"\n',
        encoding="utf-8",
    )
    assert set_own_addresses(toml, ["a@example.se"]) == ["a@example.se"]
    parsed = tomllib.loads(toml.read_text(encoding="utf-8"))
    assert parsed["mail"]["own_addresses"] == ["a@example.se"]
    assert parsed["mail"]["batch_size"] == 50 and parsed["mail"]["sources"][0]["name"] == "practice"


def test_an_address_listed_later_stops_being_a_person(tmp_path: Path) -> None:
    """GIVEN 6 mails to info@ indexed before it was listed as the practice's own (so a
    'person' info@ is on all six) WHEN it is listed THEN those links go, each mail keeps its
    real sender, and the person made from the address is deleted, by a ledger entry."""
    home = tmp_path / "home"
    _run(home, "init", "--own-address", "coach@example.org")
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    for n in range(6):
        (inbox / f"{n}.eml").write_text(
            f"From: Person {n} <person{n}@example.se>\nTo: Mottagningen <info@example.org>\n"
            f"Subject: Fråga {n}\nDate: Mon, 02 Nov 2026 10:00:00 +0100\n"
            f"Message-ID: <own{n}@example.se>\n\nHej!\n",
            encoding="utf-8",
        )
    _run(home, "ingest", "mail", "--eml-dir", str(inbox))
    people = json.loads(_run(home, "subject", "list", "--json").stdout)
    info = next(p for p in people if "Mottagningen" in p["name"])
    assert info["items"] == 6
    _run(home, "init", "--own-address", "info@example.org")
    left = json.loads(_run(home, "subject", "list", "--json").stdout)
    assert info["id"] not in {p["id"] for p in left} and len(left) == 6
    assert all(p["items"] == 1 for p in left)  # each mail keeps its sender
    ledger = json.loads(_run(home, "ledger", "verify", "--json").stdout)
    assert ledger["ok"]
