"""Logins survive a restore as they are now, never as they were in the backup.

A backup holds the web users' password hashes, their sessions and the login
throttle of its day. Restoring it must not bring back a password changed
since, nor a session `gallra passwd` ended: the live rows are read before the
restore and written over the restored ones after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, MetaData, Table, delete, func, insert, inspect, select, text

__all__ = ["Credentials", "reapply_credentials", "snapshot_credentials"]

_TABLES = ("webuser", "websession", "loginthrottle")  # parents first


@dataclass
class Credentials:
    """The live rows of the login tables (hashes only: no password, no session token)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _tables(engine: Engine) -> dict[str, Table]:
    present = set(inspect(engine).get_table_names())
    meta = MetaData()
    return {name: Table(name, meta, autoload_with=engine) for name in _TABLES if name in present}


def snapshot_credentials(engine: Engine) -> Credentials:
    """Read the live login tables."""
    with engine.connect() as connection:
        return Credentials(
            {
                name: [dict(row._mapping) for row in connection.execute(select(table))]
                for name, table in _tables(engine).items()
            }
        )


def reapply_credentials(engine: Engine, live: Credentials) -> None:
    """Replace the restored login tables' rows with the live ones, in one transaction."""
    tables = _tables(engine)
    with engine.begin() as connection:
        for name in reversed(_TABLES):
            if name in tables:
                connection.execute(delete(tables[name]))
        for name in _TABLES:
            if name in tables and live.rows.get(name):
                connection.execute(insert(tables[name]), live.rows[name])
        if engine.dialect.name == "postgresql" and "webuser" in tables:
            highest = connection.execute(select(func.max(tables["webuser"].c.id))).scalar()
            if highest:
                connection.execute(
                    text("SELECT setval(pg_get_serial_sequence('webuser', 'id'), :n)"),
                    {"n": highest},
                )
