"""The README's main job on the bundled demo practice, as of a fixed day."""

from __future__ import annotations

from tests.conftest import Cli


def test_demo_then_sweep_deletes_exactly_what_is_due(cli: Cli) -> None:
    cli.now = "2026-11-30"
    demo = cli("demo", "--json")
    assert demo.code == 0, demo.err
    assert (demo.json()["mail_new"], demo.json()["recordings_new"]) == (6, 1)
    rows = {row["id"]: row for row in demo.json()["subjects"]}
    assert rows[1]["items"] == 2  # Astrid: her e-mail and her recorded session
    rules = {sid: (row["rule"], row["kept_until"]) for sid, row in rows.items()}
    assert rules[1] == ("contract", "2031-12-31")  # agreement ended 2026-03-10
    assert rules[2] == ("contract", None)  # agreement running
    assert rules[4] == ("prospect", "2026-12-19")  # enquiry of 2026-09-20
    swept = cli("sweep", "--json").json()
    # Elsa's 2019 mail (contract ended 2019), Frida's July enquiry, the bulk newsletter.
    assert swept["deleted_by_rule"] == {"contract": 1, "prospect": 1, "unassigned": 1}
    assert swept["subjects_deleted"] == 2 and swept["failures"] == []
    again = cli("demo", "--json").json()
    assert again["mail_new"] == again["added"] == again["recordings_new"] == 0  # nothing comes back
    assert cli("ledger", "verify").code == 0
    doctor = cli("doctor", "--json").json()
    assert doctor["counts"].get("pending", 0) == 0
