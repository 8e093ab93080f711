"""`gallra init`: a new GALLRA_HOME with settings, keys, a migrated index and a web login."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gallra.cli import web
from gallra.cli.context import app_of
from gallra.cli.output import JsonOpt, emit

if TYPE_CHECKING:
    from gallra.wiring import App

__all__ = ["init", "write_secret"]

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

# [mail]
# The practice's own addresses: mail from and to them is never tied to a person.
# `gallra init --own-address ADDRESS` (repeatable) writes them here.
# own_addresses = ["coach@example.se", "info@example.se"]
#
# A mailbox to pull every night (see deploy/README.md):
# [[mail.sources]]
# name = "practice"
# host = "imap.example.se"
# user = "coach@example.se"
# password_env = "GALLRA_IMAP_PASSWORD"
"""

OwnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--own-address",
        help="The practice's own e-mail address (repeatable); env GALLRA_OWN_ADDRESSES. "
        "Asked for on a terminal when not given.",
        envvar="GALLRA_OWN_ADDRESSES",
    ),
]


def write_secret(path: Path, text: str) -> None:
    """A new file readable by its owner only, written whole and synced (never overwritten)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def _create_files(gallra: App) -> list[Path]:
    """Settings file, hash key and master key, each only when missing; what was created."""
    from storage.keystore import new_master_key

    settings = gallra.settings
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings.home.chmod(0o700)  # also a folder that existed before, made with another mode
    for older in [*settings.home.glob("index.db*"), *settings.home.glob("keys.db*")]:
        older.chmod(0o600)
    created: list[Path] = []
    toml = settings.home / "gallra.toml"
    if not toml.exists():
        toml.write_text(_TOML_TEMPLATE, encoding="utf-8")
        created.append(toml)
    if settings.hash_key is None and not settings.key_file.exists():
        write_secret(settings.key_file, secrets.token_urlsafe(48))
        created.append(settings.key_file)
    master = settings.master_key_path
    if settings.keys.encrypt and settings.master_key is None and not master.exists():
        write_secret(master, new_master_key())
        created.append(master)
    return created


def _prepare_stores(gallra: App) -> None:
    """The migrated index, the key store, the blob store and the policy, ready to use."""
    from storage.engine import make_engine, migrate
    from storage.keystore import KeyStore

    migrate(gallra.engine)
    if gallra.settings.keys.encrypt:
        keys = KeyStore(make_engine(gallra.settings.keystore_url), gallra.read_master_key())
        keys.create(gallra.clock.now())
        keys.engine.dispose()
    _ = gallra.blobs
    _ = gallra.policy


def _report(gallra: App, created: list[Path], web_user: str, login: bool) -> list[str]:
    settings = gallra.settings
    lines = [f"gallra home: {settings.home}", *(f"created {path}" for path in created)]
    if settings.key_file in created:
        lines.append(
            f"The hash key in {settings.key_file} keys personnummer and marketing-block "
            "hashes: back it up."
        )
    if settings.master_key_path in created:
        lines.append(
            f"The master key in {settings.master_key_path} encrypts every stored e-mail and "
            "recording. Keep a copy somewhere safe and apart from the data (a password manager "
            "or a sealed envelope): losing it loses the whole archive, and no one can recover it."
        )
    lines.append("index ready")
    lines.append(
        f"web login for {web_user} set" if login else "no web login set: `gallra passwd` sets one"
    )
    return lines


def _own_addresses(gallra: App, given: list[str] | None) -> list[str]:
    """The addresses given, else asked for on a terminal (none when unattended)."""
    import sys

    if given:
        return [a for part in given for a in part.replace(",", " ").split()]
    if gallra.settings.mail.own_addresses or not sys.stdin.isatty():
        return []
    answer: str = typer.prompt(
        "The practice's own e-mail addresses (separated by spaces; empty for none)",
        default="",
        show_default=False,
    )
    return answer.replace(",", " ").split()


def init(
    ctx: typer.Context,
    own_address: OwnOpt = None,
    web_user: web.UserOpt = "coach",
    web_password_env: web.PasswordEnvOpt = None,
    web_password_file: web.PasswordFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create GALLRA_HOME with settings, a hash key, an empty, migrated index and a web login.

    The web password comes from --web-password-env or --web-password-file, or
    is asked for on a terminal; without any, the login is left for `gallra passwd`.
    """
    from gallra.own_addresses import retag_own, set_own_addresses

    gallra = app_of(ctx)
    created = _create_files(gallra)
    _prepare_stores(gallra)
    own = _own_addresses(gallra, own_address)
    if own:
        own = set_own_addresses(gallra.settings.home / "gallra.toml", own)
        retag_own(gallra, extra=tuple(own))
    password = web.read_password(env=web_password_env, file=web_password_file, prompt=True)
    if password is not None:
        web.store_password(gallra, username=web_user, password=password)
    emit(
        {
            "home": str(gallra.settings.home),
            "created": [str(path) for path in created],
            "index": "ready",
            "web_login": password is not None,
            "own_addresses": own,
        },
        as_json=as_json,
        lines=[
            *_report(gallra, created, web_user, password is not None),
            f"the practice's own addresses: {', '.join(own)}"
            if own
            else "no own addresses set: `gallra init --own-address ADDRESS` sets them",
        ],
    )
