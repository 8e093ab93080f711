"""Alembic environment: runs on the connection storage.engine.migrate hands it."""

from alembic import context
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes["connection"]


def _include(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """Autogenerate must not drop the full-text objects that live outside SQLModel (0003)."""
    return not (name or "").startswith("item_fts") and name not in ("tsv", "ix_itemtext_tsv")


context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,
    compare_type=True,
    include_object=_include,
)
with context.begin_transaction():
    context.run_migrations()
