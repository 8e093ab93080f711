"""Shared fixtures: index engines on SQLite and PostgreSQL, moto's S3 server, the CLI."""

from __future__ import annotations

import io
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from models.policy import Policy, load_policy
from storage.engine import make_engine, migrate
from tests.servers import moto_server, postgres_database

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from gallra.wiring import App
    from tests.dovecot import Dovecot

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPORA = SHARED / "corpora"

# Nothing may phone home during tests.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "eu-north-1")


@pytest.fixture(scope="session")
def corpora() -> Path:
    """The shared public corpora; a missing copy fails the run rather than skipping tests."""
    if not (CORPORA / "email").is_dir() or not (CORPORA / "audio").is_dir():
        pytest.fail(f"shared corpora not found at {CORPORA}: CI lays shared/ beside the clone")
    return CORPORA


@pytest.fixture(scope="session")
def policy() -> Policy:
    """The shipped default policy."""
    return load_policy()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """One fresh PostgreSQL database for the session."""
    with postgres_database() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty index on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'index.db'}")
        migrate(eng)
        yield eng
        eng.dispose()
    else:
        with postgres_database() as url:
            eng = make_engine(url)
            migrate(eng)
            yield eng
            eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the migrated index."""
    with Session(engine, expire_on_commit=False) as sess:
        yield sess


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback, one per test session."""
    with moto_server() as url:
        yield url


@pytest.fixture
def s3_client(s3_endpoint: str) -> S3Client:
    """A boto3 client on moto's server (built through gallra's own factory)."""
    from storage.s3 import make_s3_client

    return make_s3_client(endpoint_url=s3_endpoint)


def new_bucket(client: S3Client, *, versioned: bool) -> str:
    """A fresh bucket, optionally versioned."""
    name = f"gallra-{uuid.uuid4().hex[:12]}"
    client.create_bucket(
        Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-north-1"}
    )
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A running Dovecot on loopback with one user (see tests/dovecot.py)."""
    from tests.dovecot import Dovecot

    server = Dovecot()
    server.start()
    yield server
    server.remove()


@dataclass
class CliResult:
    """What one CLI invocation printed and returned."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.out)


@dataclass
class Cli:
    """Runs `gallra` in-process against one GALLRA_HOME, with an optional fixed date."""

    home: Path
    now: str | None = None

    def __call__(self, *args: str, now: str | None = None) -> CliResult:
        from gallra.cli import main

        argv = ["gallra", "--home", str(self.home)]
        if now or self.now:
            argv += ["--now", now or self.now or ""]
        out, err = io.StringIO(), io.StringIO()
        old_argv = sys.argv
        sys.argv = [*argv, *args]
        code = 0
        try:
            with redirect_stdout(out), redirect_stderr(err):
                main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            sys.argv = old_argv
        return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """An initialised gallra home."""
    runner = Cli(tmp_path / "home")
    result = runner("init")
    assert result.code == 0, result.err
    return runner


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Cli, App]]:
    """The demo practice's web page on a free loopback port."""
    import uvicorn

    from gallra.web.app import create_app
    from tests.web_support import build_practice

    cli, gallra = build_practice(tmp_path, monkeypatch)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(gallra), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", cli, gallra
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
