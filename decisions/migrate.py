"""Schema migrations (Alembic): bring a database to the code's schema, or say why it is not there."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.engine import Engine

SCRIPTS = Path(__file__).parent / "migrations"
BASELINE = "0001"  # the schema as it was before migrations existed (tables made by create_all)


class SchemaOutdated(RuntimeError):
    """The database is not at the schema this code needs."""


def _config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None, "no migration scripts"
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision; None for a database that has never been migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade in one transaction; returns the revisions before and after."""
    with engine.begin() as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        cfg = _config(conn)
        if before is None and inspect(conn).has_table("decisions"):
            command.stamp(cfg, BASELINE)  # adopt tables created before migrations existed
        command.upgrade(cfg, revision)
    return before, current(engine)


def check(engine: Engine) -> None:
    """Raise SchemaOutdated, with what to run, unless the database is at the head revision."""
    now, wanted = current(engine), head()
    if now == wanted:
        return
    where = f"{engine.url.render_as_string(hide_password=True)}"
    if now is None:
        raise SchemaOutdated(
            f"the database {where} has no schema (or one from before migrations): run `targeting db upgrade`"
        )
    raise SchemaOutdated(
        f"the database {where} is at schema revision {now}, this code needs {wanted}: run `targeting db upgrade`"
    )


def prepare(engine: Engine) -> None:
    """For commands that write to the service database: create the schema in an empty database, and
    refuse an outdated one (upgrading a database in use is a deliberate step: `targeting db upgrade`)."""
    with engine.connect() as conn:
        empty = not inspect(conn).get_table_names()
    if empty:
        upgrade(engine)
    check(engine)
