"""The retention policy file: schema, loading and validation.

A policy is a versioned TOML file. It names the purposes the practice
processes data for (each with the legal bases it may rest on) and a list of
rules. A rule matches facts about an item and one of its subjects (purpose,
legal basis, subject status, special category) and says how long the item is
kept: a period counted from an anchor (the item's date, the end of the
subject's last engagement, the end of the financial year, an objection, a
consent withdrawal).

Validation is exhaustive: every combination of facts the purposes allow must
be matched by exactly one rule, so no item can ever fall through the policy or
be claimed by two rules. Each refusal is one line naming the rule.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from models.enums import LegalBasis, SubjectStatus
from models.errors import PolicyError

__all__ = [
    "Anchor",
    "FactCombination",
    "Period",
    "Policy",
    "PurposeSpec",
    "Rule",
    "default_policy_path",
    "load_policy",
    "parse_policy",
]

Anchor = Literal[
    "item_date", "engagement_end", "financial_year_end", "objection", "consent_withdrawn"
]
_SUBJECT_ANCHORS = {"engagement_end"}
_PERIOD = re.compile(r"^(?P<count>\d{1,3})(?P<unit>[dwmy])$")


@dataclass(frozen=True)
class Period:
    """A calendar period: days, weeks, months or years."""

    count: int
    unit: Literal["d", "w", "m", "y"]

    @classmethod
    def parse(cls, text: str) -> Period:
        """Parse '5y', '3m', '30d', '2w'; raise ValueError otherwise."""
        match = _PERIOD.match(text.strip())
        if match is None:
            raise ValueError(f"period {text!r} is not a number followed by d, w, m or y")
        units: dict[str, Literal["d", "w", "m", "y"]] = {"d": "d", "w": "w", "m": "m", "y": "y"}
        return cls(int(match["count"]), units[match["unit"]])

    def in_months(self) -> float:
        """Approximate length in months, for comparisons in `policy check`."""
        return {
            "d": self.count / 30.4,
            "w": self.count / 4.35,
            "m": self.count,
            "y": self.count * 12,
        }[self.unit]

    def __str__(self) -> str:
        return f"{self.count}{self.unit}"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PurposeSpec(_Strict):
    """A purpose of processing and the legal bases it may rest on."""

    description: str = ""
    legal_bases: Annotated[list[LegalBasis], Field(min_length=1)]


class Rule(_Strict):
    """One retention rule. A field left out of the match matches anything."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    description: str = ""
    purpose: list[str] | None = None
    legal_basis: list[LegalBasis] | None = None
    subject_status: list[SubjectStatus] | None = None
    special_category: bool | None = None
    anchor: Anchor | list[Anchor]
    count_from: Literal["anchor", "end_of_year"] = "anchor"
    period: str
    erasable: bool = True
    law: str = ""

    @field_validator("period")
    @classmethod
    def _period_is_valid(cls, value: str) -> str:
        Period.parse(value)
        return value

    @property
    def anchors(self) -> tuple[Anchor, ...]:
        """The anchor events; the earliest that has happened counts."""
        return tuple(self.anchor) if isinstance(self.anchor, list) else (self.anchor,)

    @property
    def keep_period(self) -> Period:
        """The parsed period."""
        return Period.parse(self.period)

    def matches(self, combo: FactCombination) -> bool:
        """Whether this rule applies to a combination of facts."""
        return (
            (self.purpose is None or combo.purpose in self.purpose)
            and (self.legal_basis is None or combo.legal_basis in self.legal_basis)
            and (self.subject_status is None or combo.subject_status in self.subject_status)
            and (self.special_category is None or combo.special_category == self.special_category)
        )


@dataclass(frozen=True)
class FactCombination:
    """The facts a rule is chosen by."""

    purpose: str
    legal_basis: LegalBasis
    subject_status: SubjectStatus
    special_category: bool

    def __str__(self) -> str:
        return (
            f"purpose={self.purpose}, legal_basis={self.legal_basis.value}, "
            f"subject_status={self.subject_status.value}, "
            f"special_category={str(self.special_category).lower()}"
        )


class Policy(_Strict):
    """A validated retention policy."""

    version: Annotated[str, Field(min_length=1)]
    name: str = ""
    timezone: Literal["Europe/Stockholm"] = "Europe/Stockholm"
    stated_maximum: str = "5y"
    stated_maximum_text: str = ""
    financial_year_end: Annotated[
        str, Field(pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    ] = "12-31"
    purposes: dict[str, PurposeSpec]
    rules: Annotated[list[Rule], Field(min_length=1)]
    digest: str = ""

    @property
    def label(self) -> str:
        """Version plus content digest: what items record as `policy_version`."""
        return f"{self.version}/{self.digest[:12]}" if self.digest else self.version

    def combinations(self) -> Iterator[FactCombination]:
        """Every combination of facts the purposes allow."""
        for purpose, spec in sorted(self.purposes.items()):
            for basis, status, special in itertools.product(
                spec.legal_bases, SubjectStatus, (False, True)
            ):
                yield FactCombination(purpose, basis, status, special)

    def rule_for(self, combo: FactCombination) -> Rule:
        """The one rule matching `combo`; PolicyError if the purpose/basis is not allowed."""
        spec = self.purposes.get(combo.purpose)
        if spec is None:
            raise PolicyError(f"policy {self.version}: unknown purpose {combo.purpose!r}")
        if combo.legal_basis not in spec.legal_bases:
            raise PolicyError(
                f"policy {self.version}: purpose {combo.purpose!r} may not rest on "
                f"legal basis {combo.legal_basis.value!r}"
            )
        matching = [rule for rule in self.rules if rule.matches(combo)]
        if len(matching) != 1:  # unreachable for a validated policy
            raise PolicyError(f"policy {self.version}: {len(matching)} rules match {combo}")
        return matching[0]

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise PolicyError(f"policy {self.version}: no rule {rule_id!r}")


def _check_consistency(policy: Policy) -> None:
    seen: set[str] = set()
    for rule in policy.rules:
        if rule.id in seen:
            raise PolicyError(f"rule {rule.id!r}: the id is used twice")
        seen.add(rule.id)
        for purpose in rule.purpose or []:
            if purpose not in policy.purposes:
                raise PolicyError(f"rule {rule.id!r}: unknown purpose {purpose!r}")
        if _SUBJECT_ANCHORS & set(rule.anchors) and (
            rule.subject_status is None or set(rule.subject_status) != {SubjectStatus.CLIENT}
        ):
            raise PolicyError(
                f"rule {rule.id!r}: anchor engagement_end needs subject_status = ['client']"
            )
    try:
        Period.parse(policy.stated_maximum)
    except ValueError as exc:
        raise PolicyError(f"stated_maximum: {exc}") from None
    for combo in policy.combinations():
        matching = [rule.id for rule in policy.rules if rule.matches(combo)]
        if not matching:
            raise PolicyError(f"no rule covers {combo}")
        if len(matching) > 1:
            raise PolicyError(f"rules {matching[0]!r} and {matching[1]!r} both match {combo}")


def _describe(error: ValidationError, raw: dict[str, object]) -> str:
    first = error.errors()[0]
    loc = list(first["loc"])
    where = ".".join(str(part) for part in loc) or "policy"
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        rules = raw.get("rules")
        rule_id = "?"
        if isinstance(rules, list) and loc[1] < len(rules) and isinstance(rules[loc[1]], dict):
            rule_id = str(rules[loc[1]].get("id", f"#{loc[1] + 1}"))
        field = ".".join(str(part) for part in loc[2:]) or "rule"
        where = f"rule {rule_id!r}: {field}"
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {message}"


def parse_policy(text: str, *, source: str = "policy") -> Policy:
    """Parse and validate policy TOML; PolicyError names the source and the rule."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    try:
        policy = Policy.model_validate({**raw, "digest": digest})
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_describe(exc, raw)}") from None
    try:
        _check_consistency(policy)
    except PolicyError as exc:
        raise PolicyError(f"{source}: {exc}") from None
    return policy


def default_policy_path() -> Path:
    """The shipped policy that encodes POLICY.md."""
    return Path(str(resources.files("models") / "default_policy.toml"))


def load_policy(path: Path | None = None) -> Policy:
    """Load and validate a policy file (the shipped default when `path` is None)."""
    target = path or default_policy_path()
    try:
        text = target.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{target}: cannot read the policy file ({exc.strerror})") from None
    return parse_policy(text, source=str(target))
