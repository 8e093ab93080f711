"""Printing results: stable JSON for scripts, plain lines for people, nothing raw from mail.

People read Stockholm local times (`2026-11-18 09:12`) and counted nouns
("1 item", "2 items"); JSON keeps ISO 8601 with the offset. Text that came
from mail or from a person (subject lines, names, file names) may carry
terminal control sequences: every human line is cleaned here, so no caller
can forget it, and JSON escapes what JSON itself would leave raw.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any

import typer

__all__ = [
    "JsonOpt",
    "emit",
    "group",
    "iso",
    "local_day",
    "local_time",
    "plural",
    "terminal_safe",
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]

# C0 controls but tab, DEL, C1 controls, and the bidirectional overrides and isolates
# that can make a line read differently from what it holds (U+202E "RLO" et al.).
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw among those: C1 and the bidi controls.
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
BOLD, PLAIN = "\x1b[1m", "\x1b[0m"
MARK_START, MARK_END = "\ue000", "\ue001"  # storage.search's hit marks, turned into bold


def group(help_text: str, *, completion: bool = False) -> typer.Typer:
    """A command group answering usage mistakes in click's plain form (no rich boxes)."""
    return typer.Typer(
        help=help_text,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=completion,
        rich_markup_mode=None,
    )


def terminal_safe(text: str) -> str:
    """`text` with control characters and bidi overrides shown as escapes, never obeyed."""
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def iso(value: date | datetime | None) -> str | None:
    """ISO text of a date or datetime, None kept."""
    return None if value is None else value.isoformat()


def local_time(value: datetime | None) -> str:
    """An instant as a Stockholm wall-clock time, `2026-11-18 09:12` ('-' for none)."""
    if value is None:
        return "-"
    from models.clock import STOCKHOLM, utc

    return utc(value).astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def local_day(value: date | datetime | None) -> str:
    """A Stockholm calendar date, `2026-11-18` ('-' for none)."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        from models.clock import local_date

        value = local_date(value)
    return value.isoformat()


def plural(count: int, one: str, many: str | None = None) -> str:
    """`1 item`, `2 items`; `many` when the plural is not `one` + s."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def emit(data: Any, *, as_json: bool, lines: Iterable[str] = (), bold: bool = False) -> None:
    """Print `data` as JSON, or the human `lines` (cleaned; hit marks bold with `bold`)."""
    if as_json:
        text = json.dumps(data, default=_default, ensure_ascii=False, indent=2)
        sys.stdout.write(_JSON_RAW.sub(_json_escape, text) + "\n")
        return
    start, end = (BOLD, PLAIN) if bold else ("[", "]")
    for line in lines:
        safe = terminal_safe(line).replace(MARK_START, start).replace(MARK_END, end)
        sys.stdout.write(safe + "\n")
