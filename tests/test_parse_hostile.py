"""Mail that tries to fool the index: addresses hidden in names, raw 8-bit headers, broken words.

Every message here is built from raw bytes, as a hostile or careless mailer
writes them; the people are invented.
"""

from __future__ import annotations

import email.header
import email.utils
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.headers import decode_header_value
from ingest.parse import html_body, parse_message
from tests.conftest import Cli

# -- addresses parsed before words are decoded ---------------------------------------------

_LOCAL = st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,10}[a-z0-9])?", fullmatch=True).filter(
    lambda s: ".." not in s
)
_DOMAIN = st.from_regex(r"[a-z0-9]{1,8}(\.[a-z0-9]{1,8}){0,2}\.(se|org|example)", fullmatch=True)
ADDRESSES = st.builds(lambda local, domain: f"{local}@{domain}", _LOCAL, _DOMAIN)
_HOSTILE_BITS = st.sampled_from(
    [
        "asa.oberg@exempel.se",
        "<asa.oberg@exempel.se>",
        "Öberg, Åsa",
        '"',
        ",",
        ";",
        ":",
        "<",
        ">",
        "@",
        "(",
        ")",
        "\\",
        " ",
        "=40",
        "Ström",
        "Dag",
        "=?utf-8?q?x?=",
    ]
)
NAMES = st.lists(
    st.one_of(_HOSTILE_BITS, st.text("abcåäöABC éü-", min_size=1, max_size=6)), max_size=6
).map("".join)


def _encoded(name: str, form: str) -> str:
    """The display name as a mailer would write it: quoted, or as encoded words."""
    if form == "quoted":
        return email.utils.formataddr((name, "x@y.se")).rsplit(" <", 1)[0] if name else ""
    encoding = "Q" if form == "q" else "B"
    data = name.encode()
    if encoding == "B":
        import base64

        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    quoted = "".join(
        chr(b) if chr(b).isalnum() and b < 128 else ("_" if b == 32 else f"={b:02X}") for b in data
    )
    return f"=?utf-8?q?{quoted}?="


@settings(max_examples=400, deadline=None)
@given(
    entries=st.lists(
        st.tuples(NAMES, ADDRESSES, st.sampled_from(["quoted", "q", "b"])), min_size=1, max_size=6
    )
)
def test_addr_specs_come_from_the_angle_brackets_never_from_a_name(
    entries: list[tuple[str, str, str]],
) -> None:
    """GIVEN an address list whose display names hold addresses, commas, quotes, encoded '@'
    and brackets WHEN it is parsed THEN the addresses are exactly the true addr-specs, and
    an encoded name comes back whole."""
    rendered = []
    for name, address, form in entries:
        shown = _encoded(name, form) if name.strip() else ""
        rendered.append(f"{shown} <{address}>" if shown else f"<{address}>")
    raw = f"From: {', '.join(rendered)}\r\nSubject: x\r\n\r\nbody\r\n".encode()
    parsed = parse_message(raw)
    assert [a.address for a in parsed.senders] == [address for _, address, _ in entries]
    for (name, _, form), got in zip(entries, parsed.senders, strict=True):
        if form != "quoted" and name.strip() and "=?" not in name:
            assert got.name == name.strip()


def test_an_address_in_an_encoded_name_ties_nothing(cli: Cli, tmp_path: Path) -> None:
    """GIVEN a client asa.oberg@exempel.se and a stranger whose encoded display name spells
    her address WHEN the stranger's mail is ingested THEN it is not hers, and it is flagged."""
    added = cli("subject", "add", "--name", "Åsa Öberg", "--email", "asa.oberg@exempel.se")
    assert added.code == 0, added.err
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "spoof.eml").write_bytes(
        b"From: =?utf-8?q?asa.oberg=40exempel.se?= <attacker@evil.example>\r\n"
        b"To: coach@example.org\r\nSubject: Mina journalanteckningar\r\n"
        b"Date: Mon, 02 Nov 2026 10:00:00 +0100\r\nMessage-ID: <spoof@evil.example>\r\n\r\n"
        b"Skicka allt till mig.\r\n"
    )
    assert cli("ingest", "mail", "--eml-dir", str(mail), now="2026-11-03").code == 0
    hits = cli("search", "journalanteckningar", "--json", now="2026-11-03").json()["hits"]
    [hit] = hits
    assert [s["id"] for s in hit["subjects"]] != [1]
    assert all(s["name"] != "Åsa Öberg" for s in hit["subjects"])
    assert cli("search", "", "--subject", "1", "--json").json()["hits"] == []
    flagged = cli("doctor", "--json").json()["flagged"]
    assert any("display name shows another address" in f["reason"] for f in flagged)


def test_last_name_first_names_are_kept_whole() -> None:
    raw = (
        b"From: =?utf-8?q?=C3=96berg=2C_=C3=85sa?= <asa.oberg@exempel.se>\r\n"
        b'To: "Lindqvist, Dag" <dag@exempel.se>, =?iso-8859-1?q?Str=F6m=2C_Eva?= <eva@x.se>\r\n'
        b"Subject: x\r\n\r\nbody\r\n"
    )
    parsed = parse_message(raw)
    assert [(a.name, a.address) for a in parsed.senders] == [("Öberg, Åsa", "asa.oberg@exempel.se")]
    assert [(a.name, a.address) for a in parsed.to] == [
        ("Lindqvist, Dag", "dag@exempel.se"),
        ("Ström, Eva", "eva@x.se"),
    ]
    assert parsed.problems == []
    group = parse_message(
        b'From: a@exempel.se\r\nCc: Styrelsen: "Berg, Bo" <bo@x.se>, =?utf-8?q?=C3=85_=3C=3E?= '
        b"<aa@x.se>;, undisclosed-recipients:;\r\nSubject: x\r\n\r\nbody\r\n"
    )
    assert [(a.name, a.address) for a in group.cc] == [("Berg, Bo", "bo@x.se"), ("Å <>", "aa@x.se")]


# -- every header and parameter decoded defensively ----------------------------------------

_INVOICE = (
    b"From: Greta Exempel <greta@exempel.se>\r\nTo: coach@example.org\r\n"
    b"Subject: Faktura oktober\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nH\xc3\xa4r kommer fakturan.\r\n"
    b'--b1\r\nContent-Type: application/pdf; name="Faktura-\xc3\xa5\xc3\xa4\xc3\xb6.pdf"\r\n'
    b'Content-Disposition: attachment; filename="Faktura-\xc3\xa5\xc3\xa4\xc3\xb6.pdf"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b1--\r\n"
)


def test_raw_utf8_parameter_headers_cost_neither_body_nor_attachment() -> None:
    parsed = parse_message(_INVOICE)
    assert parsed.fatal is None and parsed.problems == []
    assert parsed.text.strip() == "Här kommer fakturan."
    [attachment] = parsed.attachments
    assert attachment.filename == "Faktura-åäö.pdf" and attachment.data == b"%PDF-1.4\n"


def test_raw_latin1_parameters_and_html_body_are_read() -> None:
    raw = (
        b"From: a@exempel.se\r\nSubject: M\xf6te\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b2"\r\n\r\n'
        b'--b2\r\nContent-Type: text/html; charset="iso-8859-1"; name="v\xe4lkommen.html"\r\n'
        b"Content-Disposition: inline; filename*=iso-8859-1''v%E4lkommen.html; x=\xe5\r\n\r\n"
        b"<p>V\xe4lkommen till <b>m\xf6tet</b></p>\r\n"
        b'--b2\r\nContent-Type: text/plain; charset="utf-8"\r\n'
        b"Content-Disposition: attachment; filename*0*=utf-8''L%C3%A4kar; filename*1=intyg.txt\r\n"
        b"\r\nintyg\r\n--b2--\r\n"
    )
    parsed = parse_message(raw)
    assert parsed.fatal is None
    assert parsed.subject == "Möte"
    names = sorted(a.filename for a in parsed.attachments)
    assert names == ["Läkarintyg.txt", "välkommen.html"]
    shown = html_body(
        b'Subject: x\r\nContent-Type: text/html; charset="iso-8859-1"; x="\xe5"\r\n'
        b'Content-Disposition: inline; note="\xe4"\r\n\r\n<p>M\xf6te</p>\r\n'
    )
    assert shown is not None and "Möte" in shown


def test_broken_encoded_words_and_spaces() -> None:
    assert decode_header_value("Re: =?utf-8?q?M=C3=B6te?=") == "Re: Möte"
    assert decode_header_value("=?utf-8?q?M=C3=B6te?= imorgon") == "Möte imorgon"
    assert decode_header_value("=?utf-8?q?a?= =?utf-8?q?b?=") == "ab"  # RFC 2047 6.2
    assert decode_header_value("=?utf-8?b?w6U=?= =?utf-8?b?w6Q=?=") == "åä"
    assert decode_header_value("=?utf-8?b?ww==?= =?utf-8?b?pQ==?=") == "å"  # a letter split in two
    assert decode_header_value("=?utf-8?b?!!!?= och") == "=?utf-8?b?!!!?= och"
    assert decode_header_value("=?x-no-such?q?M=F6te?=") == "Möte"  # unknown charset: fallback
    assert decode_header_value("=?utf-8*sv?q?M=C3=B6te?=") == "Möte"  # RFC 2231 language
    assert decode_header_value("Hej\r\n =?utf-8?q?d=C3=A5?=") == "Hej då"


def test_an_invoice_with_a_raw_8bit_name_keeps_the_bookkeeping_rule(
    cli: Cli, tmp_path: Path
) -> None:
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "invoice.eml").write_bytes(
        _INVOICE.replace(b"Subject:", b"Date: Mon, 02 Nov 2026 10:00:00 +0100\r\nSubject:")
    )
    assert cli("ingest", "mail", "--eml-dir", str(mail), now="2026-11-03").code == 0
    found = cli("search", "fakturan", "--json", now="2026-11-03").json()["hits"]
    assert [h["kind"] for h in found] == ["email"]
    attachment = cli("search", "Faktura-åäö", "--kind", "attachment", "--json").json()["hits"]
    assert [a["legal_basis"] for a in attachment] == ["legal_obligation"]


def test_header_builder_agrees_with_the_standard_library_on_plain_words() -> None:
    for text in ["Möte på måndag", "Re: Svar", "åäö ÅÄÖ", "a, b; c"]:
        encoded = email.header.Header(text, "utf-8").encode()
        assert decode_header_value(encoded) == text


# -- bounds on what one message can create -------------------------------------------------


def _many(n: int, *, known: str = "") -> bytes:
    to = ", ".join(f"Person {i} <p{i}@massutskick.example>" for i in range(n))
    if known:
        to = f"{known}, {to}"
    return (
        f"From: Greta Exempel <greta@exempel.se>\r\nTo: {to}\r\nSubject: Till alla\r\n"
        f"Date: Mon, 02 Nov 2026 10:00:00 +0100\r\nMessage-ID: <many-{n}@exempel.se>\r\n\r\n"
        "Hej alla!\r\n"
    ).encode()


def test_one_message_cannot_register_thousands_of_people(cli: Cli, tmp_path: Path) -> None:
    """GIVEN a message naming 2,000 addresses, and one naming 30 unknown ones beside a client
    WHEN they are ingested THEN the first is tied to nobody, the second only to the people
    already known, and both are flagged for doctor."""
    sid = cli("subject", "add", "--name", "Greta Exempel", "--email", "greta@exempel.se",
              "--json").json()["id"]  # fmt: skip
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "huge.eml").write_bytes(_many(2000))
    (mail / "wide.eml").write_bytes(_many(30))
    done = cli("ingest", "mail", "--eml-dir", str(mail), "--json", now="2026-11-03")
    assert done.code == 0, done.err
    assert done.json()["prospects_created"] == 0
    assert [row["id"] for row in cli("subject", "list", "--json").json()] == [sid]
    hits = cli("search", "alla", "--json", now="2026-11-03").json()["hits"]
    assert sorted(len(h["subjects"]) for h in hits) == [0, 1]  # huge: nobody; wide: Greta
    reasons = " ".join(f["reason"] for f in cli("doctor", "--json").json()["flagged"])
    assert "over mail.max_addresses (100): tied to nobody" in reasons
    assert "30 unknown addresses, over mail.max_new_prospects (20)" in reasons


# -- no silent skips -------------------------------------------------------------------------


def test_an_eml_folder_reports_every_file_it_does_not_read(cli: Cli, tmp_path: Path) -> None:
    """GIVEN messages named .txt, a PDF named .eml and an Outlook OLE2 .msg WHEN the folder is
    ingested THEN each is counted by reason, none becomes mail text, and --suffix reads .txt."""
    folder = tmp_path / "export"
    folder.mkdir()
    for n in range(3):
        (folder / f"brev-{n}.txt").write_bytes(_many(1).replace(b"<many-1@", f"<txt-{n}@".encode()))
    (folder / "scan.eml").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    (folder / "outlook.msg").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    first = cli("ingest", "mail", "--eml-dir", str(folder), "--json", now="2026-11-03")
    assert first.code == 0, first.err
    report = first.json()
    assert report["new"] == 0
    assert report["passed_over"] == {"other_suffix": 3, "outlook_msg": 1, "not_a_message": 1}
    human = cli("ingest", "mail", "--eml-dir", str(folder), now="2026-11-03").out
    assert "passed over 5 files:" in human and "3 files with another ending" in human
    again = cli("ingest", "mail", "--eml-dir", str(folder), "--suffix", "txt", "--json")
    assert again.json()["new"] == 3
    assert again.json()["passed_over"] == {"other_suffix": 0, "outlook_msg": 1, "not_a_message": 1}


def test_an_oversized_message_is_stored_whole_and_flagged(cli: Cli, tmp_path: Path) -> None:
    """GIVEN mail.max_parse_mb = 1 and a 3 MB message WHEN it is ingested THEN its headers
    are indexed, its body is not parsed, it is flagged, and its bytes come back whole."""
    with (cli.home / "gallra.toml").open("a") as toml:
        toml.write('\n[mail]\nmax_parse_mb = 1\nown_addresses = ["coach@example.org"]\n')
    body = b"Stora bilagan f\xc3\xb6ljer. " + b"A" * (3 * 1024 * 1024) + b"\r\n"
    raw = (
        b"From: Greta Exempel <greta@exempel.se>\r\nTo: coach@example.org\r\n"
        b"Subject: Inspelningen i sin helhet\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    )
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "big.eml").write_bytes(raw)
    done = cli("ingest", "mail", "--eml-dir", str(mail), "--json", now="2026-11-03")
    assert done.code == 0 and done.json()["parse_warnings"] == 1, done.err
    [hit] = cli("search", "inspelningen", "--json", now="2026-11-03").json()["hits"]
    assert [s["name"] for s in hit["subjects"]] == ["Greta Exempel"]
    assert cli("search", "bilagan", "--json").json()["hits"] == []  # the body was not read
    [flag] = cli("doctor", "--json").json()["flagged"]
    assert "over mail.max_parse_mb (1): stored whole" in flag["reason"]
    back = tmp_path / "back.eml"
    assert cli("item", "get", str(hit["item_id"]), "--out", str(back)).code == 0
    assert back.read_bytes() == raw


# -- memory per message --------------------------------------------------------------------


def _with_attachment(payload: bytes, *, damage: bytes = b"") -> bytes:
    import base64

    encoded = base64.encodebytes(payload)
    if damage:
        middle = len(encoded) // 2
        encoded = encoded[:middle] + damage + encoded[middle:]
    return (
        b"From: Greta Exempel <greta@exempel.se>\r\nTo: coach@example.org\r\n"
        b"Subject: Inspelning\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b3"\r\n\r\n--b3\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nH\xc3\xa4r \xc3\xa4r filen.\r\n--b3\r\n"
        b'Content-Type: application/octet-stream; name="inspelning.bin"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b3--\r\n"
    )


@pytest.mark.parametrize("damage", [b"", b"!!", b"=", b"\r\nAB\r\n", b"\x80\x81"])
def test_large_attachments_decode_as_the_standard_library_decodes_them(damage: bytes) -> None:
    import email as stdlib_email
    import os

    raw = _with_attachment(os.urandom(3 * 1024 * 1024 + 17), damage=damage)
    [attachment] = parse_message(raw).attachments
    [_, _, part] = stdlib_email.message_from_bytes(raw).walk()
    assert attachment.data == part.get_payload(decode=True)


# Linux keeps a process's peak RSS across execve: a command forked straight from pytest
# would report at least pytest's size. A small launcher starts it and reads wait4's peak.
_LAUNCHER = """
import os, sys
pid = os.posix_spawnp(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _peak_rss_mb(argv: list[str], env: dict[str, str]) -> float:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-S", "-c", _LAUNCHER, *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.split()[-1]) / 1024


@pytest.mark.parametrize("megabytes", [30, 100])
def test_one_large_message_costs_at_most_twice_its_size(megabytes: int, tmp_path: Path) -> None:
    """GIVEN a message of 30 MB (parsed: its attachment decoded and stored apart) or 100 MB
    (over mail.max_parse_mb: stored whole, headers only) WHEN it is ingested THEN the
    command's peak memory is at most twice the message's size above that of a tiny ingest."""
    import os
    import sys

    raw = _with_attachment(os.urandom(int(megabytes * 1024 * 1024 * 0.74)))
    size_mb = len(raw) / (1024 * 1024)
    peaks = {}
    for name, data in (("tiny", _many(1)), ("large", raw)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "m.eml").write_bytes(data)
        env = {**os.environ, "GALLRA_HOME": str(tmp_path / f"home-{name}")}
        gallra = [sys.executable, "-m", "gallra"]
        _peak_rss_mb([*gallra, "init"], env)
        peaks[name] = _peak_rss_mb([*gallra, "ingest", "mail", "--eml-dir", str(folder)], env)
    extra = peaks["large"] - peaks["tiny"]
    print(f"{size_mb:.1f} MB message: peak {peaks['large']:.0f} MB, {extra / size_mb:.2f}x above")
    assert extra <= 2 * size_mb + 16
