"""`gallra nightly`: the nightly Prefect flow, in-process (ingest every source, then sweep)."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer

from gallra.cli.context import app_of
from gallra.cli.output import JsonOpt, emit, plural

__all__ = ["nightly"]


def _lines(report: dict[str, Any]) -> list[str]:
    sweep = report.get("sweep", {})
    lines = [
        *(
            f"mail {name}: {c['new']} new, {plural(c['duplicates'], 'duplicate')}, "
            f"{plural(c['parse_errors'], 'parse error')}"
            for name, c in report.get("mail", {}).items()
        ),
    ]
    if sweep:
        lines.append(
            f"sweep: deleted {plural(sweep.get('deleted', 0), 'item')}, "
            f"{plural(sweep.get('subjects_deleted', 0), 'person', 'people')}; "
            f"{sweep.get('held_past_expiry', 0)} held past expiry; "
            f"{sweep.get('subject_keys_destroyed', 0)} people's keys destroyed"
        )
    if "backup" in report:
        lines.append(
            f"index backed up ({report['backup']['size']} bytes), "
            f"{plural(report['backup']['pruned'], 'expired backup')} deleted"
        )
    if "digest" in report:
        lines.append(f"e-mail to the practice: {report['digest']}")
    if "history_pruned" in report:
        lines.append(f"orchestration history pruned: {plural(report['history_pruned'], 'run')}")
    lines += [f"FAILED: {step}" for step in report.get("failed", [])]
    return lines


def nightly(
    ctx: typer.Context,
    history_days: Annotated[
        int,
        typer.Option(help="Delete Prefect's own finished runs older than this many days.", min=0),
    ] = 30,
    as_json: JsonOpt = False,
) -> None:
    """Run the nightly flow now: pull every mail source, then enforce retention.

    The report is printed whether or not a step failed; a failed step makes
    the exit status 1 (the other steps still ran).
    """
    gallra = app_of(ctx)
    gallra.require_index()
    from gallra.prefect_env import prefect_environment

    # Prefect reads its settings from the environment when it is imported.
    os.environ.update(prefect_environment(gallra.settings.home))
    from flows.nightly import NightlyFailed
    from flows.nightly import nightly as nightly_flow

    state = ctx.find_root().obj
    failed: NightlyFailed | None = None
    try:
        report: dict[str, Any] = nightly_flow(
            history_days=history_days,
            home=str(gallra.settings.home),
            now=getattr(state, "now", None),
        )
    except NightlyFailed as exc:
        failed, report = exc, exc.report
    emit(report, as_json=as_json, lines=_lines(report))
    if failed is not None:
        sys.stderr.write(f"gallra: nightly run failed: {failed}\n")
        raise typer.Exit(1)
