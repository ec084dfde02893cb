"""The `targeting` console script."""

from __future__ import annotations

import logging
import os
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from training.data import DataError

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
) -> None:
    """Train a LightGBM risk model, track the run in MLflow and register it."""
    from features.spec import BUILTIN_SPEC
    from training.data import load_spec
    from training.train import train as run_training

    try:
        spec = load_spec(dataset_spec) if dataset_spec else BUILTIN_SPEC
        began = time.perf_counter()
        result = run_training(data, spec, model_name=model_name, valid_frac=valid_frac, test_frac=test_frac)
    except DataError as exc:
        _fail(str(exc))
        return
    m, reg = result.metrics, result.registration
    typer.echo(
        f"registered {model_name} version {reg.version} as @{reg.alias} (run {reg.run_id}) "
        f"in {time.perf_counter() - began:.1f}s"
    )
    typer.echo(
        f"test window from {result.split.test_from:%Y-%m-%d}: {int(m['n'])} labelled entries, "
        f"base rate {m['base_rate']:.3f}, ROC-AUC {m.get('roc_auc', float('nan')):.3f}, "
        f"PR-AUC {m.get('pr_auc', float('nan')):.3f}"
    )
    typer.echo("  k      precision  recall  revenue-recall")
    for k in ("1pct", "2pct", "5pct", "10pct"):
        typer.echo(
            f"  {k:<6} {m[f'precision_at_{k}']:9.3f}  {m[f'recall_at_{k}']:6.3f}  "
            f"{m.get(f'revenue_recall_at_{k}', float('nan')):14.3f}"
        )
    if reg.champion_score is not None:
        typer.echo(f"previous champion's precision@5% on this window: {reg.champion_score:.3f}")


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


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # its INFO chatter and pickling notice
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    app()
