"""`gallra demo`: load the bundled demo practice and show each person's retention."""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

import typer

from gallra.cli.context import app_of
from gallra.cli.ingest import run_archive
from gallra.cli.output import JsonOpt, emit, iso, plural

__all__ = ["demo"]

DEMO_COACH = "coach@example.org"  # the demo practice's own address


def demo(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Load the demo practice (invented people) and print how long each person's data is kept."""
    from sqlmodel import col, select

    from gallra.demo_data import DemoLoad, demo_dir, load_demo_facts
    from ingest.archives import read_eml_dir
    from models.tables import Subject
    from storage.engine import migrate
    from storage.expiry import kept_until, subject_retention

    gallra = app_of(ctx)
    migrate(gallra.engine)
    # Load the demo people once per home: a person the sweep deleted must stay deleted.
    marker = gallra.settings.home / ".demo-loaded"
    loaded = DemoLoad(subjects_added=0, subjects_present=0)
    if not marker.exists():
        with gallra.session() as session:
            loaded = load_demo_facts(session, hash_key=gallra.hash_key, today=gallra.today)
        marker.write_text("demo facts loaded; delete this file to load them again\n")
    with gallra.mail_ingestor(extra_own=(DEMO_COACH,)) as ingestor:
        mail = run_archive(
            ingestor,
            read_eml_dir(demo_dir() / "mail"),
            batch_size=gallra.settings.mail.batch_size,
            batch_bytes=gallra.settings.mail.batch_bytes,
            progress=False,
        )
    # The ingest removes its source once stored, so it takes a copy of the shipped files.
    drop = gallra.settings.home / "demo-drop"
    shutil.copytree(demo_dir() / "recordings", drop, dirs_exist_ok=True)
    settled = time.time() - 3600
    for path in drop.iterdir():
        os.utime(path, (settled, settled))
    recordings = gallra.recording_ingestor().ingest_folder(drop)
    gallra.bind_keys()
    rows: list[dict[str, Any]] = []
    with gallra.session() as session:
        for subject in session.exec(select(Subject).order_by(col(Subject.id))):
            assert subject.id is not None
            retention = subject_retention(
                session, gallra.policy, subject_id=subject.id, today=gallra.today
            )
            rows.append(
                {
                    "id": subject.id,
                    "roles": subject.role_list,
                    "rule": retention.rule_id,
                    "items": retention.items,
                    "kept_until": iso(kept_until(retention.deletable_from)),
                    "deletable_from": iso(retention.deletable_from),
                }
            )
    lines = [
        f"demo: {plural(loaded.subjects_added, 'person', 'people')} added, "
        f"{loaded.subjects_present} already there; "
        f"mail: {mail.new} new, {mail.duplicates} already in, "
        f"{mail.previously_deleted} deleted before (not restored), {mail.skipped_bulk} bulk, "
        f"{plural(mail.attachments, 'attachment')}, "
        f"{plural(mail.prospects_created, 'new prospect')}; "
        f"recordings: {recordings.new} new, {recordings.duplicates} already in"
    ]
    for row in rows:
        kept = (
            f"kept until {row['kept_until']}" if row["kept_until"] else "kept while agreement runs"
        )
        lines.append(
            f"  subject {row['id']:>3} {','.join(row['roles']):<16} "
            f"{plural(row['items'], 'item'):>9}  {kept} (rule {row['rule']})"
        )
    emit(
        {
            "added": loaded.subjects_added,
            "mail_new": mail.new,
            "recordings_new": recordings.new,
            "subjects": rows,
        },
        as_json=as_json,
        lines=lines,
    )
