"""Redacting personal data from every log record in the process.

Installed as a log-record factory, so it covers every logger and handler
(Prefect's API handler, console, files) and third-party libraries alike.
It masks e-mail addresses, Swedish personal identity numbers and the
display names of the people in the index, in the message and its args.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

__all__ = ["Redactor", "install"]

EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
PERSONNUMMER = re.compile(r"(?<!\d)(?:\d{2})?\d{6}[-+]?\d{4}(?!\d)")


class Redactor:
    """Masks addresses, personnummer and known names in text."""

    def __init__(self) -> None:
        self._names: re.Pattern[str] | None = None

    def set_names(self, names: Iterable[str]) -> None:
        """The display names to mask (longest first, so full names beat first names)."""
        cleaned = sorted({n.strip() for n in names if len(n.strip()) >= 2}, key=len, reverse=True)
        alternatives = "|".join(re.escape(n) for n in cleaned)
        self._names = re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE) if cleaned else None

    def text(self, value: str) -> str:
        """`value` with personal data masked."""
        value = EMAIL.sub("[address]", value)
        value = PERSONNUMMER.sub("[personnummer]", value)
        if self._names is not None:
            value = self._names.sub("[name]", value)
        return value

    def arg(self, value: Any) -> Any:
        """A log argument: strings masked, numbers kept, anything else masked via str()."""
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self.text(str(value))


_REDACTOR = Redactor()
_installed = False


def install(names: Iterable[str] = ()) -> Redactor:
    """Install the record factory once per process; refresh the names each call."""
    global _installed
    _REDACTOR.set_names(names)
    if not _installed:
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            record.msg = _REDACTOR.text(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(_REDACTOR.arg(a) for a in record.args)
            elif isinstance(record.args, dict):
                record.args = {k: _REDACTOR.arg(v) for k, v in record.args.items()}
            if record.exc_info and record.exc_info[1] is not None:
                # Exception texts can carry data: keep the type, mask the text.
                record.exc_text = None
                exc = record.exc_info[1]
                record.msg += f" [{type(exc).__name__}: {_REDACTOR.text(str(exc))}]"
                record.exc_info = None
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
    return _REDACTOR
