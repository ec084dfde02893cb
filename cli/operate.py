"""`targeting operate`: weeks of targeting under the policy's own feedback, strategies compared."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated, Literal

import typer

from cli.app import app, fail
from training.choices import Weighting
from training.data import DataError

STRATEGY_HELP = (
    "exploit (the model's top-ranked only), random-1, random-5, random-10 (that share of inspections drawn at "
    "random), explore-10 (1 % random, 9 % by knowledge gap), tuned (1 % random, the rest of the exploration "
    "share tuned between 1 % and 29 %); give it several times. Default: all six."
)


@app.command()
def operate(
    data: Annotated[Path, typer.Option(help="A generated history (`targeting generate`): it has the truth.")] = Path(
        "data/entries.parquet"
    ),
    strategy: Annotated[list[str] | None, typer.Option(help=STRATEGY_HELP)] = None,
    capacity: Annotated[float, typer.Option(min=0.001, max=1.0, help="Share of entries inspected each week.")] = 0.05,
    warmup_weeks: Annotated[int, typer.Option(min=4, help="Weeks whose past inspections train the first model.")] = 26,
    retrain_weeks: Annotated[int, typer.Option(min=1, help="Weeks between retrainings.")] = 4,
    seed: Annotated[int, typer.Option(help="Label delays and the random and explorative draws.")] = 7,
    objective: Annotated[
        Literal["expected_revenue", "probability"], typer.Option(help="What the model's picks are ranked by.")
    ] = "expected_revenue",
    weighting: Annotated[
        Weighting, typer.Option(help="ipw: retrain with 1 / selection probability weights (the bias correction); none.")
    ] = "ipw",
) -> None:
    """Replay a generated history week by week: only what the policy inspects reveals its truth, the model is
    retrained on it and promoted through the gate. Each strategy is one MLflow run (experiment
    shipment-targeting-operate) with per-week metrics and a chart; the table compares them."""
    from decisions.policy import Objective
    from features.spec import BUILTIN_SPEC
    from training.loop import STRATEGIES, LoopSettings, world
    from training.operate import operate as run
    from training.operate_report import comparison_table, record
    from training.registry import tracking_uri

    names = strategy or list(STRATEGIES)
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        fail(f"unknown strategy {unknown[0]!r}: choose from {', '.join(STRATEGIES)}")
    settings = LoopSettings(
        capacity=capacity,
        warmup_weeks=warmup_weeks,
        retrain_weeks=retrain_weeks,
        seed=seed,
        weighting=weighting,
        objective=Objective(objective),
    )
    ui = os.environ.get("TARGETING_MLFLOW_UI_URL", "http://127.0.0.1:5000").rstrip("/")
    operations = []
    for name in names:
        began = time.time()
        try:
            operation = run(world(data, BUILTIN_SPEC, settings), STRATEGIES[name], settings)
        except DataError as exc:
            fail(str(exc))
        experiment, run_id = record(operation, data, settings, tracking_uri(), began)
        operations.append(operation)
        typer.echo(f"{name}: {time.time() - began:.0f} s, MLflow run {ui}/#/experiments/{experiment}/runs/{run_id}")
    typer.echo(comparison_table(operations))
