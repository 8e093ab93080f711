"""Building the App inside a flow run: from the environment, never from parameters."""

from __future__ import annotations

import os

from sqlmodel import select

from flows.redaction import install
from gallra.settings import get_settings
from gallra.wiring import App, parse_now
from models.clock import SystemClock
from models.tables import Subject

__all__ = ["build_app"]


def build_app() -> App:
    """Settings from GALLRA_HOME and env; the clock from GALLRA_NOW; redaction installed."""
    now = os.environ.get("GALLRA_NOW")
    gallra = App(settings=get_settings(), clock=parse_now(now) if now else SystemClock())
    names: list[str] = []
    if gallra.has_index():
        with gallra.session() as session:
            names = [n for n in session.exec(select(Subject.display_name))]
    install(names)
    return gallra
