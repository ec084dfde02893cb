"""The `targeting` console script."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, cast, get_args

import typer

from training.data import DataError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from training.registry import Registration

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Shipment risk targeting: data and models.",
)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def generate(
    entries: Annotated[int, typer.Option(min=100, help="Number of entries to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same file.")] = 7,
    out: Annotated[Path, typer.Option(help="Parquet file to write.")] = Path("data/entries.parquet"),
    start: Annotated[datetime, typer.Option(formats=["%Y-%m-%d"], help="First filing day.")] = datetime(2023, 1, 1),
    months: Annotated[int, typer.Option(min=1, help="Months of history.")] = 24,
    regime: Annotated[str, typer.Option(help="pre_2025 (Type 86 de minimis) or post_suspension.")] = "pre_2025",
) -> None:
    """Generate a synthetic entry history with planted violations and past inspections."""
    from training.synth import Regime, SynthConfig, write_parquet
    from training.synth import generate as synth

    try:
        cfg = SynthConfig(
            entries=entries,
            seed=seed,
            start=date(start.year, start.month, start.day),
            months=months,
            regime=Regime(regime),
        )
    except ValueError:
        _fail(f"unknown regime {regime!r}: use one of {', '.join(r.value for r in Regime)}")
        return
    began = time.perf_counter()
    frame = synth(cfg)
    write_parquet(frame, out)
    labelled = frame["violation"].notna()
    typer.echo(
        f"wrote {len(frame):,} entries to {out} in {time.perf_counter() - began:.1f}s: "
        f"{labelled.mean():.2%} inspected, {frame.loc[labelled, 'violation'].mean():.2%} of those violating, "
        f"true violation rate {frame['truth_violation'].mean():.2%}"
    )


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="CSV or Parquet of declarations.")] = Path("data/entries.parquet"),
    dataset_spec: Annotated[
        Path | None, typer.Option(help="YAML dataset spec; default: the built-in entry schema.")
    ] = None,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "shipment-risk",
    valid_frac: Annotated[float, typer.Option(help="Share of rows (by time) in the validation window.")] = 0.15,
    test_frac: Annotated[float, typer.Option(help="Share of rows (by time) in the test window.")] = 0.15,
    valid_from: Annotated[datetime | None, typer.Option(help="Explicit split: validation from this date.")] = None,
    test_from: Annotated[datetime | None, typer.Option(help="Explicit split: test window from this date.")] = None,
    weighting: Annotated[
        str, typer.Option(help="ipw: weight inspected rows by 1/selection probability; none; auto: ipw when known.")
    ] = "auto",
    from_db: Annotated[
        str | None,
        typer.Option(help="Train on the service's decisions and outcomes in this DATABASE_URL instead of --data; "
                     "they are exported to a Parquet file first (printed), which the run records."),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(help="Train on a Dask cluster, for data larger than one machine: its scheduler address "
                     "(tcp://host:8786), or none for a local cluster, one worker per core. --data may then be a "
                     "folder of Parquet files, read by the workers.", show_default=False),
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(min=1, help="With --dask: boosting rounds to train (default 500); lightgbm.dask cannot stop "
                     "early, so the validation window picks the best round afterwards."),
    ] = None,
) -> None:
    """Train a LightGBM risk model, track the run in MLflow and register it."""
    from pydantic import ValidationError

    from features.spec import BUILTIN_SPEC, DatasetSpec
    from training.data import load_spec
    from training.train import Weighting
    from training.train import train as run_training

    try:
        if from_db:
            from training.fromdb import history_from_db

            if dataset_spec:
                raise DataError("--from-db reads the service's own entries: leave out --dataset-spec")
            exported = history_from_db(from_db)
            data = Path(f"data/decisions-{datetime.now():%Y%m%dT%H%M%S}.parquet")
            data.parent.mkdir(parents=True, exist_ok=True)
            exported.to_parquet(data, index=False)
            labelled = exported[BUILTIN_SPEC.label].notna()
            typer.echo(f"exported {len(exported):,} decided entries ({int(labelled.sum()):,} with outcomes) to {data}")
        spec = load_spec(dataset_spec) if dataset_spec else BUILTIN_SPEC
        if valid_from or test_from:  # the command line overrides the spec
            spec = DatasetSpec.model_validate({**spec.model_dump(), "valid_from": valid_from, "test_from": test_from})
        began = time.perf_counter()
        if weighting not in get_args(Weighting):
            raise DataError(f"unknown weighting {weighting!r}: use auto, ipw or none")
        if dask:
            import lightgbm

            from training.cluster import LOCAL, connect
            from training.distributed import ROUNDS, train_dask
            from training.fit import FitParams

            def quiet() -> None:
                # LightGBM prints its network set-up, and lightgbm.dask warns that n_jobs is ignored (it always is)
                lightgbm.register_logger(logging.getLogger("lightgbm"))
                logging.getLogger("lightgbm").setLevel(logging.ERROR)

            def quiet_worker() -> None:
                # A local worker shares this terminal: it logs each bad row it meets (the error comes here anyway),
                # and LightGBM prints its network set-up from task threads, out of reach of register_logger.
                logging.getLogger("distributed.worker").setLevel(logging.CRITICAL)
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1)

            quiet()
            with connect(dask) as client:
                # Dask logs every shuffle as a warning; set here, as a local cluster resets the level when it starts
                logging.getLogger("distributed").setLevel(logging.ERROR)
                if dask == LOCAL:
                    client.run(quiet_worker)
                result = train_dask(
                    data, client, spec, model_name=model_name, valid_frac=valid_frac, test_frac=test_frac,
                    params=FitParams(max_rounds=rounds or ROUNDS), weighting=cast(Weighting, weighting),
                )  # fmt: skip
        elif rounds:
            raise DataError("--rounds goes with --dask: the single-process fit stops early by itself")
        else:
            result = run_training(
                data, spec, model_name=model_name, valid_frac=valid_frac, test_frac=test_frac,
                weighting=cast(Weighting, weighting),
            )  # fmt: skip
    except OSError as exc:  # no Dask scheduler at that address
        if not dask:
            raise
        _fail(f"Dask cluster {dask}: {str(exc).splitlines()[0]}")
        return
    except DataError as exc:
        _fail(str(exc))
        return
    except ValidationError as exc:
        _fail(exc.errors()[0]["msg"])
        return
    m, reg = result.metrics, result.registration
    before = "first version" if reg.champion_score is None else f"champion's precision@5% {reg.champion_score:.4f}"
    _record(model_name, reg, m, f"trained: precision@5% {m['precision_at_5pct']:.4f}; {before}")
    typer.echo(
        f"registered {model_name} version {reg.version} as @{reg.alias} (run {reg.run_id}) "
        f"in {time.perf_counter() - began:.1f}s"
    )
    typer.echo(
        f"test window from {result.split.test_from:%Y-%m-%d}: {int(m['n'])} labelled entries, "
        f"base rate {m['base_rate']:.3f}, ROC-AUC {m.get('roc_auc', float('nan')):.3f}, "
        f"PR-AUC {m.get('pr_auc', float('nan')):.3f}"
    )
    _table(m, "", "inspected entries of the test window (biased by the past policy)")
    from training.evaluate import MIN_SAMPLE_VIOLATIONS

    if "random_n" in m:
        sample = f"random compliance sample of the window ({int(m['random_n'])} entries"
        found = int(m.get("random_positives", 0))
        if found < MIN_SAMPLE_VIOLATIONS:  # an interval from one or two violations is a point, not an estimate
            typer.echo(f"{sample}): too few random-sample violations ({found}) to estimate; the sample grows with "
                       "the exploration rate and time")  # fmt: skip
        else:
            _table(m, "random_", f"{sample}, 90% intervals)")
    if "all_n" in m:
        _table(m, "all_", f"every entry of the window against the ground truth ({int(m['all_n'])} entries)")
    if "by_revenue_all_revenue_recall_at_5pct" in m:
        _table(m, "by_revenue_all_", "the same, ranked by expected revenue at stake instead of probability")
    if reg.champion_score is not None:
        typer.echo(f"previous champion's precision@5% on this window: {reg.champion_score:.3f}")


@app.command()
def backtest(
    data: Annotated[Path, typer.Option(help="CSV or Parquet of declarations.")] = Path("data/entries.parquet"),
    dataset_spec: Annotated[Path | None, typer.Option(help="YAML dataset spec; default: built-in.")] = None,
    windows: Annotated[int, typer.Option(min=1, help="Consecutive test windows, ending at the newest entry.")] = 4,
    window_days: Annotated[int, typer.Option(min=1, help="Days per window.")] = 60,
    label_delay_days: Annotated[int, typer.Option(min=0, help="Days before an outcome is known.")] = 30,
    full: Annotated[bool, typer.Option("--full", help="Every metric and every slice.")] = False,
) -> None:
    """Prequential backtest: each window scored by a model trained only on what was known before it."""
    import tempfile

    began = time.time()

    from features.spec import BUILTIN_SPEC
    from training.backtest import backtest as run_backtest
    from training.backtest import report as backtest_report
    from training.data import load_spec
    from training.registry import log_backtest, run_name, tracking_uri

    try:
        spec = load_spec(dataset_spec) if dataset_spec else BUILTIN_SPEC
        result = run_backtest(data, spec, windows=windows, window_days=window_days, label_delay_days=label_delay_days)
    except DataError as exc:
        _fail(str(exc))
        return
    summary = result.summary()
    typer.echo(f"{windows} windows of {window_days} days, outcomes known {label_delay_days} days late "
               "(mean ± sd over the windows):")  # fmt: skip
    typer.echo(backtest_report(result, full))
    with tempfile.TemporaryDirectory() as tmp:
        result.windows.to_csv(Path(tmp) / "windows.csv", index=False)
        result.slices.to_csv(Path(tmp) / "slices.csv", index=False)
        metrics = {f"{stat}_{k}": float(v) for k, row in summary.iterrows() for stat, v in row.items() if v == v}
        params = {"data_path": str(data), "windows": windows, "window_days": window_days,
                  "label_delay_days": label_delay_days}  # fmt: skip
        run_id = log_backtest(tracking_uri(), params, metrics, Path(tmp), run_name(f"backtest {windows}x{window_days}d",
                              data), began)  # fmt: skip
    typer.echo(f"logged as MLflow run {run_id}")


@app.command()
def tune(
    data: Annotated[Path, typer.Option(help="CSV or Parquet of declarations.")] = Path("data/entries.parquet"),
    dataset_spec: Annotated[Path | None, typer.Option(help="YAML dataset spec; default: built-in.")] = None,
    trials: Annotated[int, typer.Option(min=1, help="Optuna trials.")] = 20,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "shipment-risk",
) -> None:
    """Search LightGBM settings (Optuna, each trial a nested MLflow run); register the best as challenger."""
    from features.spec import BUILTIN_SPEC
    from training.data import load_spec
    from training.tune import tune as run_tune

    try:
        spec = load_spec(dataset_spec) if dataset_spec else BUILTIN_SPEC
        result = run_tune(data, spec, trials=trials, model_name=model_name)
    except DataError as exc:
        _fail(str(exc))
        return
    reg = result.registration
    _record(model_name, reg, result.metrics, f"tuned: best of {trials} trials")
    typer.echo(f"best of {trials} trials: validation PR-AUC {result.best_value:.3f} with {result.best}")
    typer.echo(f"registered {model_name} version {reg.version} as @{reg.alias} (run {reg.run_id}); "
               f"test precision@5% {result.metrics['precision_at_5pct']:.3f}")  # fmt: skip


@app.command()
def compare(
    a: Annotated[int, typer.Argument(help="First model version.")],
    b: Annotated[int, typer.Argument(help="Second model version.")],
    data: Annotated[Path, typer.Option(help="Data whose test window both are scored on.")] = Path(
        "data/entries.parquet"
    ),
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "shipment-risk",
    full: Annotated[bool, typer.Option("--full", help="Every metric, the equal ones and the oracle's too.")] = False,
) -> None:
    """Two registered versions side by side, scored on the same test window: the targeting metrics that differ."""
    from training.promotion import compare_report
    from training.registry import tracking_uri

    try:
        typer.echo(compare_report(tracking_uri(), model_name, a, b, data, full))
    except DataError as exc:
        _fail(str(exc))


@app.command()
def promote(
    version: Annotated[int, typer.Argument(help="The version to make champion.")],
    reason: Annotated[str, typer.Option(help="Why: recorded with the move.")],
    data: Annotated[Path, typer.Option(help="Data whose test window the gate compares on.")] = Path(
        "data/entries.parquet"
    ),
    gate: Annotated[Path | None, typer.Option(help="Gate YAML (see training/gate.example.yaml).")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Move the alias even if the gate refuses; recorded as forced.")
    ] = False,
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "shipment-risk",
) -> None:
    """Move the champion alias through the promotion gate; every move is recorded in the database."""
    import getpass

    from service.settings import Settings
    from training.promotion import PromotionRefused, promote_report
    from training.registry import tracking_uri

    try:
        typer.echo(promote_report(tracking_uri(), model_name, version, data, reason, getpass.getuser(),
                                  Settings().database_url, gate, force))  # fmt: skip
    except (DataError, PromotionRefused) as exc:
        _fail(str(exc))


def _record(model_name: str, registration: Registration, metrics: dict[str, float], reason: str) -> None:
    """Record the alias that training gave, in the service's database, like any promotion."""
    import getpass

    from service.settings import Settings
    from training.promotion import record_registration

    record_registration(Settings().database_url, model_name, registration, getpass.getuser(), reason, metrics)


def _table(m: dict[str, float], prefix: str, title: str) -> None:
    typer.echo(f"{title}:")
    typer.echo("  k      precision          recall             revenue-recall")
    for k in ("1pct", "2pct", "5pct", "10pct"):
        cells = []
        for name in ("precision", "recall", "revenue_recall"):
            key = f"{prefix}{name}_at_{k}"
            cell = f"{m.get(key, float('nan')):.3f}"
            if f"{key}_ci_low" in m:
                cell += f" [{m[f'{key}_ci_low']:.2f}-{m[f'{key}_ci_high']:.2f}]"
            elif prefix.endswith("all_") and f"oracle_{name}_at_{k}" in m:
                cell += f" (oracle {m[f'oracle_{name}_at_{k}']:.3f})"
            cells.append(f"{cell:<18}")
        typer.echo(f"  {k:<6} {' '.join(cells)}")


@app.command()
def champion(
    model_name: Annotated[str, typer.Option(help="Registered model name.")] = "shipment-risk",
) -> None:
    """Show the champion model version and its test metrics; exit 1 if there is none."""
    from mlflow import MlflowClient

    from training.registry import champion_version, tracking_uri

    uri = tracking_uri()
    version = champion_version(MlflowClient(uri, uri), model_name)
    if version is None:
        typer.echo(f"no {model_name}@champion in {uri}", err=True)
        raise typer.Exit(1)
    metrics = MlflowClient(uri, uri).get_run(version.run_id).data.metrics
    typer.echo(
        f"{model_name} version {version.version} is @champion (run {version.run_id}): "
        f"precision@5% {metrics.get('precision_at_5pct', float('nan')):.3f}, "
        f"base rate {metrics.get('base_rate', float('nan')):.3f}, ROC-AUC {metrics.get('roc_auc', float('nan')):.3f}"
    )


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

    from features.history import HistoryProfiles
    from features.pipeline import prepare
    from features.spec import BUILTIN_SPEC
    from service import store
    from training.data import load_spec, read_table, validate

    with _service_session() as session:
        where = repr(session.get_bind().engine.url)
        loaded = store.profile_total(session)
        if loaded and not replace:
            typer.echo(f"{loaded:,} profiles already loaded in {where}; --replace to rebuild them")
            return
        try:
            spec = load_spec(dataset_spec) if dataset_spec else BUILTIN_SPEC
            rows = prepare(validate(read_table(data), spec), spec)
        except DataError as exc:
            _fail(str(exc))
            return
        profiles = HistoryProfiles.from_frame(rows, spec, as_of=pd.Timestamp.now(tz="UTC"))
        written = store.replace_profiles(session, profiles.counts)
        session.commit()
    typer.echo(f"loaded {written:,} profiles from {len(rows):,} entries into {where}")


policy_app = typer.Typer(help="The targeting policy in force (versioned in the service database).",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(policy_app, name="policy")


@contextmanager
def _service_engine() -> Iterator[Engine]:
    """An engine on the service's database (DATABASE_URL), disposed afterwards."""
    from service import store
    from service.settings import Settings

    settings = Settings()
    engine = store.make_engine(settings.database_url, settings.sqlite_synchronous)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _service_session() -> Iterator[Session]:
    """A session on the service's database, its schema created if the database is empty."""
    from sqlalchemy.orm import Session

    from service import migrate

    with _service_engine() as engine:
        migrate.prepare(engine)
        with Session(engine) as session:
            yield session


@policy_app.command("apply")
def policy_apply(
    file: Annotated[Path, typer.Argument(help="Policy YAML (see service/policy.example.yaml).")],
    note: Annotated[str, typer.Option(help="Why this version.")] = "",
) -> None:
    """Validate a policy and make it the version in force (the service picks it up on the next request)."""
    import getpass

    from service import store
    from service.policy import Policy
    from training.data import load_yaml

    try:
        policy = load_yaml(file, Policy, "policy file", "a mapping with objective, thresholds and exploration")
    except DataError as exc:
        _fail(str(exc))
        return
    with _service_session() as session:
        row = store.add_policy(session, policy.model_dump(mode="json"), getpass.getuser(), note)
        session.commit()
        typer.echo(f"policy version {row.version} is in force (from {file})")


@policy_app.command("show")
def policy_show() -> None:
    """Print the policy version in force."""
    import yaml

    from service import store

    with _service_session() as session:
        row = store.active_policy(session)
        if row is None:
            typer.echo("no policy yet: the service uses its settings' policy as version 1 when it starts", err=True)
            raise typer.Exit(1)
        key = f" with key {row.created_by_key}" if row.created_by_key else ""
        typer.echo(f"# version {row.version}, by {row.created_by}{key} at {row.created_at:%Y-%m-%d %H:%M} UTC "
                   f"{row.note}")  # fmt: skip
        typer.echo(yaml.safe_dump(row.document, sort_keys=False))


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

    from service import store

    with _service_session() as session:
        store.set_watchlisted(session, list_name, value, reason, getpass.getuser())
        session.commit()
    typer.echo(f"{value} is on the {list_name} watchlist")


@watchlist_app.command("remove")
def watchlist_remove(
    list_name: Annotated[Lists, typer.Argument(help="importers, manufacturers, shippers or sellers.")],
    value: Annotated[str, typer.Argument(help="The party's id.")],
) -> None:
    """Take a party off a watchlist."""
    from service import store

    with _service_session() as session:
        removed = store.remove_watchlisted(session, list_name, value)
        session.commit()
    if not removed:
        _fail(f"{value} is not on the {list_name} watchlist")
    typer.echo(f"{value} is off the {list_name} watchlist")


@app.command()
def simulate(
    policy: Annotated[list[Path], typer.Option(help="Policy YAML; give it several times to compare.")],
    data: Annotated[Path, typer.Option(help="Labelled history to replay.")] = Path("data/entries.parquet"),
    model_name: Annotated[str, typer.Option(help="Registered model name (its champion scores).")] = "shipment-risk",
) -> None:
    """What-if: replay a labelled history under policies, side by side, per lane and in total."""
    import mlflow

    from service.policy import Policy
    from training.data import load_yaml
    from training.registry import champion_version, load_model, tracking_uri
    from training.simulate import replay, simulation_table

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        policies = {p.stem: load_yaml(p, Policy, "policy file", "a policy mapping") for p in policy}
        if champion_version(mlflow.MlflowClient(uri, uri), model_name) is None:
            raise DataError(f"no {model_name}@champion in {uri}: train one first")
        table = replay(load_model(f"models:/{model_name}@champion"), data, policies)
    except DataError as exc:
        _fail(str(exc))
        return
    typer.echo(simulation_table(table))


db_app = typer.Typer(help="The service database's schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Option(help="Target revision.")] = "head") -> None:
    """Migrate the service database (DATABASE_URL) to the code's schema; a database from before
    migrations is adopted as the baseline first."""
    from service import migrate

    with _service_engine() as engine:
        before, after = migrate.upgrade(engine, revision)
    where = engine.url.render_as_string(hide_password=True)
    typer.echo(f"{where}: schema {before or 'none'} -> {after}" if before != after else f"{where}: schema at {after}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's schema revision and the one this code needs."""
    from service import migrate

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

    from service import keys

    try:
        chosen = keys.Role(role)
    except ValueError:
        _fail(f"unknown role {role!r}: use scorer, reviewer or admin")
        return
    with _service_session() as session:
        try:
            key = keys.create(session, name, chosen, getpass.getuser())
        except keys.KeyRefused as exc:
            _fail(str(exc))
            return
        session.commit()
    typer.echo(f"created {role} key {name!r}; it is shown only now:\n{key}")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: refused from then on (the service trusts a lookup for TARGETING_KEY_CACHE_SECONDS); its desk
    sessions end at once. The last admin key cannot be revoked: create another first."""
    import getpass

    from service import keys

    with _service_session() as session:
        try:
            keys.revoke(session, name, getpass.getuser())
        except (keys.NoSuchKey, keys.KeyRefused) as exc:
            _fail(str(exc))
            return
        session.commit()
    typer.echo(f"revoked key {name!r}")


@keys_app.command("list")
def keys_list() -> None:
    """Every key's name, role, first characters, creation and revocation."""
    from service import store

    with _service_session() as session:
        for k in store.api_keys(session):
            state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "active"
            if k.revoked_at:
                state += f" by {k.revoked_by or 'unknown'}"
            typer.echo(f"{k.name:32} {k.role:9} {k.prefix}...  created {k.created_at:%Y-%m-%d %H:%M} by "
                       f"{k.created_by}  {state}")  # fmt: skip


@keys_app.command("local")
def keys_local(
    file: Annotated[Path, typer.Option(help="Where the local admin key is kept (mode 600).")] = Path(
        "data/admin.key"
    ),
) -> None:
    """Print the local admin key for this machine, creating it (and its file) if needed."""
    from service import keys

    with _service_session() as session:
        key, new = keys.local_admin(session, file)
        session.commit()
    typer.echo(f"{'created the' if new else 'the'} local admin key, kept in {file}: {key}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the scoring API (settings from the environment: DATABASE_URL, MLFLOW_TRACKING_URI, TARGETING_*)."""
    import uvicorn

    uvicorn.run("service.app:app_from_env", factory=True, host=host, port=port, workers=workers, access_log=False,
                log_config=None)  # fmt: skip


@app.command()
def score(
    source: Annotated[Path, typer.Argument(help="Entries to score: Parquet or CSV with the entry schema's columns.")],
    target: Annotated[Path, typer.Argument(help="Where to write the decisions: .parquet or .csv.")],
    chunk: Annotated[int, typer.Option(min=1, max=1000, help="Entries per chunk; each is decided as one API "
                                       "request of that many entries.")] = 1000,  # fmt: skip
    contributions: Annotated[
        bool, typer.Option("--contributions", help="Also write every feature's SHAP contribution.")
    ] = False,
    record: Annotated[bool, typer.Option("--record", help="Record the decisions in the decisions store "
                                         "(DATABASE_URL), as the API does; otherwise a dry run that writes nothing "
                                         "there.")] = False,  # fmt: skip
    dask: Annotated[str | None, typer.Option(help="Spread the chunks over a Dask cluster: its scheduler address "
                                             "(tcp://host:8786), or none for a local cluster, one worker per "
                                             "core.", show_default=False)] = None,
) -> None:
    """Score a file of entries with the served model (settings from the environment, as `serve`), streamed in
    chunks, with the same decisions as the API."""
    from features.tables import count_rows
    from service import batch
    from service.scoring import ModelUnavailable, resolve
    from service.settings import Settings
    from training.registry import tracking_uri

    settings = Settings()
    uri = settings.mlflow_tracking_uri or tracking_uri()
    try:  # the files first: a bad file is named as such, before the model is looked for
        total = count_rows(source)
        batch.output_format(target)
    except DataError as exc:
        _fail(str(exc))
        return
    try:
        version = resolve(uri, settings.model_name, settings.model_alias)
        job = batch.Job(uri, settings.model_name, settings.model_alias, version, settings.model_cache,
                        settings.database_url, settings.sample_secret.encode(), settings.top_reasons,
                        contributions, record)  # fmt: skip
        batch.context(job, settings.policy)  # load here, so that a bad model or store fails before any work
    except (batch.BatchError, ModelUnavailable) as exc:
        _fail(str(exc))
        return
    except Exception as exc:  # MLflow's own errors for a missing model or an unreachable registry
        _fail(f"cannot resolve {settings.model_name}@{settings.model_alias} in {uri}: {type(exc).__name__}: {exc}")
        return
    from tqdm import tqdm

    with tqdm(total=total, unit=" entries", unit_scale=True, smoothing=0.1, disable=None) as bar:
        try:
            if dask is None:
                done = batch.score_file(source, target, job, chunk, progress=bar.update)
            else:
                from service.distributed import over_dask
                from training.cluster import connect

                with connect(dask) as client:
                    done = batch.score_file(source, target, job, chunk, mapper=over_dask(client), progress=bar.update)
        except DataError as exc:
            bar.close()
            _fail(str(exc))
            return
    typer.echo(f"scored {done:,} entries with {settings.model_name} v{version} into {target}"
               + (f", recorded in {settings.database_url}" if record else ""))  # fmt: skip


def _dask_address(argv: list[str]) -> list[str]:
    """`--dask` may stand alone (a local cluster) or take a scheduler address, which click cannot express."""
    if "--dask" not in argv:
        return argv
    from training.cluster import LOCAL

    out = []
    for i, arg in enumerate(argv):
        out.append(arg)
        following = argv[i + 1] if i + 1 < len(argv) else ""
        given = "://" in following or following == LOCAL or re.fullmatch(r"[\w.-]+:\d+", following)
        if arg == "--dask" and not given:
            out.append(LOCAL)
    return out


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # its INFO chatter and pickling notice
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from service.migrate import SchemaOutdated

    try:
        app(args=_dask_address(sys.argv[1:]))
    except SchemaOutdated as exc:  # any command that writes to the service database
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
