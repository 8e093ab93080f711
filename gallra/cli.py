"""The `gallra` command: one clear line and a non-zero exit on error, never a traceback."""

from __future__ import annotations

import gc
import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import click
import typer

from gallra import (
    cli_demo,
    cli_ingest,
    cli_keys,
    cli_nightly,
    cli_policy,
    cli_recordings,
    cli_rights,
    cli_search,
    cli_subjects,
    cli_sweep,
    cli_web,
)
from gallra.context import app_of
from gallra.output import emit
from gallra.settings import default_home, get_settings
from gallra.wiring import App, parse_now
from models.clock import SystemClock
from models.errors import GallraError
from storage.engine import make_engine, migrate
from storage.keystore import KeyStore, new_master_key

__all__ = ["app", "main"]

app = typer.Typer(
    name="gallra",
    help="Keep only the client data you may keep, for as long as you may, and prove it.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(cli_subjects.subject_app, name="subject")
app.add_typer(cli_subjects.engagement_app, name="engagement")
app.add_typer(cli_policy.policy_app, name="policy")
app.command("demo")(cli_demo.demo)
app.command("sweep")(cli_sweep.sweep)
app.add_typer(cli_sweep.hold_app, name="hold")
app.add_typer(cli_sweep.ledger_app, name="ledger")
app.add_typer(cli_ingest.ingest_app, name="ingest")
app.command("doctor")(cli_ingest.doctor)
app.command("nightly")(cli_nightly.nightly)
app.add_typer(cli_recordings.items_app, name="items")
app.add_typer(cli_recordings.item_app, name="item")
app.add_typer(cli_rights.request_app, name="request")
app.add_typer(cli_rights.consent_app, name="consent")
app.command("requests")(cli_rights.requests_list)
app.command("export")(cli_rights.export_cmd)
app.command("erase")(cli_rights.erase_cmd)
app.command("object")(cli_rights.object_cmd)
app.command("search")(cli_search.search_cmd)
app.command("audit")(cli_search.audit_cmd)
app.command("web")(cli_web.web)
app.command("passwd")(cli_web.passwd)
app.add_typer(cli_keys.keys_app, name="keys")
app.command("backup")(cli_keys.backup_cmd)
app.command("restore")(cli_keys.restore_cmd)

_TOML_TEMPLATE = """\
# gallra settings. Environment variables GALLRA_<SECTION>__<KEY> override these.
# Secrets (hash key, passwords, S3 keys) never go here: use env vars or files.

[index]
# url = "postgresql+psycopg://gallra@127.0.0.1:5432/gallra"   # default: index.db here

[blobs]
backend = "local"            # or "s3"
# path = "/srv/gallra/blobs"  # default: blobs/ here
# bucket = "gallra"
# endpoint_url = "http://127.0.0.1:9000"

[policy]
# path = "/etc/gallra/policy.toml"   # default: the shipped policy (see `gallra policy show`)
"""


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
        Path | None, typer.Option(help="Folder of settings, index and blobs; env GALLRA_HOME.")
    ] = None,
) -> None:
    """Global options."""
    root = home or default_home()
    ctx.obj = App(settings=get_settings(root), clock=parse_now(now) if now else SystemClock())
    ctx.call_on_close(ctx.obj.close)


@app.command()
def init(
    ctx: typer.Context,
    web_user: cli_web.UserOpt = "coach",
    web_password_env: cli_web.PasswordEnvOpt = None,
    web_password_file: cli_web.PasswordFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create GALLRA_HOME with settings, a hash key, an empty, migrated index and a web login.

    The web password comes from --web-password-env or --web-password-file, or
    is asked for on a terminal; without any, the login is left for `gallra passwd`.
    """
    gallra = app_of(ctx)
    home = gallra.settings.home
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    created: list[str] = []
    toml = home / "gallra.toml"
    if not toml.exists():
        toml.write_text(_TOML_TEMPLATE, encoding="utf-8")
        created.append(str(toml))
    key_file = gallra.settings.key_file
    if gallra.settings.hash_key is None and not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        created.append(str(key_file))
    master_file = gallra.settings.master_key_path
    if (
        gallra.settings.keys.encrypt
        and gallra.settings.master_key is None
        and not master_file.exists()
    ):
        master_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(master_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_master_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        created.append(str(master_file))
    migrate(gallra.engine)
    if gallra.settings.keys.encrypt:
        keys = KeyStore(make_engine(gallra.settings.keystore_url), gallra.read_master_key())
        keys.create(gallra.clock.now())
        keys.engine.dispose()
    _ = gallra.blobs
    _ = gallra.policy
    password = cli_web.read_password(env=web_password_env, file=web_password_file, prompt=True)
    if password is not None:
        cli_web.store_password(gallra, username=web_user, password=password)
    emit(
        {
            "home": str(home),
            "created": created,
            "index": "ready",
            "web_login": password is not None,
        },
        as_json=as_json,
        lines=[f"gallra home: {home}"]
        + [f"created {path}" for path in created]
        + (
            [
                f"The hash key in {key_file} keys personnummer and marketing-block hashes: "
                "back it up."
            ]
            if str(key_file) in created
            else []
        )
        + (
            [
                f"The master key in {master_file} encrypts every stored e-mail and recording. "
                "Keep a copy somewhere safe and apart from the data (a password manager or a "
                "sealed envelope): losing it loses the whole archive, and no one can recover it."
            ]
            if str(master_file) in created
            else []
        )
        + ["index ready"]
        + (
            [f"web login for {web_user} set"]
            if password is not None
            else ["no web login set: `gallra passwd` sets one"]
        ),
    )


def main() -> None:
    """Console entry point."""
    # Every module is loaded: the cyclic collector need not trace them again, and a bulk
    # command makes many short-lived objects (rows, parse results) that refcounting frees.
    # Measured on a 2000-message ingest: user CPU 3.42 -> 3.22 s, wall 3.90 -> 3.71 s.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        result = app(standalone_mode=False)
    except GallraError as exc:
        sys.stderr.write(f"gallra: {exc}\n")
        sys.exit(2)
    except click.exceptions.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.stderr.write("gallra: aborted\n")
        sys.exit(130)
    except Exception as exc:
        # Unknown failures may carry personal data in their text: name the type only.
        if os.environ.get("GALLRA_DEBUG"):
            raise
        sys.stderr.write(
            f"gallra: internal error ({type(exc).__name__}); "
            "rerun with GALLRA_DEBUG=1 for details\n"
        )
        sys.exit(70)
    sys.exit(result if isinstance(result, int) else 0)
