"""`gallra web` (the coach's page) and `gallra passwd` (its login)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from sqlmodel import select

from gallra.context import app_of
from gallra.errors import ConfigError
from gallra.output import emit
from gallra.web.passwords import MIN_LENGTH, hash_password
from gallra.wiring import App
from models.errors import InvalidInput
from models.tables import WebUser
from storage.webauth import set_password

__all__ = ["passwd", "read_password", "store_password", "web"]

UserOpt = Annotated[str, typer.Option("--user", help="Login name.", envvar="GALLRA_WEB_USER")]
PasswordEnvOpt = Annotated[
    str | None,
    typer.Option(help="Read the web password from this environment variable."),
]
PasswordFileOpt = Annotated[
    Path | None, typer.Option(help="Read the web password from this file (first line).")
]


def read_password(*, env: str | None, file: Path | None, prompt: bool) -> str | None:
    """The password from an env var, a file, or (only on a terminal) a prompt; None if none."""
    if env is not None:
        value = os.environ.get(env)
        if not value:
            raise InvalidInput(f"--password-env: environment variable {env} is not set")
        return value
    if file is not None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise InvalidInput(f"--password-file {file}: {exc.strerror}") from None
        return lines[0] if lines else ""
    if prompt and sys.stdin.isatty():
        first: str = typer.prompt("Web password", hide_input=True)
        second: str = typer.prompt("Again", hide_input=True)
        if first != second:
            raise InvalidInput("password: the two entries differ")
        return first
    return None


def store_password(gallra: App, *, username: str, password: str) -> None:
    """Set (or reset) a web login; InvalidInput when the password is too short."""
    if not username.strip():
        raise InvalidInput("--user: a login name is required")
    try:
        hashed = hash_password(password)
    except ValueError:
        raise InvalidInput(f"password: at least {MIN_LENGTH} characters") from None
    with gallra.session() as session:
        set_password(session, username=username.strip(), password_hash=hashed)


def passwd(
    ctx: typer.Context,
    user: UserOpt = "coach",
    password_env: PasswordEnvOpt = None,
    password_file: PasswordFileOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Set or reset the web page's login (also unlocks it and ends its sessions)."""
    gallra = app_of(ctx)
    password = read_password(env=password_env, file=password_file, prompt=True)
    if password is None:
        raise InvalidInput("password: give --password-env or --password-file (no terminal)")
    store_password(gallra, username=user, password=password)
    emit({"user": user, "set": True}, as_json=as_json, lines=[f"web login for {user} set"])


def web(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8787).")] = None,
) -> None:
    """Serve the coach's web page (search, people, items, rights)."""
    import uvicorn

    from gallra.web.app import create_app

    gallra = app_of(ctx)
    with gallra.session() as session:
        if session.exec(select(WebUser)).first() is None:
            raise ConfigError("web: no login yet; run `gallra passwd` first")
    settings = gallra.settings.web
    bind = host or settings.host
    sys.stderr.write(f"gallra web on http://{bind}:{port or settings.port}/\n")
    uvicorn.run(
        create_app(gallra),
        host=bind,
        port=port or settings.port,
        log_level="warning",
        access_log=False,  # URLs carry ids only, but an access log is one more place to scrub
        proxy_headers=False,
    )
