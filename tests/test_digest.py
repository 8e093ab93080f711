"""The practice is told after the nightly run, over real SMTP on loopback (aiosmtpd): in
Swedish, counts and a link only; a server that refuses leaves the run successful and the
start page saying the e-mail failed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from gallra.settings import get_settings
from gallra.wiring import App, parse_now
from models.tables import Identifier, Item, Subject
from tests.web_support import PASSWORD, client_for, log_in

NOW = "2026-12-06"


class Inbox:
    """An SMTP server's handler: keeps what it receives, or refuses every message."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            return "550 5.7.1 Refused by policy"
        self.messages.append(bytes(envelope.original_content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=[False, True], ids=["accepting", "refusing"])
def smtp(request: pytest.FixtureRequest) -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox(refuse=request.param)
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _gallra(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gallra", "--home", str(home), "--now", NOW, *args],
        env={**os.environ, "GALLRA_TEST_WEB_PASSWORD": PASSWORD},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_nightly_tells_the_practice_without_personal_data(
    smtp: tuple[Inbox, int], tmp_path: Path
) -> None:
    """GIVEN the demo practice with a request due in 4 days WHEN the nightly runs THEN the
    practice gets one Swedish e-mail with counts and the page's address and nothing about
    anyone; or, when the server refuses, the run still succeeds and the page says so."""
    inbox, port = smtp
    home = tmp_path / "home"
    assert _gallra(home, "init", "--web-password-env", "GALLRA_TEST_WEB_PASSWORD").returncode == 0
    assert _gallra(home, "demo").returncode == 0
    with (home / "gallra.toml").open("a", encoding="utf-8") as toml:
        toml.write(
            '\n[notify]\nto = ["mottagningen@example.org"]\nsmtp_host = "127.0.0.1"\n'
            f'smtp_port = {port}\nsecurity = "none"\npage_url = "https://gallra.example.org/"\n'
        )
    opened = _gallra(home, "request", "open", "1", "--right", "access", "--received", "2026-11-10")
    assert opened.returncode == 0, opened.stderr
    run = _gallra(home, "nightly")
    assert run.returncode == 0, run.stderr[-3000:]
    gallra = App(settings=get_settings(home), clock=parse_now(NOW))
    if inbox.refuse:
        assert inbox.messages == []
        assert "e-mail to the practice: failed" in run.stdout
        client = client_for(gallra, language="sv")
        assert log_in(client).status_code == 303
        last_run = client.get("/").text.split('id="last-run"')[1]
        digest_row = last_run.split("E-post till mottagningen")[1].split("</tr>")[0]
        assert "misslyckades" in digest_row and "DigestFailed" in digest_row
        return
    assert "e-mail to the practice: sent" in run.stdout
    assert len(inbox.messages) == 1
    raw = inbox.messages[0]
    text = raw.decode("utf-8", "replace")
    from email import message_from_bytes
    from email.policy import default

    mail = message_from_bytes(raw, policy=default)
    assert mail["Subject"] == "gallra: något behöver dig"
    body = mail.get_body().get_content()  # type: ignore[union-attr]
    assert "1 begäran ska besvaras inom en vecka." in body
    assert "https://gallra.example.org/" in body
    with gallra.session() as session:
        names = [s.display_name for s in session.exec(select(Subject))]
        addresses = list(session.exec(select(Identifier.value)))
        titles = [t for t in session.exec(select(Item.title)) if t]
    assert names and addresses and titles
    for secret in [*names, *(n.split()[0] for n in names), *addresses, *titles]:
        assert (
            secret.casefold() not in text.casefold() and secret.casefold() not in body.casefold()
        ), secret
