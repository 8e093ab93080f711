"""Tagging decisions, as pure functions: bulk mail, whose address is whose, invoices."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ingest.headers import Address
from ingest.parse import ParsedMessage

__all__ = ["TaggingRules", "bulk_reason", "is_accounting", "people_in"]


@dataclass(frozen=True)
class TaggingRules:
    """What the practice configured."""

    own_addresses: frozenset[str] = frozenset()
    bulk_domains: frozenset[str] = frozenset()
    skip_bulk: bool = True
    accounting_patterns: tuple[str, ...] = ("faktura", "invoice", "kvitto", "receipt")
    max_addresses: int = 100  # a message naming more is tied to nobody, and flagged
    max_new_prospects: int = 20  # at most this many people registered from one message

    @classmethod
    def build(
        cls,
        *,
        own_addresses: Iterable[str] = (),
        bulk_domains: Iterable[str] = (),
        skip_bulk: bool = True,
        accounting_patterns: Iterable[str] = (),
        max_addresses: int = 100,
        max_new_prospects: int = 20,
    ) -> TaggingRules:
        """Normalised rules (lower-case addresses and domains)."""
        return cls(
            own_addresses=frozenset(a.strip().lower() for a in own_addresses),
            bulk_domains=frozenset(d.strip().lower().lstrip("@") for d in bulk_domains),
            skip_bulk=skip_bulk,
            accounting_patterns=tuple(p.lower() for p in accounting_patterns),
            max_addresses=max_addresses,
            max_new_prospects=max_new_prospects,
        )


def bulk_reason(message: ParsedMessage, rules: TaggingRules) -> str | None:
    """Why this is bulk mail (a rule name), or None."""
    if not rules.skip_bulk:
        return None
    if message.list_id:
        return "bulk:list-id"
    if message.precedence in ("bulk", "list", "junk"):
        return f"bulk:precedence-{message.precedence}"
    if message.auto_submitted and message.auto_submitted != "no":
        return "bulk:auto-submitted"
    for sender in message.senders:
        if sender.address.rpartition("@")[2] in rules.bulk_domains:
            return "bulk:configured-domain"
    return None


def people_in(message: ParsedMessage, rules: TaggingRules) -> list[tuple[str, Address]]:
    """(role, address) of everyone but the practice, in header order.

    One person reached by several addresses, or one address in several
    headers, is decided once: the first role in the order From, To, Cc,
    Reply-To is kept (the batch tagger keeps it per person too). A message
    that names more than `max_addresses` people is tied to nobody and the
    reason is added to its problems: one crafted header must not create
    thousands of people.
    """
    seen: set[str] = set()
    people: list[tuple[str, Address]] = []
    for role, address in message.participants():
        if address.address in rules.own_addresses or address.address in seen:
            continue
        seen.add(address.address)
        people.append((role, address))
    if len(people) > rules.max_addresses:
        message.problems.append(
            f"headers: {len(people)} addresses, over mail.max_addresses "
            f"({rules.max_addresses}): tied to nobody"
        )
        return []
    return people


def is_accounting(filename: str, rules: TaggingRules) -> bool:
    """Whether an attachment name marks an accounting record (invoice, receipt)."""
    name = filename.lower()
    return any(pattern in name for pattern in rules.accounting_patterns)
