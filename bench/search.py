"""Search latency: gallra on SQLite and PostgreSQL beside notmuch, in one run.

1. A 2000-message Swedish/English corpus (invented people, Zipf-distributed
   words) is written as a Maildir, indexed by notmuch (`notmuch new`) and
   ingested by gallra (`gallra ingest mail --maildir`, the real pipeline) into
   SQLite and into PostgreSQL. The same queries then run against each: notmuch
   as a fresh `notmuch search` process per query (how it is used from a
   shell), gallra as `storage.search.search` in a warm process (how the web
   page and a long-lived CLI call it) and, for comparison with notmuch's
   process start, as a fresh `gallra search` process for a few queries.
2. Scale: synthetic items (same vocabulary) are bulk-loaded to 10k, 100k and
   1M items on both engines, and the queries are timed again at each size.

Results: bench/results/search.json (p50/p95/max in ms per engine and size).

    .venv/bin/python -m bench.search [--sizes 10000,100000,1000000] [--queries 60]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text
from sqlmodel import Session, col

from bench.common import write_results
from models.tables import Item, ItemSubject, ItemText, Subject
from storage.engine import make_engine, migrate
from storage.search import search
from tests.servers import postgres_database

_SWEDISH_TEXT = (
    "och att det som en på är av för med till den har inte om ett han var jag sig från "
    "vi så kan man när år säger hon under också efter eller nu sin där vid mot ska skulle "
    "samtal samtalet samtalen möte mötet möten sömn sömnen stress stressen gränser gränsen "
    "jobbet arbete arbetet chefen kollegor familjen barnen relation relationen känslor "
    "ångest oro oron glädje mål målen vanor vanan träning promenad andning övning övningen "
    "reflektion dagbok anteckningar tankar tanke beslut förändring förändringen motivation "
    "energi trötthet vila återhämtning balans värderingar styrkor utmaning utmaningar "
    "faktura fakturan betalning kvitto avtal avtalet bokning bokningen ombokning inställt "
    "hälsa hälsan läkare sjukskrivning rehabilitering terapi terapeut coach coachning "
    "torsdag fredag måndag tisdag onsdag vecka veckan månad hösten våren sommaren vintern"
)
SWEDISH = _SWEDISH_TEXT.split()
_ENGLISH_TEXT = (
    "the and of to in is for that with on as this be at by from session sessions meeting "
    "sleep stress boundaries work manager colleagues family children relationship feelings "
    "anxiety worry joy goals habits exercise walk breathing practice reflection journal "
    "notes thoughts decision change motivation energy fatigue rest recovery balance values "
    "strengths challenge invoice payment receipt agreement booking cancelled health doctor"
)
ENGLISH = _ENGLISH_TEXT.split()
RARE = [f"kodord{n}" for n in range(400)] + [f"projekt{n}x" for n in range(400)]


class Words:
    """Zipf-distributed words from the vocabulary, seeded."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.vocab = SWEDISH + ENGLISH
        self.weights = [1 / (rank + 1) ** 0.9 for rank in range(len(self.vocab))]

    def text(self, count: int) -> str:
        words = self.rng.choices(self.vocab, weights=self.weights, k=count)
        if self.rng.random() < 0.3:
            words.append(self.rng.choice(RARE))
        return " ".join(words)


def queries(count: int, seed: int = 11) -> list[str]:
    """A mix: common words, rare words, two-word queries, prefixes, å ä ö without marks."""
    rng = random.Random(seed)
    content = [w for w in SWEDISH + ENGLISH if len(w) > 4]
    kinds: list[Callable[[], str]] = [
        lambda: rng.choice(content),
        lambda: rng.choice(RARE),
        lambda: f"{rng.choice(content)} {rng.choice(content)}",
        lambda: rng.choice(content)[:5],
        lambda: rng.choice(["somnen", "granser", "mote", "angest", "halsa", "forandring"]),
    ]
    return [kinds[n % len(kinds)]() for n in range(count)]


def write_maildir(folder: Path, count: int, seed: int = 5) -> None:
    """The shared corpus as a Maildir (cur/ only)."""
    words = Words(seed)
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for n in range(count):
        msg = EmailMessage()
        msg["From"] = f"Klient {n % 150} <klient{n % 150}@example.se>"
        msg["To"] = "coach@example.org"
        msg["Subject"] = words.text(6)
        msg["Date"] = format_datetime(datetime(2025, 1, 1, 9, tzinfo=UTC) + timedelta(hours=n))
        msg["Message-ID"] = f"<bench-{n}@example.se>"
        msg.set_content(words.text(random.Random(n).randint(40, 600)))
        (folder / "cur" / f"{1700000000 + n}.M{n}.bench:2,S").write_bytes(msg.as_bytes(policy=SMTP))


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95 and max in ms."""
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "queries": len(ordered),
    }


def time_gallra(engine: Engine, qs: list[str]) -> dict[str, Any]:
    """search() per query in one warm process (a first pass warms caches, not timed)."""
    samples: list[float] = []
    hits = 0
    with Session(engine) as session:
        for q in qs:
            search(session, q, today=date(2026, 11, 30))
        for q in qs:
            start = time.perf_counter()
            page = search(session, q, today=date(2026, 11, 30))
            samples.append(time.perf_counter() - start)
            hits += bool(page.hits)
    return {**percentiles(samples), "queries_with_hits": hits}


def time_notmuch(config: Path, qs: list[str]) -> dict[str, Any]:
    """A fresh `notmuch search` process per query, as from a shell."""
    env = {**os.environ, "NOTMUCH_CONFIG": str(config)}
    samples: list[float] = []
    hits = 0
    for q in qs:
        start = time.perf_counter()
        out = subprocess.run(
            ["notmuch", "search", "--limit=20", *q.split()],
            env=env,
            capture_output=True,
            check=True,
        ).stdout
        samples.append(time.perf_counter() - start)
        hits += bool(out.strip())
    return {**percentiles(samples), "queries_with_hits": hits}


def time_gallra_cli(home: Path, qs: list[str], env: dict[str, str]) -> dict[str, Any]:
    """A fresh `gallra search` process per query (Python start-up included)."""
    samples: list[float] = []
    exe = Path(sys.executable).parent / "gallra"
    for q in qs:
        start = time.perf_counter()
        subprocess.run(
            [str(exe), "--home", str(home), "search", q], env=env, capture_output=True, check=True
        )
        samples.append(time.perf_counter() - start)
    return percentiles(samples)


def ingest_with_gallra(home: Path, maildir: Path, env: dict[str, str]) -> float:
    """`gallra init` + `gallra ingest mail --maildir`; returns the ingest seconds."""
    exe = str(Path(sys.executable).parent / "gallra")
    subprocess.run([exe, "--home", str(home), "init"], env=env, check=True, capture_output=True)
    start = time.perf_counter()
    subprocess.run(
        [exe, "--home", str(home), "ingest", "mail", "--maildir", str(maildir)],
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def grow(engine: Engine, *, start: int, stop: int, seed: int) -> float:
    """Bulk-load synthetic items start..stop (with text and a subject link); returns seconds."""
    words = Words(seed + start)
    now = datetime(2026, 11, 30, tzinfo=UTC)
    began = time.perf_counter()
    with Session(engine) as session:
        if start == 0:
            session.execute(
                insert(Subject), [{"display_name": f"Klient {n}", "roles": "client",
                                   "created_at": now, "updated_at": now} for n in range(1000)]
            )  # fmt: skip
            session.commit()
        subject_ids = [row[0] for row in session.execute(text("SELECT id FROM subject"))]
        chunk = 5000
        for base in range(start, stop, chunk):
            rows, texts, links = [], [], []
            for n in range(base, min(base + chunk, stop)):
                digest = hashlib.sha256(str(n).encode()).hexdigest()
                title = words.text(6)
                rows.append(
                    {
                        "kind": "email", "source": "bench", "source_ref": str(n),
                        "received_at": now - timedelta(minutes=n), "size": 1000,
                        "sha256": digest, "mime_type": "message/rfc822",
                        "blob_key": f"bench/{digest}", "parse_status": "ok", "title": title,
                        "purpose": "agreement", "legal_basis": "contract",
                        "special_category": False, "provided_by_subject": True,
                        "expires_at": now + timedelta(days=400), "rule_id": "contract",
                        "policy_version": "bench", "state": "live", "media_info": "",
                        "created_at": now,
                    }
                )  # fmt: skip
                texts.append(title + "\n" + words.text(words.rng.randint(20, 80)))
            ids = session.execute(
                insert(Item).returning(col(Item.id), sort_by_parameter_order=True), rows
            ).scalars().all()  # fmt: skip
            session.execute(
                insert(ItemText),
                [{"item_id": i, "body": b} for i, b in zip(ids, texts, strict=True)],
            )
            for i in ids:
                links.append({"item_id": i, "subject_id": subject_ids[i % len(subject_ids)],
                              "role": "from", "reason": "bench"})  # fmt: skip
            session.execute(insert(ItemSubject), links)
            session.commit()
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("INSERT INTO item_fts(item_fts) VALUES ('optimize')")
            connection.exec_driver_sql("ANALYZE")
        else:
            connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - began


def corpus_round(work: Path, qs: list[str], pg_url: str, count: int) -> dict[str, Any]:
    """notmuch and gallra on the same Maildir."""
    maildir = work / "Maildir"
    write_maildir(maildir, count)
    config = work / "notmuch-config"
    config.write_text(
        f"[database]\npath={maildir}\n[user]\nname=Coach\nprimary_email=coach@example.org\n"
        "[new]\ntags=inbox;\n[search]\nexclude_tags=\n[maildir]\nsynchronize_flags=false\n"
    )
    env = {**os.environ, "NOTMUCH_CONFIG": str(config)}
    start = time.perf_counter()
    subprocess.run(["notmuch", "new", "--quiet"], env=env, check=True, capture_output=True)
    notmuch_index = time.perf_counter() - start
    out: dict[str, Any] = {
        "messages": count,
        "notmuch": {"index_seconds": round(notmuch_index, 2), **time_notmuch(config, qs)},
    }
    base_env = {**os.environ, "GALLRA_HASH_KEY": "bench-hash-key-0123456789", "GALLRA_DEBUG": "1"}
    for name, url in (("sqlite", None), ("postgresql", pg_url)):
        home = work / f"home-{name}"
        env = dict(base_env)
        if url:
            env["GALLRA_INDEX__URL"] = url
        seconds = ingest_with_gallra(home, maildir, env)
        engine = make_engine(url or f"sqlite:///{home / 'index.db'}")
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")  # as autovacuum would soon after a load
        out[f"gallra_{name}"] = {
            "ingest_seconds": round(seconds, 2),
            **time_gallra(engine, qs),
            "fresh_process": time_gallra_cli(home, qs[:10], env),
        }
        engine.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    if shutil.which("notmuch") is None:
        sys.exit("notmuch missing: scripts/bench installs it (apt-get install notmuch)")
    qs = queries(args.queries)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: dict[str, Any] = {"queries": args.queries, "scale": {}}
    with tempfile.TemporaryDirectory(prefix="gallra-bench-search-") as tmp:
        work = Path(tmp)
        with postgres_database() as corpus_pg:
            results["corpus"] = corpus_round(work, qs, corpus_pg, args.messages)
        print(results["corpus"], flush=True)
        with postgres_database() as pg_url:
            engines = {
                "sqlite": make_engine(f"sqlite:///{work / 'scale.db'}"),
                "postgresql": make_engine(pg_url),
            }
            for engine in engines.values():
                migrate(engine)
            loaded = 0
            for size in sizes:
                row: dict[str, Any] = {}
                for name, engine in engines.items():
                    seconds = grow(engine, start=loaded, stop=size, seed=3)
                    row[name] = {"load_seconds": round(seconds, 1), **time_gallra(engine, qs)}
                loaded = size
                results["scale"][str(size)] = row
                print(size, row, flush=True)
            for engine in engines.values():
                engine.dispose()
    corpus = results["corpus"]
    results["ratios"] = {
        f"notmuch_p95_over_gallra_{name}_p95": round(
            corpus["notmuch"]["p95_ms"] / max(corpus[f"gallra_{name}"]["p95_ms"], 0.01), 1
        )
        for name in ("sqlite", "postgresql")
    }
    path = write_results("search", results)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
