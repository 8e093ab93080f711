"""`gallra web` (the coach's page) and `gallra passwd` (its login)."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gallra.cli.context import app_of, audit
from gallra.cli.output import JsonOpt, emit
from models.errors import InvalidInput

if TYPE_CHECKING:
    from gallra.wiring import App

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
    from gallra.web.passwords import MIN_LENGTH, hash_password
    from storage.webauth import set_password

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
    totp: Annotated[
        bool,
        typer.Option(
            "--totp",
            help="Enrol a second factor (an authenticator app): prints its otpauth URI (a QR "
            "code on a terminal) and 10 one-time recovery codes; from then on a code is needed.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Set or reset the web page's login (also ends its sessions); --totp adds a second factor."""
    gallra = app_of(ctx)
    password = read_password(env=password_env, file=password_file, prompt=not totp)
    if password is None and not totp:
        raise InvalidInput("password: give --password-env or --password-file (no terminal)")
    if password is not None:
        store_password(gallra, username=user, password=password)
    data: dict[str, Any] = {"user": user, "set": password is not None}
    lines = [f"web login for {user} set"] if password is not None else []
    if totp:
        enrolled = _enrol_totp(gallra, user)
        data |= {"otpauth_uri": enrolled.uri, "recovery_codes": enrolled.recovery_codes}
        lines += [
            f"second factor for {user}: add this to an authenticator app, then every login "
            "needs its code:",
            f"  {enrolled.uri}",
            *([_qr(enrolled.uri)] if sys.stdout.isatty() and not as_json else []),
            "recovery codes (each works once; keep them apart from the password):",
            *(f"  {code}" for code in enrolled.recovery_codes),
        ]
    audit(gallra, "passwd-totp" if totp else "passwd")
    emit(data, as_json=as_json, lines=lines)


def _enrol_totp(gallra: App, username: str) -> Any:
    from gallra.web.second_factor import enrol
    from storage.webauth import find_user

    with gallra.session() as session:
        found = find_user(session, username=username)
        if found is None:
            raise InvalidInput(f"--user {username}: no such web login; set its password first")
        enrolled = enrol(found, gallra.hash_key)
        session.add(found)
    return enrolled


def _qr(text: str) -> str:
    import io

    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(text)
    out = io.StringIO()
    code.print_ascii(out=out, invert=True)
    return out.getvalue()


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or InvalidInput naming the address when it cannot be."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise InvalidInput(f"--host {host}: not an address this machine can listen on") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InvalidInput(
            f"--port {port}: cannot listen on {host}:{port} ({exc.strerror})"
        ) from None
    return sock


def web(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8787).", min=1, max=65535)] = None,
) -> None:
    """Serve the coach's web page (search, people, items, rights)."""
    from gallra.errors import ConfigError

    gallra = app_of(ctx)
    settings = gallra.settings.web
    bind, chosen = host or settings.host, port or settings.port
    from sqlmodel import select

    from models.tables import WebUser

    with gallra.session() as session:
        if session.exec(select(WebUser)).first() is None:
            raise ConfigError("web: no login yet; run `gallra passwd` first")
    sock = listening_socket(bind, chosen)
    import uvicorn

    from gallra.web.app import create_app

    config = uvicorn.Config(
        create_app(gallra),
        log_level="warning",
        access_log=False,  # URLs carry ids only, but an access log is one more place to scrub
        proxy_headers=False,
    )
    sys.stderr.write(f"gallra web on http://{bind}:{chosen}/\n")
    uvicorn.Server(config).run(sockets=[sock])
