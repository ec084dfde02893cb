"""Alembic environment: runs on the connection `decisions.migrate` hands over, or on DATABASE_URL
(for `alembic revision --autogenerate` while writing a new revision)."""

from __future__ import annotations

import os
from typing import Any

from alembic import context

from decisions import store

config = context.config
DEFAULT_URL = "sqlite:///data/targeting.db"  # the service's own default (service/settings.py)


def _render(type_: str, obj: Any, autogen_context: Any) -> Any:
    """Write the store's own column types as plain SQLAlchemy types in new revisions."""
    if type_ == "type" and isinstance(obj, store.UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Any) -> None:
    # batch mode: SQLite alters a table by copying it, which plain ALTER cannot do there
    context.configure(connection=connection, target_metadata=store.Base.metadata, render_as_batch=True,
                      compare_type=True, render_item=_render)  # fmt: skip
    with context.begin_transaction():
        context.run_migrations()


given = config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    engine = store.make_engine(config.get_main_option("sqlalchemy.url") or os.environ.get("DATABASE_URL", DEFAULT_URL))
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
