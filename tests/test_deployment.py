"""The deployment: a real Prefect server and process worker run the nightly flow from
deploy/prefect.yaml against Dovecot, PostgreSQL and moto's S3 server."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, select

from models.tables import LedgerEntry
from storage.engine import make_engine
from tests.conftest import Cli, new_bucket
from tests.dovecot import Dovecot
from tests.mailgen import message
from tests.servers import free_port, postgres_database

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "deploy" / "prefect.yaml"


def test_every_entrypoint_in_prefect_yaml_imports_to_a_flow() -> None:
    spec = yaml.safe_load(PREFECT_YAML.read_text())
    names = {d["name"] for d in spec["deployments"]}
    assert {"nightly", "ingest-mail", "ingest-recordings", "enforce-retention"} <= names
    for deployment in spec["deployments"]:
        path, _, attribute = deployment["entrypoint"].partition(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, attribute)
        assert hasattr(flow, "fn") and hasattr(flow, "name"), deployment["entrypoint"]
    nightly = next(d for d in spec["deployments"] if d["name"] == "nightly")
    assert nightly["schedules"][0] == {
        "cron": "0 2 * * *",
        "timezone": "Europe/Stockholm",
        "active": True,
    }
    assert nightly["concurrency_limit"] == 1


def test_the_image_can_back_up_the_index_server_it_is_composed_with() -> None:
    """The image installs pg_dump/pg_restore of the compose file's PostgreSQL major version
    (checked as text: no Docker engine runs here to build it)."""
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    major = compose["services"]["postgres"]["image"].split(":")[1].split(".")[0]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert f"postgresql-client-{major}" in dockerfile
    assert "python:3.11-slim" in dockerfile  # Debian 12, whose client packages carry 15


def test_a_missing_pg_dump_is_one_line_naming_it(tmp_path: Path) -> None:
    with postgres_database() as url:
        env = {
            **os.environ,
            "GALLRA_HOME": str(tmp_path / "home"),
            "GALLRA_INDEX__URL": url,
            "PATH": str(tmp_path / "empty"),
        }
        gallra = [sys.executable, "-m", "gallra"]
        subprocess.run([*gallra, "init"], env=env, check=True, capture_output=True, timeout=120)
        done = subprocess.run(
            [*gallra, "backup"], env=env, capture_output=True, text=True, timeout=120, check=False
        )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gallra: pg_dump: not found on PATH; install the PostgreSQL client programs of the "
        "server's major version (Debian: postgresql-client-15 for PostgreSQL 15)"
    ]


def test_compose_file_is_well_formed() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    assert {"postgres", "minio", "prefect-server", "worker", "web"} <= set(compose["services"])
    web = compose["services"]["web"]
    assert "gallra web" in web["command"] and web["ports"] == ["127.0.0.1:8787:8787"]
    assert "GALLRA_WEB_PASSWORD" in web["environment"]
    for name, service in compose["services"].items():
        assert "healthcheck" in service or name == "worker", name
    docker = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if docker.returncode != 0:
        pytest.skip("no docker compose plugin on this machine; YAML checked only")
    env = {
        **os.environ,
        "POSTGRES_PASSWORD": "x",
        "MINIO_ROOT_USER": "x",
        "MINIO_ROOT_PASSWORD": "x",
        "GALLRA_HASH_KEY": "x" * 32,
        "GALLRA_MASTER_KEY": "A" * 43 + "=",
        "GALLRA_WEB_PASSWORD": "x" * 12,
    }
    subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "deploy" / "docker-compose.yml"), "config", "-q"],
        env=env,
        check=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
    }
    prefect = str(Path(sys.executable).parent / "prefect")
    server = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(env["PREFECT_API_URL"] + "/health", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("prefect server did not become healthy") from None
                time.sleep(0.5)
        yield env
    finally:
        _stop(server)


@pytest.mark.integration
def test_nightly_deployment_runs_on_a_server_and_worker(
    prefect_server: dict[str, str], cli: Cli, s3_endpoint: str, tmp_path: Path
) -> None:
    from storage.s3 import make_s3_client

    dovecot = Dovecot()
    dovecot.start()
    try:
        dovecot.append("INBOX", [message(n) for n in range(12)])
        bucket = new_bucket(make_s3_client(endpoint_url=s3_endpoint), versioned=True)
        with postgres_database() as index_url:
            env = {
                **prefect_server,
                "GALLRA_HOME": str(cli.home),
                "GALLRA_INDEX__URL": index_url,
                "GALLRA_BLOBS__BACKEND": "s3",
                "GALLRA_BLOBS__BUCKET": bucket,
                "GALLRA_BLOBS__ENDPOINT_URL": s3_endpoint,
                "GALLRA_IMAP_PASSWORD": dovecot.password,
                "GALLRA_PROJECT_DIR": str(ROOT),
                "TMPDIR": str(tmp_path / "worker-tmp"),
            }
            (tmp_path / "worker-tmp").mkdir()
            (cli.home / "gallra.toml").write_text(
                '[mail]\nown_addresses = ["coach@example.org"]\n\n'
                "[[mail.sources]]\n"
                f'name = "practice"\nhost = "127.0.0.1"\nport = {dovecot.port}\n'
                f'security = "none"\nuser = "{dovecot.user}"\n'
                'password_env = "GALLRA_IMAP_PASSWORD"\nfolders = ["INBOX"]\n'
            )
            py = sys.executable
            prefect = str(Path(py).parent / "prefect")

            def run(*args: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
                return subprocess.run(
                    list(args),
                    env=env,
                    cwd=ROOT,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=timeout,
                    check=False,
                )

            assert run(py, "-m", "gallra", "init").returncode == 0
            pool = run(prefect, "work-pool", "create", "gallra", "--type", "process", "--overwrite")
            assert pool.returncode == 0, pool.stderr
            deployed = run(
                prefect, "--no-prompt", "deploy", "--prefect-file", str(PREFECT_YAML), "--all"
            )
            assert deployed.returncode == 0, deployed.stdout + deployed.stderr
            worker = subprocess.Popen(
                [prefect, "worker", "start", "--pool", "gallra"],
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                started = time.monotonic()
                triggered = run(
                    prefect,
                    "deployment",
                    "run",
                    "nightly/nightly",
                    "--watch",
                    "--watch-timeout",
                    "240",
                    timeout=300,
                )
                elapsed = time.monotonic() - started
                assert triggered.returncode == 0, (
                    triggered.stdout[-3000:] + triggered.stderr[-3000:]
                )
                listed = run(py, "-m", "gallra", "subject", "list", "--json")
                assert listed.returncode == 0, listed.stderr
                assert len(yaml.safe_load(listed.stdout)) == 12  # every sender a prospect
                stored = make_s3_client(endpoint_url=s3_endpoint).list_objects_v2(
                    Bucket=bucket, Prefix="mail/"
                )
                assert len(stored.get("Contents", [])) == 12
                # Two deployments that both sweep, started together, months later: the
                # lock in the index lets one run at a time; each item is deleted once.
                later = ["--param", "now=2027-06-01"]
                both = [
                    subprocess.Popen(
                        [
                            prefect,
                            "deployment",
                            "run",
                            name,
                            *params,
                            *later,
                            "--watch",
                            "--watch-timeout",
                            "240",
                        ],
                        env=env,
                        cwd=ROOT,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    for name, params in (
                        ("enforce_retention/enforce-retention", []),
                        ("erase_subject/erase-subject", ["--param", "subject_id=1"]),
                    )
                ]
                outcomes = [run_.communicate(timeout=300) for run_ in both]
                assert [run_.returncode for run_ in both] == [0, 0], outcomes
            finally:
                _stop(worker)
            verified = run(py, "-m", "gallra", "ledger", "verify", "--json")
            assert verified.returncode == 0, verified.stdout
            engine = make_engine(index_url)
            with Session(engine) as s:
                deleted = list(
                    s.exec(select(LedgerEntry.item_id).where(LedgerEntry.action == "item-deleted"))
                )
            engine.dispose()
            assert len(deleted) == len(set(deleted)) == 12
            keys = list(
                make_s3_client(endpoint_url=s3_endpoint)
                .list_objects_v2(Bucket=bucket, Prefix="mail/")
                .get("Contents", [])
            )
            assert keys == []  # the sweeps deleted every message the nightly stored
            # No secret given to the worker by environment lands in a file: not in Prefect's
            # database (flow runs' stored infrastructure and job variables), its home, the
            # runs' temp dirs (a process worker's workspace), or the project folder.
            secrets = [dovecot.password.encode(), index_url.encode()]
            master = (cli.home / "secrets" / "master.key").read_bytes().strip()
            places = [Path(prefect_server["PREFECT_HOME"]), tmp_path / "worker-tmp", ROOT / "flows"]
            leaks = [
                f"{path}: {secret[:6]!r}"
                for place in places
                for path in place.rglob("*")
                if path.is_file()
                for secret in [*secrets, master]
                if secret in path.read_bytes()
            ]
            assert leaks == []
            assert secrets[0] in (dovecot.root / "users").read_bytes()  # the scan can find it
            print(f"nightly through server+worker: {elapsed:.1f} s")
    finally:
        dovecot.remove()
