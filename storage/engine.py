"""The index engine: SQLite by default, PostgreSQL by URL, migrated by Alembic."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError

from models.errors import InvalidInput
from storage.errors import StorageUnavailable

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import ExceptionContext
    from sqlmodel import Session

__all__ = [
    "current_revision",
    "make_engine",
    "migrate",
    "normalise_url",
    "scrub_after_delete",
    "transaction",
    "wal_checkpoints_in_background",
    "write_transaction",
]

_MIGRATIONS = Path(__file__).parent / "migrations"
# How long the WAL checkpoint helper waits for a commit before it looks for a stop again.
_CHECKPOINT_IDLE_WAIT = 0.5


def normalise_url(url: str) -> str:
    """Use psycopg 3 for a plain postgresql:// URL."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Deleted rows are overwritten with zeros: no readable residue of an
    # erased person's text in free pages of the index file.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and secure_delete."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql+psycopg://"):
        # Parallel workers cost ~6 ms to start: more than a search or a sweep
        # batch takes on its own, so gallra's small queries run serially. psycopg
        # prepares a statement after five runs, and PostgreSQL may then plan it
        # once for any value: a search for a rare word would get the plan of a
        # common one (33 ms instead of 5 ms at 100k items). Plan every run.
        engine = create_engine(
            url,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": 10,
                "options": "-c max_parallel_workers_per_gather=0 "
                "-c plan_cache_mode=force_custom_plan",
            },
        )
        event.listen(engine, "handle_error", _name_the_server)
        return engine
    raise InvalidInput("index.url: only sqlite:/// and postgresql:// URLs are supported")


def _name_the_server(context: ExceptionContext) -> None:
    """A PostgreSQL server that cannot be reached is named with its address in one line."""
    original = context.original_exception
    if getattr(context, "is_pre_ping", False):
        return  # the pool's own check: it reconnects by itself
    if context.connection is not None and not context.is_disconnect:
        return  # a statement failed on a live connection: not a part that is down
    if type(original).__name__ not in ("OperationalError", "ConnectionTimeout"):
        return
    url = context.engine.url if context.engine is not None else None
    where = f"{url.host or 'localhost'}:{url.port or 5432}" if url is not None else "?"
    raise StorageUnavailable(
        f"PostgreSQL {where}: unreachable or refusing ({type(original).__name__})"
    ) from None


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    from sqlmodel import Session  # the ORM is loaded by the commands that use sessions

    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Session]:
    """`transaction`, holding the write lock from its first statement on SQLite.

    SQLite's default transaction reads a snapshot and asks for the write lock
    at its first write; if another process committed in between, that ask
    fails at once ("database is locked", no waiting). A transaction that
    reads and then writes what it read (tagging: look up addresses, then add
    the new people) starts with BEGIN IMMEDIATE instead, and waits its turn.
    PostgreSQL needs nothing: its rows lock as they are written.
    """
    with transaction(engine) as session:
        if engine.dialect.name == "sqlite":
            session.execute(text("BEGIN IMMEDIATE"))
        yield session


@contextmanager
def wal_checkpoints_in_background(
    engine: Engine, *, idle_wait: float = _CHECKPOINT_IDLE_WAIT
) -> Iterator[None]:
    """While the block runs, a helper thread checkpoints the SQLite WAL after each commit.

    A commit that crosses SQLite's auto-checkpoint threshold copies the WAL
    into the database file and fsyncs it before it returns: a bulk ingest
    wrote ~5 MB a batch, so almost every commit paid for it on the critical
    path. Here the connections handed out during the block do not checkpoint;
    a thread with its own connection does (PASSIVE: it never blocks a
    writer), and the pool is emptied afterwards so no connection keeps that
    setting. Durability is unchanged: a commit is in the WAL, fsynced. A
    no-op on PostgreSQL.
    """
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        yield  # PostgreSQL, or an in-memory database (no WAL; disposing would drop it)
        return
    wake, stop = threading.Event(), threading.Event()

    def no_auto_checkpoint(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    def committed(_connection: Any) -> None:
        wake.set()

    def checkpoint_until_stopped() -> None:
        while not stop.is_set():
            if wake.wait(idle_wait):
                wake.clear()
                if stop.is_set():
                    break  # the final checkpoint below runs once the helper is joined
                try:
                    with engine.connect() as connection:
                        connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
                except OperationalError:
                    pass  # a checkpoint only saves work: the final one below, or the next, does it

    event.listen(engine, "checkout", no_auto_checkpoint)
    event.listen(engine, "commit", committed)
    helper = threading.Thread(target=checkpoint_until_stopped, name="wal-checkpoint")
    helper.start()
    try:
        yield
    finally:
        stop.set()
        wake.set()  # a helper waiting for a commit must not sit out its wait
        helper.join()
        event.remove(engine, "commit", committed)
        event.remove(engine, "checkout", no_auto_checkpoint)
        engine.pool.dispose()  # connections checked out later auto-checkpoint again
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()


def scrub_after_delete(engine: Engine) -> None:
    """Leave no readable residue of deleted rows in the index files.

    FTS5 keeps a deleted document's terms in older index segments until they
    are merged (SQLite 3.40 has no fts5 secure-delete): 'optimize' merges
    them all away. secure_delete then zeroes the freed pages in the database
    file, but the WAL still holds the old pages until a checkpoint: truncate
    it. PostgreSQL keeps dead tuples until VACUUM, which autovacuum runs.
    """
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO item_fts(item_fts) VALUES ('optimize')")
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def _alembic_config() -> Config:
    # Imported here: alembic costs ~0.2 s to import, and only init and migrate need it.
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the index schema to the newest migration, or to `revision` (idempotent)."""
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The migration the index is at, or None when it was never initialised."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        row = connection.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return None if row is None else str(row[0])
