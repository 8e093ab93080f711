"""Bulk inserts that hand back the new rows' ids in the order of the rows.

SQLAlchemy runs an INSERT ... RETURNING that must keep the order of its rows
as one statement a row on SQLite (no SQL form there ties new rowids to the
order of the values): 2000 new people cost ~0.5 s that way. On SQLite, one
executemany numbers the rows in order instead: each new rowid is one more
than the largest before it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

__all__ = ["ConcurrentInsert", "insert_ignoring_conflicts", "insert_numbered", "upsert"]


class ConcurrentInsert(RuntimeError):
    """Another connection inserted into the same table between the two steps."""


def insert_numbered(session: Session, model: Any, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert `rows` into `model`'s table; their new ids, in the order of `rows`.

    Raises ConcurrentInsert (the caller rolls back) when another writer's rows
    or deletions would make the numbering ambiguous.
    """
    if not rows:
        return []
    ident = model.__table__.c.id
    if session.get_bind().dialect.name != "sqlite":
        result = session.execute(insert(model).returning(ident, sort_by_parameter_order=True), rows)
        return [int(i) for i in result.scalars()]
    before = session.execute(select(func.max(ident))).scalar() or 0
    session.execute(insert(model), list(rows))  # holds the write lock from here to the commit
    found = session.execute(select(ident).where(ident > before).order_by(ident)).scalars()
    ids = [int(i) for i in found]
    if len(ids) != len(rows):
        raise ConcurrentInsert(f"{model.__tablename__}: rows were inserted by another writer")
    return ids


def insert_ignoring_conflicts(session: Session, model: Any) -> Any:
    """An INSERT into `model` that skips a row breaking a unique constraint (RETURNING
    then leaves it out): how a write that lost a race to another process reads."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model).on_conflict_do_nothing()


def upsert(
    session: Session,
    model: Any,
    row: dict[str, Any],
    *,
    keys: list[str],
    update: Callable[[Any], dict[str, Any]],
) -> None:
    """Insert `row`, or, when a row with the same `keys` exists, set `update(excluded)`.

    One statement: two processes saving the same row at once cannot both
    insert it, and neither reads a value the other is about to change.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(model).values(**row)
    session.execute(
        statement.on_conflict_do_update(index_elements=keys, set_=update(statement.excluded))
    )
