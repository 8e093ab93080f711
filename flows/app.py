"""The App of a flow run: built once from the run's home and clock, closed when it ends.

Flow parameters name a folder and a date, never a person. Tasks of the run
reach its App through `current_app()`; a task called outside a flow run (a
test, a one-off) builds one from the environment, as a flow started by a
deployment with no parameters does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from flows.redaction import install
from gallra.settings import default_home, get_settings
from gallra.wiring import App, parse_now
from models.clock import SystemClock

__all__ = ["current_app", "flow_app"]

_CURRENT: ContextVar[App | None] = ContextVar("gallra_flow_app", default=None)


def _build(home: str | None, now: str | None) -> App:
    os.umask(0o077)  # a worker's files (index, blobs, temporaries) are its owner's only
    moment = now or os.environ.get("GALLRA_NOW")
    root = Path(home) if home else default_home()
    return App(settings=get_settings(root), clock=parse_now(moment) if moment else SystemClock())


def _redact_names(gallra: App) -> None:
    from sqlmodel import select

    from models.tables import Subject

    names: list[str] = []
    if gallra.has_index():
        with gallra.session() as session:
            names = list(session.exec(select(Subject.display_name)))
    install(names)


@contextmanager
def flow_app(home: str | None = None, now: str | None = None) -> Iterator[App]:
    """The run's App (redaction installed with the index's names), closed at the end."""
    gallra = _build(home, now)
    token = _CURRENT.set(gallra)
    try:
        _redact_names(gallra)
        yield gallra
    finally:
        _CURRENT.reset(token)
        gallra.close()


@contextmanager
def current_app() -> Iterator[App]:
    """The App of the flow run this task belongs to; else one of its own, closed after."""
    gallra = _CURRENT.get()
    if gallra is not None:
        yield gallra
        return
    with flow_app() as own:
        yield own
