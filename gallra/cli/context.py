"""What every command shares: the App (built on first use), parsed values, the audit actor.

The root callback runs before a subcommand parses its own arguments, so it
only records `--home` and `--now`: the App (settings, and with them pydantic)
is built when a command first asks for it. `gallra search --help` and a
usage mistake therefore cost no settings, no index and no heavy import.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from models.errors import InvalidInput

if TYPE_CHECKING:
    from gallra.wiring import App

__all__ = ["CliState", "app_of", "audit", "cli_actor", "parse_date"]


@dataclass
class CliState:
    """The global options, and the App they configure once a command needs it."""

    home: Path | None = None
    now: str | None = None

    @cached_property
    def app(self) -> App:
        """The App for these options: an explicit --home/--now beats GALLRA_HOME/GALLRA_NOW."""
        from gallra.settings import default_home, get_settings
        from gallra.wiring import App, parse_now
        from models.clock import SystemClock

        clock = parse_now(self.now) if self.now else SystemClock()
        return App(settings=get_settings(self.home or default_home()), clock=clock)

    def close(self) -> None:
        """Close what the App opened, if it was ever built."""
        if "app" in self.__dict__:  # cached_property keeps what it built there
            self.app.close()


def app_of(ctx: typer.Context) -> App:
    """The App of this invocation (built now if no command asked for it before)."""
    state = ctx.find_root().obj
    assert isinstance(state, CliState)
    return state.app


def parse_date(text: str, *, option: str) -> date:
    """A YYYY-MM-DD value of `option`; InvalidInput naming the option otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option}: expected a date as YYYY-MM-DD") from None


def cli_actor() -> str:
    """Who runs a command, for the audit trail (the OS account, never a client)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def audit(
    gallra: App,
    action: str,
    *,
    subject_id: int | None = None,
    item_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one audit row for a CLI action in its own transaction (ids and names only)."""
    from storage.audit import record

    with gallra.session() as session:
        record(
            session,
            actor=cli_actor(),
            action=action,
            at=gallra.clock.now(),
            subject_id=subject_id,
            item_id=item_id,
            detail=detail,
        )
