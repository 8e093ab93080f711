"""The CLI: stable JSON, one clear line per error, never a traceback, no prompts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Cli


def _one_line_error(result: object) -> str:
    from tests.conftest import CliResult

    assert isinstance(result, CliResult)
    assert result.code != 0
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_init_is_idempotent_and_creates_a_private_key(cli: Cli) -> None:
    again = cli("init", "--json")
    assert again.code == 0 and again.json()["created"] == []
    key = cli.home / "secrets" / "hash.key"
    assert key.stat().st_mode & 0o077 == 0


def test_subject_lifecycle_and_retention_in_json(cli: Cli) -> None:
    added = cli(
        "subject",
        "add",
        "--name",
        "Astrid Exempel",
        "--email",
        "astrid@example.se",
        "--personnummer",
        "811218-9876",
        "--json",
    )
    assert added.code == 0, added.err
    sid = str(added.json()["id"])
    shown = cli("subject", "show", sid, "--json", now="2026-11-30").json()
    assert shown["roles"] == ["prospect"]
    assert {"kind": "personnummer", "masked": "19811218-****"} in shown["identifiers"]
    assert shown["retention"]["rule"] == "prospect"
    started = cli("engagement", "start", sid, "--on", "2025-02-01", "--json").json()
    running = cli("subject", "show", sid, "--json").json()["retention"]
    assert running == {
        "deletable_from": None,
        "kept_until": None,
        "rule": "contract",
        "items": 0,
        "basis": "registry",
    }
    assert cli("engagement", "end", str(started["id"]), "--on", "2026-03-10").code == 0
    ended = cli("subject", "show", sid, "--json").json()["retention"]
    assert (ended["kept_until"], ended["deletable_from"]) == ("2031-12-31", "2032-01-01")
    listing = cli("subject", "list", "--json").json()
    assert [row["id"] for row in listing] == [int(sid)]
    human = cli("subject", "show", sid)
    assert "kept until 2031-12-31" in human.out and "9876" not in human.out


def test_bad_personnummer_is_one_clear_line(cli: Cli) -> None:
    line = _one_line_error(cli("subject", "add", "--name", "X", "--personnummer", "811218-9875"))
    assert line == "gallra: personnummer: the check digit does not match (Luhn)"


def test_bad_policy_file_is_one_clear_line(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    from models.policy import default_policy_path

    bad.write_text(default_policy_path().read_text().replace('period = "3m"', 'period = "soon"', 1))
    line = _one_line_error(cli("policy", "check", "--file", str(bad)))
    assert line.startswith(f"gallra: {bad}: rule 'prospect': period")


def test_missing_hash_key_is_one_clear_line(cli: Cli) -> None:
    (cli.home / "secrets" / "hash.key").unlink()
    line = _one_line_error(cli("subject", "add", "--name", "X", "--personnummer", "811218-9876"))
    assert "hash key: none set; run `gallra init`, or set GALLRA_HASH_KEY" in line


def test_uninitialised_index_and_unknown_setting_are_one_line(tmp_path: Path) -> None:
    fresh = Cli(tmp_path / "fresh")
    assert "run `gallra init` first" in _one_line_error(fresh("subject", "list"))
    fresh.home.mkdir()
    (fresh.home / "gallra.toml").write_text("[blobs]\nbackand = 's3'\n")
    assert (
        _one_line_error(fresh("subject", "list"))
        == "gallra: setting blobs.backand: unknown setting"
    )


def test_a_secret_in_the_settings_file_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "gallra.toml").write_text('hash_key = "this-is-a-long-secret-value"\n')
    line = _one_line_error(Cli(home)("init"))
    assert "'hash_key' is a secret" in line and "this-is-a-long" not in line


def test_policy_check_says_the_law_wins_for_accounting(cli: Cli) -> None:
    report = cli("policy", "check", "--json").json()
    [override] = [o for o in report["law_overrides"] if o["rule"] == "accounting"]
    assert "the law wins" in override["note"] and "bokföringslagen" in override["law"]
    assert report["effect"]["items_moving"] == 0


def test_bad_now_is_refused(cli: Cli) -> None:
    assert "--now" in _one_line_error(cli("subject", "list", now="30/11/2026"))


def test_console_script_runs_without_a_terminal(tmp_path: Path) -> None:
    """The installed entry point works with no stdin (nightly runs, CI)."""
    env = {**os.environ, "GALLRA_HOME": str(tmp_path / "h")}
    done = subprocess.run(
        [sys.executable, "-m", "gallra", "init", "--json"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"index": "ready"' in done.stdout


@pytest.mark.parametrize(
    "args", [["subject", "show", "999"], ["engagement", "end", "999", "--on", "2026-01-01"]]
)
def test_unknown_ids_are_one_line(cli: Cli, args: list[str]) -> None:
    assert "999" in _one_line_error(cli(*args))
