"""The `gallra` command: usage mistakes answered like any Unix tool, domain errors in one line.

Exit codes: 0 done; 1 done but something needs a person (a sweep failure, a
broken ledger); 2 a usage mistake (message, the command's usage line and a
hint) or a refused input (one line naming it); 70 a bug, named by its type
only, because an unknown error's text may carry personal data.

Importing this package imports typer and the command modules, nothing else:
each command imports the index, Prefect, FastAPI or boto3 when it runs, so
`gallra --help` and a usage mistake start in a few tens of milliseconds.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from gallra.cli import (
    demo,
    ingest,
    init,
    keys,
    nightly,
    policy,
    recordings,
    rights,
    search,
    subjects,
    sweep,
    today,
    web,
)
from gallra.cli.context import CliState
from gallra.cli.output import group
from models.errors import GallraError

__all__ = ["app", "main"]

app = group(
    "Keep only the client data you may keep, for as long as you may, and prove it.",
    completion=True,
)
app.command("init")(init.init)
app.command("today")(today.today)
app.add_typer(subjects.subject_app, name="subject")
app.add_typer(subjects.engagement_app, name="engagement")
app.add_typer(policy.policy_app, name="policy")
app.command("demo")(demo.demo)
app.command("sweep")(sweep.sweep)
app.add_typer(sweep.hold_app, name="hold")
app.add_typer(sweep.ledger_app, name="ledger")
app.add_typer(ingest.ingest_app, name="ingest")
ingest.ingest_app.command("recordings")(recordings.ingest_recordings_cmd)
app.command("doctor")(ingest.doctor)
app.command("nightly")(nightly.nightly)
app.add_typer(recordings.items_app, name="items")
app.add_typer(recordings.item_app, name="item")
app.add_typer(rights.request_app, name="request")
app.add_typer(rights.consent_app, name="consent")
app.command("requests")(rights.requests_list)
app.command("export")(rights.export_cmd)
app.command("erase")(rights.erase_cmd)
app.command("object")(rights.object_cmd)
app.command("search")(search.search_cmd)
app.command("audit")(search.audit_cmd)
app.command("web")(web.web)
app.command("passwd")(web.passwd)
app.add_typer(keys.keys_app, name="keys")
app.command("backup")(keys.backup_cmd)
app.command("restore")(keys.restore_cmd)


def _show_version(value: bool) -> None:
    if value:
        from gallra import __version__

        sys.stdout.write(f"gallra {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    now: Annotated[
        str | None,
        typer.Option(
            help="Pretend today is this date (YYYY-MM-DD); env GALLRA_NOW.", envvar="GALLRA_NOW"
        ),
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option(
            help="Folder of settings, index and blobs; env GALLRA_HOME.", envvar="GALLRA_HOME"
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", is_eager=True, callback=_show_version
        ),
    ] = False,
) -> None:
    """Global options (an option given here beats its environment variable)."""
    state = CliState(home=home, now=now)
    ctx.obj = state
    ctx.call_on_close(state.close)


def main() -> None:
    """Console entry point.

    Every file gallra writes (index, keys, blobs, exports, temporaries) is
    readable by its owner only: the umask is set before anything is opened.
    """
    os.umask(0o077)
    try:
        app(prog_name="gallra")
    except GallraError as exc:
        sys.stderr.write(f"gallra: {exc}\n")
        sys.exit(2)
    except Exception as exc:
        # Unknown failures may carry personal data in their text: name the type only.
        if os.environ.get("GALLRA_DEBUG"):
            raise
        sys.stderr.write(
            f"gallra: internal error ({type(exc).__name__}); "
            "rerun with GALLRA_DEBUG=1 for details\n"
        )
        sys.exit(70)
