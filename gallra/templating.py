"""Jinja templates that speak the current language (gallra.i18n): the page and the report."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from gallra.i18n import current

__all__ = ["speaking_environment"]


def speaking_environment(directory: Path) -> Environment:
    """Templates in `directory` with `_`/`ngettext` and the day and label filters."""
    env = Environment(
        loader=FileSystemLoader(directory),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=lambda message: current().gettext(message),
        ngettext=lambda one, many, n: current()._catalogue.ngettext(one, many, n),
        newstyle=True,
    )
    env.filters["label"] = lambda value, vocabulary: current().label(vocabulary, value)
    env.filters["day"] = lambda value: current().day(value)
    return env
