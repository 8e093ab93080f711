"""`gallra nightly`: the nightly Prefect flow, in-process (ingest every source, then sweep)."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from gallra.context import app_of
from gallra.errors import ConfigError
from gallra.output import emit
from gallra.prefect_env import prefect_environment

__all__ = ["nightly"]


def nightly(
    ctx: typer.Context,
    history_days: Annotated[
        int, typer.Option(help="Delete Prefect's own finished runs older than this many days.")
    ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's report.")] = False,
) -> None:
    """Run the nightly flow now: pull every mail source, then enforce retention."""
    gallra = app_of(ctx)
    gallra.require_index()
    os.environ.update(prefect_environment(gallra.settings.home))
    if ctx.find_root().params.get("now"):
        os.environ["GALLRA_NOW"] = str(ctx.find_root().params["now"])
    from flows.nightly import NightlyFailed
    from flows.nightly import nightly as nightly_flow

    try:
        report: dict[str, Any] = nightly_flow(history_days=history_days)
    except NightlyFailed as exc:
        raise ConfigError(f"nightly run failed: {exc}") from None
    sweep = report.get("sweep", {})
    lines = [
        *(
            f"mail {name}: {c['new']} new, {c['duplicates']} duplicates, {c['parse_errors']} parse "
            f"errors"
            for name, c in report["mail"].items()
        ),
        f"sweep: deleted {sweep.get('deleted', 0)} items, {sweep.get('subjects_deleted', 0)} "
        f"people; {sweep.get('held_past_expiry', 0)} held past expiry; "
        f"{sweep.get('subject_keys_destroyed', 0)} people's keys destroyed",
        *(
            [
                f"index backed up ({report['backup']['size']} bytes), "
                f"{report['backup']['pruned']} expired backups deleted"
            ]
            if "backup" in report
            else []
        ),
        f"orchestration history pruned: {report.get('history_pruned', 0)} runs",
    ]
    emit(report, as_json=as_json, lines=lines)
