"""A bad policy file is refused with one line naming the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.errors import PolicyError
from models.policy import default_policy_path, load_policy, parse_policy

DEFAULT = default_policy_path().read_text(encoding="utf-8")


def _mutate(old: str, new: str) -> str:
    assert old in DEFAULT, old
    return DEFAULT.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_mutate('period = "3m"', 'period = "3 months"'), "rule 'prospect': period"),
        (
            _mutate('period = "5y"', 'period = "5y"\nkeep_forever = true'),
            "rule 'contract': keep_forever: unknown key",
        ),
        (
            _mutate('subject_status = ["prospect"]\n', ""),
            "rules 'contract' and 'prospect' both match",
        ),
        (
            _mutate('id = "consent"\n', 'id = "consent"\nspecial_category = false\n'),
            "no rule covers purpose=consented",
        ),
        (
            _mutate('anchor = "item_date"\nperiod = "30d"', 'anchor = "birthday"\nperiod = "30d"'),
            "rule 'rights-request': anchor",
        ),
        (
            _mutate('purpose = ["accounting"]', 'purpose = ["acounting"]'),
            "rule 'accounting': unknown purpose 'acounting'",
        ),
        (_mutate('id = "unassigned"', 'id = "prospect"'), "rule 'prospect': the id is used twice"),
        (
            _mutate(
                'subject_status = ["client"]\nanchor = "engagement_end"',
                'anchor = "engagement_end"',
            ),
            "rule 'contract': anchor engagement_end needs",
        ),
        ("version = ", "not valid TOML"),
    ],
)
def test_bad_policy_is_refused_with_one_line(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, source="p.toml")
    line = str(caught.value)
    assert "\n" not in line.strip() or "TOML" in line
    assert line.startswith("p.toml: ")
    assert message in line


def test_default_policy_is_valid_and_versioned() -> None:
    policy = parse_policy(DEFAULT)
    assert policy.version == "2026.1"
    assert policy.label.startswith("2026.1/")
    assert {r.id for r in policy.rules} >= {
        "contract",
        "prospect",
        "accounting",
        "marketing",
        "consent",
    }


def test_changing_the_file_changes_the_label_even_without_a_version_bump() -> None:
    assert parse_policy(DEFAULT).label != parse_policy(DEFAULT + "\n# edited\n").label


def test_missing_policy_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"nope\.toml: cannot read the policy file"):
        load_policy(tmp_path / "nope.toml")
