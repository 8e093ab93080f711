"""Every data-subject right through the command line."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from gallra.settings import get_settings
from gallra.wiring import App
from models.enums import LegalBasis
from tests.conftest import Cli
from tests.factory import make_item


def test_each_right_from_the_cli(cli: Cli, tmp_path: Path) -> None:
    cli.now = "2026-11-30"
    person = cli(
        "subject",
        "add",
        "--name",
        "Greta Holm",
        "--email",
        "greta@example.se",
        "--personnummer",
        "811218-9876",
        "--json",
    ).json()["id"]
    sid = str(person)
    assert cli("engagement", "start", sid, "--on", "2026-01-01").code == 0
    gallra = App(settings=get_settings(cli.home))
    with gallra.session() as s:
        make_item(s, gallra.blobs, gallra.policy, text="avtal", subjects=[person])
        make_item(
            s,
            gallra.blobs,
            gallra.policy,
            text="nyhetsbrev",
            subjects=[person],
            purpose="marketing",
            basis=LegalBasis.LEGITIMATE_INTEREST,
        )
        make_item(
            s,
            gallra.blobs,
            gallra.policy,
            text="omdöme",
            subjects=[person],
            purpose="consented",
            basis=LegalBasis.CONSENT,
        )
    assert cli("consent", "give", sid, "--purpose", "consented").code == 0

    opened = cli("request", "open", sid, "--right", "access", "--received", "2026-11-30", "--json")
    assert opened.json()["deadline"] == "2026-12-30"
    request = str(opened.json()["id"])
    assert (
        cli("request", "extend", request, "--reason", "många inspelningar", "--json").json()[
            "deadline"
        ]
        == "2027-02-28"
    )
    assert cli("requests", "--json").json()[0]["days_left"] == 90

    out = tmp_path / "utdrag.zip"
    exported = cli("export", sid, "--out", str(out), "--json")
    assert exported.code == 0, exported.err
    with zipfile.ZipFile(out) as bundle:
        assert len(json.loads(bundle.read("data.json"))["items"]) == 3
    assert cli("request", "close", request, "--outcome", "utdrag skickat").code == 0

    withdrawn = cli("consent", "withdraw", sid, "--purpose", "consented", "--json").json()
    assert withdrawn["deleted"] == 1
    objected = cli("object", sid, "--json").json()
    assert objected["deleted"] == 1
    assert (
        cli("hold", "add", "--subject", sid, "--kind", "restriction", "--reason", "art. 18").code
        == 0
    )
    held = cli("erase", sid, "--dry-run", "--json").json()
    assert all(k["why"] == "legal hold or restriction" for k in held["kept"])
    hold_id = str(cli("hold", "list", "--json").json()[0]["id"])
    assert cli("hold", "lift", hold_id).code == 0

    dry = cli("erase", sid, "--dry-run", "--json").json()
    assert len(dry["deleted"]) == 2 and dry["request_id"] is None  # contract item + the export
    erased = cli("erase", sid, "--json")
    assert erased.code == 0, erased.err
    certificate = erased.out
    assert json.loads(certificate)["subject_entry"] == "deleted"
    for personal in ("Greta", "Holm", "greta@example.se", "811218", "19811218"):
        assert personal not in certificate
    assert cli("subject", "show", sid).code == 2
