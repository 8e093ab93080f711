"""Getting the App from a typer context, and parsing command-line values."""

from __future__ import annotations

from datetime import date

import typer

from gallra.wiring import App
from models.errors import InvalidInput

__all__ = ["app_of", "parse_date"]


def app_of(ctx: typer.Context) -> App:
    """The App the root callback built."""
    root = ctx.find_root()
    assert isinstance(root.obj, App)
    return root.obj


def parse_date(text: str, *, option: str) -> date:
    """A YYYY-MM-DD value of `option`; InvalidInput naming the option otherwise."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{option}: expected a date as YYYY-MM-DD") from None
