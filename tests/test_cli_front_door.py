"""The installed `gallra` script as a user meets it: usage mistakes, version, precedence,
start-up laziness, local times, terminal-safe output and the CLI's audit trail."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli

GALLRA = shutil.which("gallra", path=str(Path(sys.executable).parent))


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def _gallra(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Run:
    assert GALLRA is not None, "the gallra console script is not installed beside python"
    done = subprocess.run(
        [GALLRA, *args],
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def _commands() -> list[tuple[list[str], object]]:
    """Every command of the typer app's tree (leaves and groups), as (path, click command)."""
    import typer.main

    from gallra.cli import app

    root = typer.main.get_command(app)
    found: list[tuple[list[str], object]] = []

    def walk(path: list[str], command: object) -> None:
        found.append((path, command))
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            walk([*path, name], sub)

    walk([], root)
    return found[1:]


def _is_group(command: object) -> bool:
    return bool(getattr(command, "commands", None))


def _placeholder(param: object) -> str:
    """A value of the parameter's type that parses (what the command does with it is moot)."""
    kind = getattr(getattr(param, "type", None), "name", "")
    choices = getattr(getattr(param, "type", None), "choices", None)
    if choices:
        return str(next(iter(choices)))
    return "1" if kind in ("integer", "float") else "2026-01-01"


def _wrong(param: object) -> str | None:
    """A value the parameter's type must refuse, or None when every text is valid for it."""
    kind = getattr(getattr(param, "type", None), "name", "")
    if getattr(getattr(param, "type", None), "choices", None):
        return "no-such-choice"
    return "not-a-number" if kind in ("integer", "float") else None


def _cases() -> list[tuple[str, list[str], str]]:
    """(label, argv, what must appear on stderr) for every usage mistake of every command."""
    cases: list[tuple[str, list[str], str]] = []
    for path, command in _commands():
        name = " ".join(path)
        cases.append((f"{name} --bogus", [*path, "--bogus"], "No such option: --bogus"))
        if _is_group(command):
            cases.append((f"{name} (nothing)", path, f"Usage: gallra {name}"))
            continue
        params = [p for p in getattr(command, "params", []) if p.name != "help"]
        required = [p for p in params if getattr(p, "required", False)]
        if required:
            cases.append((f"{name} (no arguments)", path, "Missing"))

        for p in params:
            value = _wrong(p)
            if value is None or getattr(p, "is_flag", False) or getattr(p, "count", False):
                continue
            cases.append((f"{name} {p.name}={value}", _argv(path, required, p, value), "Invalid"))
    return cases


def _argv(path: list[str], required: list[Any], bad: Any, value: str) -> list[str]:
    """The command with every required parameter given a valid value, and `bad` = `value`."""
    out: list[str] = [*path]
    for p in required:
        text = value if p is bad else _placeholder(p)
        out += [text] if p.param_type_name == "argument" else [p.opts[0], text]
    if bad not in required:
        out += [bad.opts[0], value]
    return out


def test_every_usage_mistake_is_answered_like_a_unix_tool(tmp_path: Path) -> None:
    """GIVEN the whole command tree WHEN each command gets an unknown option, no arguments,
    or a wrong type for each typed parameter THEN exit 2 with the error, the command's
    usage line and a hint, no 'internal error', no traceback, and nothing created."""
    home = tmp_path / "never-created"
    cases = _cases()
    assert len(cases) > 60  # the walk found the tree
    env = {"GALLRA_HOME": str(home)}
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda case: _gallra(*case[1], env=env), cases))
    wrong = []
    for (label, argv, needle), run in zip(cases, runs, strict=True):
        usage = f"Usage: gallra {' '.join(a for a in argv if not a.startswith('-'))}"
        good = (
            run.code == 2
            and needle in run.err + run.out
            and "Usage: gallra" in run.err + run.out
            and ("Try 'gallra" in run.err or usage in run.out + run.err)
            and "internal error" not in run.err
            and "Traceback" not in run.err
        )
        if not good:
            wrong.append(f"{label}: rc {run.code}: {run.err.strip()[-300:]}")
    assert wrong == []
    assert not home.exists()


def test_version_typo_and_missing_words(tmp_path: Path) -> None:
    env = {"GALLRA_HOME": str(tmp_path / "h")}
    from gallra import __version__

    version = _gallra("--version", env=env)
    assert (version.code, version.out) == (0, f"gallra {__version__}\n")
    typo = _gallra("serach", env=env)
    assert typo.code == 2 and "Did you mean 'search'?" in typo.err
    assert "Try 'gallra --help' for help." in typo.err
    words = _gallra("search", env=env)
    assert words.code == 2 and "Missing argument" in words.err
    assert "Try 'gallra search --help' for help." in words.err
    bare = _gallra(env=env)
    assert bare.code == 2 and "Usage: gallra [OPTIONS] COMMAND" in bare.out + bare.err


def test_an_explicit_home_and_now_beat_the_environment(tmp_path: Path) -> None:
    """GIVEN GALLRA_HOME=A and GALLRA_NOW=2020-01-01 WHEN --home B --now 2030-06-01 is given
    THEN the command works in B as of 2030."""
    env_home, flag_home = tmp_path / "A", tmp_path / "B"
    env = {"GALLRA_HOME": str(env_home), "GALLRA_NOW": "2020-01-01"}
    made = _gallra("--home", str(flag_home), "init", "--json", env=env)
    assert made.code == 0, made.err
    assert json.loads(made.out)["home"] == str(flag_home)
    assert flag_home.is_dir() and not env_home.exists()
    swept = _gallra(
        "--home", str(flag_home), "--now", "2030-06-01", "sweep", "--dry-run", "--json", env=env
    )
    assert swept.code == 0, swept.err
    assert json.loads(swept.out)["as_of"].startswith("2030-06-01")
    plain = _gallra("--home", str(flag_home), "sweep", "--dry-run", "--json", env=env)
    assert json.loads(plain.out)["as_of"].startswith("2020-01-01")  # the env when no flag


@pytest.mark.parametrize(
    "argv", [["--help"], ["search", "--help"], ["subject", "show", "abc"], ["serach"]]
)
def test_help_and_usage_errors_import_nothing_heavy(argv: list[str], tmp_path: Path) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['gallra', *{argv!r}]\n"
        "from gallra.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('sqlalchemy', 'sqlmodel', 'prefect', 'fastapi', 'uvicorn', 'boto3', 'alembic')\n"
        "print(sorted(m for m in heavy if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "GALLRA_HOME": str(tmp_path / "h")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


def _eml(folder: Path, name: str, subject: str, date: str) -> None:
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(
        (
            "From: Greta Exempel <greta.exempel@example.se>\r\nTo: coach@example.org\r\n"
            f"Subject: {subject}\r\nDate: {date}\r\nMessage-ID: <{name}@example.se>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nHej, vi ses på torsdag.\r\n"
        ).encode()
    )


def test_people_read_stockholm_times_and_counted_nouns(cli: Cli, tmp_path: Path) -> None:
    """GIVEN a mail sent 08:12 UTC WHEN it is found THEN it reads 09:12, the Stockholm time."""
    mail = tmp_path / "mail"
    _eml(mail, "a.eml", "Torsdagens samtal", "Wed, 18 Nov 2026 08:12:00 +0000")
    assert cli("ingest", "mail", "--eml-dir", str(mail), now="2026-11-20").code == 0
    found = cli("search", "torsdag", now="2026-11-20")
    assert found.code == 0, found.err
    assert "2026-11-18 09:12" in found.out and "T08:12" not in found.out
    assert "None" not in found.out and "until None" not in found.out
    as_json = cli("search", "torsdag", "--json", now="2026-11-20").json()
    assert as_json["hits"][0]["received_at"] == "2026-11-18T08:12:00+00:00"
    listing = cli("subject", "list").out
    assert " 1 item\n" in listing  # not "1 items"
    doctor = cli("doctor")
    assert doctor.code == 0 and "{" not in doctor.out and "items: " in doctor.out


def test_nothing_from_mail_or_people_reaches_the_terminal_raw(cli: Cli, tmp_path: Path) -> None:
    """GIVEN a name and a subject line carrying ESC, BEL, an OSC-8 link, CR and U+202E
    WHEN they are listed and searched THEN the output holds no control character."""
    hostile = "Eva\x1b[2J\x07\x1b]8;;http://evil.example/\x1b\\klick\x1b]8;;\x1b\\\rX\u202egnp.exe"
    added = cli("subject", "add", "--name", hostile, "--email", "eva@example.se")
    assert added.code == 0, added.err
    mail = tmp_path / "mail"
    _eml(
        mail,
        "b.eml",
        "=?utf-8?b?" + _b64("Möte\x1b[31m\x9b6n\u202eröd") + "?=",
        "Wed, 18 Nov 2026 10:00:00 +0100",
    )
    assert cli("ingest", "mail", "--eml-dir", str(mail), now="2026-11-20").code == 0
    raw = set("\x1b\x07\r\x9b\u202e")
    for args in (("subject", "list"), ("search", "möte"), ("subject", "show", "1")):
        human = cli(*args, now="2026-11-20")
        assert human.code == 0, human.err
        assert not raw & set(human.out), (args, human.out)
        assert "\\x1b" in human.out or "\\u202e" in human.out  # shown, escaped
        as_json = cli(*args, "--json", now="2026-11-20")
        assert not raw & set(as_json.out)
        assert json.loads(as_json.out)  # still valid JSON, the characters escaped in it
    names = [row["name"] for row in cli("subject", "list", "--json").json()]
    assert hostile in names  # the data itself is kept as it is


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def test_the_cli_writes_the_audit_trail(cli: Cli, tmp_path: Path) -> None:
    """GIVEN each command that reads or changes a person's data WHEN it runs THEN an audit
    row names the OS user and the action (ids only); a failed download is 'download-failed'."""
    sid = str(cli("subject", "add", "--name", "Hugo Exempel", "--email", "hugo@example.se",
                  "--json").json()["id"])  # fmt: skip
    steps = [
        ("subject", "show", sid),
        ("search", "hugo"),
        ("subject", "edit", sid, "--name", "Hugo Exempelsson"),
        ("engagement", "start", sid, "--on", "2026-01-10"),
        ("engagement", "end", "1", "--on", "2026-02-10"),
        ("request", "open", sid, "--right", "access"),
        ("request", "extend", "2", "--reason", "omfattande"),
        ("request", "close", "2", "--outcome", "utlämnat"),
        ("consent", "give", sid, "--purpose", "marketing"),
        ("consent", "withdraw", sid, "--purpose", "marketing", "--no-sweep"),
        ("object", sid, "--no-sweep"),
        ("hold", "add", "--subject", sid, "--reason", "tvist"),
        ("hold", "lift", "1"),
        ("export", sid, "--out", str(tmp_path / "bundle.zip")),
        ("erase", sid, "--dry-run"),
        ("item", "get", "999", "--out", str(tmp_path / "nothing")),
    ]
    for step in steps:
        result = cli(*step, now="2026-11-20")
        assert result.code == (2 if step[0] == "item" else 0), (step, result.err)
    events = cli("audit", "--json", "--limit", "100", now="2026-11-20").json()
    import getpass

    actors = {e["actor"] for e in events}
    assert actors == {f"cli:{getpass.getuser()}"}
    actions = [e["action"] for e in reversed(events)]
    for wanted in (
        "subject-add", "view-subject", "search", "subject-edit", "engagement-start",
        "engagement-end", "request-open", "request-extend", "request-close", "consent-give",
        "consent-withdraw", "object", "hold-add", "hold-lift", "export", "erase-preview",
        "download-failed",
    ):  # fmt: skip
        assert wanted in actions, wanted
    assert "download" not in actions  # the failed one is not recorded as a download
    text = json.dumps(events)
    assert "hugo@example.se" not in text and "Hugo Exempel" not in text and "tvist" not in text


def test_web_refuses_a_busy_port_in_one_line(cli: Cli) -> None:
    os.environ["GALLRA_TEST_WEB_PW"] = "a-long-enough-password"
    assert cli("passwd", "--password-env", "GALLRA_TEST_WEB_PW").code == 0
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = _gallra("--home", str(cli.home), "web", "--port", str(port), timeout=60)
    assert run.code == 2
    assert run.err.strip().splitlines() == [
        f"gallra: --port {port}: cannot listen on 127.0.0.1:{port} (Address already in use)"
    ]


def test_sweep_dry_run_lists_what_would_go_and_per_day(cli: Cli, tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    _eml(mail, "c.eml", "En fråga", "Fri, 06 Mar 2026 10:00:00 +0100")
    assert cli("ingest", "mail", "--eml-dir", str(mail), now="2026-03-07").code == 0
    dry = cli("sweep", "--dry-run", now="2026-06-06")
    assert dry.code == 0, dry.err
    assert "would delete 1 item " in dry.out
    assert "email 2026-03-06 rule prospect from 2026-06-06  Greta Exempel (#1)" in dry.out
    ahead = cli("sweep", "--preview", "100", now="2026-03-07")
    assert "  2026-06-06: 1 item" in ahead.out
    refused = cli("sweep", "--batch-size", "0")
    assert refused.code == 2 and "--batch-size" in refused.err
