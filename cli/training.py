"""`targeting train`, `backtest` and `tune`: fit, judge and search models on a history."""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli import train_report
from cli.app import ModelName, app, fail
from model.names import MODEL_NAME
from training.choices import Shape, Weighting
from training.data import DataError

if TYPE_CHECKING:
    from features.spec import DatasetSpec
    from training.train import TrainResult


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="CSV or Parquet of declarations.")] = Path("data/entries.parquet"),
    dataset_spec: Annotated[
        Path | None, typer.Option(help="YAML dataset spec; default: the built-in entry schema.")
    ] = None,
    model_name: ModelName = MODEL_NAME,
    valid_frac: Annotated[float, typer.Option(help="Share of rows (by time) in the validation window.")] = 0.15,
    test_frac: Annotated[float, typer.Option(help="Share of rows (by time) in the test window.")] = 0.15,
    valid_from: Annotated[datetime | None, typer.Option(help="Explicit split: validation from this date.")] = None,
    test_from: Annotated[datetime | None, typer.Option(help="Explicit split: test window from this date.")] = None,
    weighting: Annotated[
        Weighting, typer.Option(help="ipw: weight inspected rows by 1/selection probability; auto: ipw if known; none.")
    ] = "none",
    shape: Annotated[
        Shape, typer.Option(help="search: choose the model's shape on this data (training/shape.py); fixed: 15 leaves.")
    ] = "search",
    from_db: Annotated[
        str | None,
        typer.Option(
            help="Train on the service's decisions and outcomes in this DATABASE_URL instead of --data; "
            "they are exported to a Parquet file first (printed), which the run records."
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            help="Train on a Dask cluster, for data larger than one machine: its scheduler address "
            "(tcp://host:8786), or none for a local cluster, one worker per core. --data may then be a "
            "folder of Parquet files, read by the workers.",
            show_default=False,
        ),
    ] = None,
    rounds: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With --dask: boosting rounds to train (default 500); lightgbm.dask cannot stop "
            "early, so the validation window picks the best round afterwards.",
        ),
    ] = None,
) -> None:
    """Train a LightGBM risk model, track the run in MLflow and register it."""
    from pydantic import ValidationError

    from features.spec import BUILTIN_SPEC, DatasetSpec
    from training.data import load_spec
    from training.train import train as run_training

    try:
        if from_db:
            if dataset_spec:
                raise DataError("--from-db reads the service's own entries: leave out --dataset-spec")
            data = _export_decisions(from_db)
        spec = load_spec(dataset_spec) if dataset_spec else BUILTIN_SPEC
        if valid_from or test_from:  # the command line overrides the spec
            spec = DatasetSpec.model_validate({**spec.model_dump(), "valid_from": valid_from, "test_from": test_from})
        began = time.perf_counter()
        if dask:
            result = _train_on_dask(data, dask, spec, model_name, valid_frac, test_frac, rounds, weighting)
        elif rounds:
            raise DataError("--rounds goes with --dask: the single-process fit stops early by itself")
        else:
            result = run_training(
                data,
                spec,
                model_name=model_name,
                valid_frac=valid_frac,
                test_frac=test_frac,
                weighting=weighting,
                shape=shape,
            )
    except OSError as exc:  # no Dask scheduler at that address
        if not dask:
            raise
        fail(f"Dask cluster {dask}: {str(exc).splitlines()[0]}")
    except DataError as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail(exc.errors()[0]["msg"])
    train_report.summary(model_name, result, began)


def _export_decisions(database_url: str) -> Path:
    """The service's decided entries with their outcomes, as a Parquet file the run records."""
    from features.spec import BUILTIN_SPEC
    from training.fromdb import history_from_db

    exported = history_from_db(database_url)
    data = Path(f"data/decisions-{datetime.now():%Y%m%dT%H%M%S}.parquet")
    data.parent.mkdir(parents=True, exist_ok=True)
    exported.to_parquet(data, index=False)
    labelled = exported[BUILTIN_SPEC.label].notna()
    typer.echo(f"exported {len(exported):,} decided entries ({int(labelled.sum()):,} with outcomes) to {data}")
    return data


def _train_on_dask(
    data: Path,
    dask: str,
    spec: DatasetSpec,
    model_name: str,
    valid_frac: float,
    test_frac: float,
    rounds: int | None,
    weighting: Weighting,
) -> TrainResult:
    """`train --dask`: the same training on a cluster, its chatter kept off the terminal."""
    import lightgbm

    from training.cluster import LOCAL, connect
    from training.distributed_run import ROUNDS, train_dask
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
        return train_dask(
            data,
            client,
            spec,
            model_name=model_name,
            valid_frac=valid_frac,
            test_frac=test_frac,
            params=FitParams(max_rounds=rounds or ROUNDS),
            weighting=weighting,
        )


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
        fail(str(exc))
    summary = result.summary()
    typer.echo(
        f"{windows} windows of {window_days} days, outcomes known {label_delay_days} days late "
        "(mean ± sd over the windows):"
    )
    typer.echo(backtest_report(result, full))
    with tempfile.TemporaryDirectory() as tmp:
        result.windows.to_csv(Path(tmp) / "windows.csv", index=False)
        result.slices.to_csv(Path(tmp) / "slices.csv", index=False)
        metrics = {f"{stat}_{k}": float(v) for k, row in summary.iterrows() for stat, v in row.items() if v == v}
        metrics |= {k: v for k, v in result.pooled.items() if v == v}
        params = {
            "data_path": str(data),
            "windows": windows,
            "window_days": window_days,
            "label_delay_days": label_delay_days,
        }
        name = run_name(f"backtest {windows}x{window_days}d", data)
        run_id = log_backtest(tracking_uri(), params, metrics, Path(tmp), name, began)
    typer.echo(f"logged as MLflow run {run_id}")


@app.command()
def tune(
    data: Annotated[Path, typer.Option(help="CSV or Parquet of declarations.")] = Path("data/entries.parquet"),
    dataset_spec: Annotated[Path | None, typer.Option(help="YAML dataset spec; default: built-in.")] = None,
    trials: Annotated[int, typer.Option(min=1, help="Optuna trials.")] = 20,
    model_name: ModelName = MODEL_NAME,
) -> None:
    """Search LightGBM settings (Optuna, each trial a nested MLflow run); register the best as challenger."""
    from features.spec import BUILTIN_SPEC
    from training.data import load_spec
    from training.tune import tune as run_tune

    try:
        spec = load_spec(dataset_spec) if dataset_spec else BUILTIN_SPEC
        result = run_tune(data, spec, trials=trials, model_name=model_name)
    except DataError as exc:
        fail(str(exc))
    reg = result.registration
    train_report.record(model_name, reg, result.metrics, f"tuned: best of {trials} trials")
    typer.echo(f"best of {trials} trials: validation PR-AUC {result.best_value:.3f} with {result.best}")
    typer.echo(
        f"registered {model_name} version {reg.version} as @{reg.alias} (run {reg.run_id}); "
        f"test precision@5% {result.metrics['precision_at_5pct']:.3f}"
    )
