"""Printing results: stable JSON for scripts, plain lines for people."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

__all__ = ["emit", "iso"]


def iso(value: date | datetime | None) -> str | None:
    """ISO text of a date or datetime, None kept."""
    return None if value is None else value.isoformat()


def _default(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def emit(data: Any, *, as_json: bool, lines: Iterable[str] = ()) -> None:
    """Print `data` as JSON, or the human `lines`."""
    if as_json:
        sys.stdout.write(json.dumps(data, default=_default, ensure_ascii=False, indent=2) + "\n")
    else:
        for line in lines:
            sys.stdout.write(line + "\n")
