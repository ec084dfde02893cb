"""The service's state from the command line: account histories, watchlists, bonds, the database schema and API
keys (the policy: cli/policy.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from cli.app import app, fail
from training.data import DataError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

history_app = typer.Typer(help="Account-history profiles the service scores with.", no_args_is_help=True)
app.add_typer(history_app, name="history")


@history_app.command("load")
def history_load(
    data: Annotated[Path, typer.Option(help="The history the model was trained on.")] = Path("data/entries.parquet"),
    dataset_spec: Annotated[Path | None, typer.Option(help="YAML dataset spec; default: built-in.")] = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace profiles that are already loaded.")] = False,
) -> None:
    """Build importer, manufacturer, shipper... profiles from a history into the service's database."""
    import pandas as pd

    from decisions import store
    from features.history import HistoryProfiles
    from features.pipeline import prepare
    from features.spec import BUILTIN_SPEC
    from training.data import load_spec, read_table, validate

    with service_session() as session:
        where = repr(session.get_bind().engine.url)
        loaded = store.profile_total(session)
        if loaded and not replace:
            typer.echo(f"{loaded:,} profiles already loaded in {where}; --replace to rebuild them")
            return
        try:
            spec = load_spec(dataset_spec) if dataset_spec else BUILTIN_SPEC
            rows = prepare(validate(read_table(data), spec), spec)
        except DataError as exc:
            fail(str(exc))
        profiles = HistoryProfiles.from_frame(rows, spec, as_of=pd.Timestamp.now(tz="UTC"))
        written = store.replace_profiles(session, profiles.counts)
        store.accounts.recount_from_decisions(session)  # the decisions on record stay in the accounts' risk levels
        session.commit()
    typer.echo(f"loaded {written:,} profiles from {len(rows):,} entries into {where}")


@contextmanager
def _service_engine() -> Iterator[Engine]:
    """An engine on the service's database (DATABASE_URL), disposed afterwards."""
    from decisions import store
    from service.settings import Settings

    settings = Settings()
    engine = store.make_engine(settings.database_url, settings.sqlite_synchronous)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def service_session() -> Iterator[Session]:
    """A session on the service's database, its schema created if the database is empty."""
    from sqlalchemy.orm import Session

    from decisions import migrate

    with _service_engine() as engine:
        migrate.prepare(engine)
        with Session(engine) as session:
            yield session


watchlist_app = typer.Typer(help="Admin-managed lists of parties that policy rules refer to.", no_args_is_help=True)
app.add_typer(watchlist_app, name="watchlist")
Lists = Literal["importers", "manufacturers", "shippers", "sellers"]


@watchlist_app.command("add")
def watchlist_add(
    list_name: Annotated[Lists, typer.Argument(help="importers, manufacturers, shippers or sellers.")],
    value: Annotated[str, typer.Argument(help="The party's id (importer number, MID, ...).")],
    reason: Annotated[str, typer.Option(help="Why it is listed.")],
) -> None:
    """Put a party on a watchlist (in the service database)."""
    import getpass

    from decisions import store

    with service_session() as session:
        store.set_watchlisted(session, list_name, value, reason, getpass.getuser())
        session.commit()
    typer.echo(f"{value} is on the {list_name} watchlist")


@watchlist_app.command("remove")
def watchlist_remove(
    list_name: Annotated[Lists, typer.Argument(help="importers, manufacturers, shippers or sellers.")],
    value: Annotated[str, typer.Argument(help="The party's id.")],
) -> None:
    """Take a party off a watchlist."""
    from decisions import store

    with service_session() as session:
        removed = store.remove_watchlisted(session, list_name, value)
        session.commit()
    if not removed:
        fail(f"{value} is not on the {list_name} watchlist")
    typer.echo(f"{value} is off the {list_name} watchlist")


bond_app = typer.Typer(
    help="Importers' bonds, against which their accounts show expected exposure.", no_args_is_help=True
)
app.add_typer(bond_app, name="bond")


@bond_app.command("set")
def bond_set(
    importer: Annotated[str, typer.Argument(help="The importer of record number.")],
    amount_usd: Annotated[float, typer.Argument(min=0.01, help="The bond's amount in USD.")],
) -> None:
    """Record the bond an importer has posted (replacing any before)."""
    import getpass

    from decisions import store

    with service_session() as session:
        store.accounts.set_bond(session, importer, amount_usd, getpass.getuser())
        session.commit()
    typer.echo(f"importer {importer} has a bond of ${amount_usd:,.2f}")


@bond_app.command("remove")
def bond_remove(importer: Annotated[str, typer.Argument(help="The importer of record number.")]) -> None:
    """Forget an importer's bond."""
    from decisions import store

    with service_session() as session:
        removed = store.accounts.remove_bond(session, importer)
        session.commit()
    if not removed:
        fail(f"importer {importer} has no bond")
    typer.echo(f"importer {importer}'s bond is removed")


db_app = typer.Typer(help="The service database's schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="Target revision.")] = "head") -> None:
    """Migrate the service database (DATABASE_URL) to the code's schema; a database from before
    migrations is adopted as the baseline first."""
    from decisions import migrate

    with _service_engine() as engine:
        before, after = migrate.upgrade(engine, revision)
    where = engine.url.render_as_string(hide_password=True)
    typer.echo(f"{where}: schema {before or 'none'} -> {after}" if before != after else f"{where}: schema at {after}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the one this code needs."""
    from decisions import migrate

    with _service_engine() as engine:
        now = migrate.current(engine)
    typer.echo(f"database at {now or 'none'}; code needs {migrate.head()}")


keys_app = typer.Typer(help="API keys and their roles (scorer, reviewer, admin).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="Who or what uses the key, e.g. port-2704-desk.")],
    role: Annotated[str, typer.Option(help="scorer, reviewer or admin.")],
) -> None:
    """Create a key and print it: it is shown this once and kept only as a hash."""
    import getpass

    from decisions import keys

    try:
        chosen = keys.Role(role)
    except ValueError:
        fail(f"unknown role {role!r}: use scorer, reviewer or admin")
    with service_session() as session:
        try:
            key = keys.create(session, name, chosen, getpass.getuser())
        except keys.KeyRefused as exc:
            fail(str(exc))
        session.commit()
    typer.echo(f"created {role} key {name!r}; it is shown only now:\n{key}")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: refused from then on (the service trusts a lookup for TARGETING_KEY_CACHE_SECONDS); its desk
    sessions end at once. The last admin key cannot be revoked: create another first."""
    import getpass

    from decisions import keys

    with service_session() as session:
        try:
            keys.revoke(session, name, getpass.getuser())
        except (keys.NoSuchKey, keys.KeyRefused) as exc:
            fail(str(exc))
        session.commit()
    typer.echo(f"revoked key {name!r}")


@keys_app.command("list")
def keys_list() -> None:
    """Every key's name, role, first characters, creation and revocation."""
    from decisions import store

    with service_session() as session:
        for k in store.api_keys(session):
            state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
            if k.revoked_at:
                state += f" by {k.revoked_by or 'unknown'}"
            typer.echo(
                f"{k.name:32} {k.role:9} {k.prefix}...  created {k.created_at:%Y-%m-%d %H:%M} by "
                f"{k.created_by}  {state}"
            )


@keys_app.command("local")
def keys_local(
    file: Annotated[Path, typer.Option(help="Where the local admin key is kept (mode 600).")] = Path("data/admin.key"),
) -> None:
    """Print the local admin key for this machine, creating it (and its file) if needed."""
    from decisions import keys

    with service_session() as session:
        key, new = keys.local_admin(session, file)
        session.commit()
    typer.echo(f"{'created the' if new else 'the'} local admin key, kept in {file}: {key}")
