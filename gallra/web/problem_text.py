"""Refusals in the reader's language: the index's one-line messages, matched and translated.

The core names what was wrong in English ("request 4: already extended
once"); the page shows it in Swedish when the message is one it knows, and
as it is otherwise (never with content: the messages carry ids and field
names only).
"""

from __future__ import annotations

import re

from gallra.i18n import N_, Texts

__all__ = ["translate_problem"]

_FIELDS = {
    "name": N_("name"),
    "--name": N_("name"),
    "personnummer": N_("personal identity number"),
    "e-mail address": N_("e-mail address"),
    "phone number": N_("phone number"),
    "email": N_("e-mail address"),
    "phone": N_("phone number"),
    "reason": N_("reason"),
    "--reason": N_("reason"),
    "ends_on": N_("end date"),
    "starts_on": N_("start date"),
    "received_on": N_("received on"),
    "review_on": N_("review date"),
    "subject_id": N_("person"),
    "from": N_("from"),
    "to": N_("to"),
    "expiring": N_("expiring within"),
    "page": N_("page"),
    "subject": N_("person"),
    "right": N_("right"),
    "kind": N_("kind"),
    "role": N_("role"),
    "outcome": N_("outcome"),
    "purpose": N_("purpose"),
    "confirm": N_("confirmation"),
}

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(p), message)
    for p, message in (
        (r"^(?P<field>[\w -]+): required$", N_("%(field)s: required")),
        (r"^(?P<field>[\w -]+): expected a number$", N_("%(field)s: expected a number")),
        (r"^(?P<field>[\w -]+): expected a whole number$", N_("%(field)s: expected a number")),
        (
            r"^(?P<field>[\w -]+): expected a date as YYYY-MM-DD$",
            N_("%(field)s: expected a date as YYYY-MM-DD"),
        ),
        (
            r"^(?P<field>[\w -]+): already registered to subject (?P<id>\d+)$",
            N_("%(field)s: already registered to person #%(id)s"),
        ),
        (
            r"^(?:subject|hold: subject) (?P<id>\d+): no such subject$",
            N_("person #%(id)s: no such person"),
        ),
        (r"^(?:item|hold: item) (?P<id>\d+): no such item$", N_("item #%(id)s: no such item")),
        (
            r"^(?:engagement|agreement) (?P<id>\d+): no such (?:engagement|agreement)$",
            N_("agreement #%(id)s: no such agreement"),
        ),
        (
            r"^engagement (?P<id>\d+): --on is before the start date$",
            N_("agreement #%(id)s: the end date is before the start date"),
        ),
        (r"^request (?P<id>\d+): no such request$", N_("request #%(id)s: no such request")),
        (r"^request (?P<id>\d+): not open$", N_("request #%(id)s: already closed")),
        (
            r"^request (?P<id>\d+): already extended once$",
            N_("request #%(id)s: already extended once"),
        ),
        (r"^hold (?P<id>\d+): no such hold$", N_("hold #%(id)s: no such hold")),
        (r"^--reason: an extension needs a reason$", N_("an extension needs a reason")),
        (r"^hold: --reason is required$", N_("a hold needs a reason")),
        (r"^--name: a subject needs a display name$", N_("a person needs a name")),
        (r"^subject edit: nothing to change$", N_("nothing to change")),
        (
            r"^confirm: tick the box to withdraw the consent$",
            N_("tick the box to withdraw the consent"),
        ),
        (
            r"^confirm: tick the box to record the objection$",
            N_("tick the box to record the objection"),
        ),
        (
            r"^confirm: type the person's number to confirm the erasure$",
            N_("type the person's number to confirm the erasure"),
        ),
        (
            r"^e-mail address: not of the form name@domain.tld$",
            N_("e-mail address: not of the form name@domain.se"),
        ),
        (r"^phone number: expected 6 to 15 digits$", N_("phone number: expected 6 to 15 digits")),
        (
            r"^personnummer: the check digit does not match \(Luhn\)$",
            N_("personal identity number: the check digit does not match"),
        ),
        (
            r"^personnummer: the date part is not a real date$",
            N_("personal identity number: the date part is not a real date"),
        ),
        (
            r"^item (?P<id>\d+): its stored copy is missing .*$",
            N_("item #%(id)s: its stored copy is missing; the installer can run gallra doctor"),
        ),
    )
]


def translate_problem(message: str, words: Texts) -> str:
    """`message` in the reader's language when it is a known one, else as it is."""
    for pattern, template in _PATTERNS:
        found = pattern.match(message)
        if found is None:
            continue
        values = found.groupdict()
        if "field" in values:
            field = values["field"]
            values["field"] = words.gettext(_FIELDS[field]) if field in _FIELDS else field
        return words.gettext(template, **values)
    return message
