"""The access report (README.html in an access export): Swedish first, then English.

Every value is named in the reader's words (e-post, avtal, rättslig
förpliktelse...), from the same catalogue as the page. The bundle's
data.json keeps the index's own values for machines.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment

from gallra.i18n import N_, current, using
from gallra.templating import speaking_environment

__all__ = ["STORAGE_KINDS", "render_access_report"]

STORAGE_KINDS = {  # data.json's recipient, and what the report calls it
    "storage processor: local": N_(
        "Storage (our processor): a folder on the practice's own computer"
    ),
    "storage processor: s3": N_("Storage (our processor): an S3 storage service"),
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:50rem;margin:2rem auto;line-height:1.5}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem;"
    "text-align:left}section+section{border-top:2px solid #999;margin-top:2rem}"
)


@cache
def _environment() -> Environment:
    env = speaking_environment(Path(__file__).parent / "reports")
    env.globals["storage_name"] = _recipient
    return env


def _recipient(recipient: str) -> str:
    return current().gettext(STORAGE_KINDS.get(recipient, recipient))


def render_access_report(
    name: str, rows: list[dict[str, Any]], *, generated: date, recipients: list[str]
) -> str:
    """The whole report: a Swedish section, then the same in English (`rows` from the bundle)."""
    facts = {
        "name": name,
        "generated": generated,
        "items": rows,
        "kinds": sorted(Counter(r["kind"] for r in rows).items()),
        "purposes": sorted({(r["purpose"], r["legal_basis"]) for r in rows}),
        "kept": sorted({(r["kind"], r["rule"], r["kept_until"] or "") for r in rows}),
        "recipients": recipients,
    }
    sections = []
    for lang in ("sv", "en"):
        restore = using(lang)
        try:
            sections.append(
                _environment().get_template("access_report.html").render(lang=lang, **facts)
            )
        finally:
            restore()
    title = "Registerutdrag / Access report"
    return (
        f'<!doctype html>\n<html lang="sv"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
