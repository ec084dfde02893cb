"""`targeting compare`, `promote`, `champion` and `simulate`: registered versions side by side, the champion
alias, and policies replayed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import ModelName, app, fail
from model.names import MODEL_NAME
from training.data import DataError


@app.command()
def compare(
    a: Annotated[int, typer.Argument(help="First model version.")],
    b: Annotated[int, typer.Argument(help="Second model version.")],
    data: Annotated[Path, typer.Option(help="Data whose test window both are scored on.")] = Path(
        "data/entries.parquet"
    ),
    model_name: ModelName = MODEL_NAME,
    full: Annotated[bool, typer.Option("--full", help="Every metric, the equal ones and the oracle's too.")] = False,
) -> None:
    """Two registered versions side by side, scored on the same test window: the targeting metrics that differ."""
    from training.comparison import compare_report
    from training.registry import tracking_uri

    try:
        typer.echo(compare_report(tracking_uri(), model_name, a, b, data, full))
    except DataError as exc:
        fail(str(exc))


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
    model_name: ModelName = MODEL_NAME,
) -> None:
    """Move the champion alias through the promotion gate; every move is recorded in the database."""
    import getpass

    from service.settings import Settings
    from training.promotion import PromotionRefused, promote_report
    from training.registry import tracking_uri

    try:
        typer.echo(
            promote_report(
                tracking_uri(),
                model_name,
                version,
                data,
                reason,
                getpass.getuser(),
                Settings().database_url,
                gate,
                force,
            )
        )
    except (DataError, PromotionRefused) as exc:
        fail(str(exc))


@app.command()
def champion(
    model_name: ModelName = MODEL_NAME,
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


@app.command()
def simulate(
    policy: Annotated[list[Path], typer.Option(help="Policy YAML; give it several times to compare.")],
    data: Annotated[Path, typer.Option(help="Labelled history to replay.")] = Path("data/entries.parquet"),
    model_name: Annotated[str, typer.Option(help="Registered model name (its champion scores).")] = MODEL_NAME,
) -> None:
    """What-if: replay a labelled history under policies, side by side, per lane and in total."""

    from decisions.policy import Policy
    from training.data import load_yaml
    from training.registry import champion_version, load_model, tracking_uri, use
    from training.simulate import replay, simulation_table

    uri = tracking_uri()
    client = use(uri)
    try:
        policies = {p.stem: load_yaml(p, Policy, "policy file", "a policy mapping") for p in policy}
        if champion_version(client, model_name) is None:
            raise DataError(f"no {model_name}@champion in {uri}: train one first")
        table = replay(load_model(f"models:/{model_name}@champion"), data, policies)
    except DataError as exc:
        fail(str(exc))
    typer.echo(simulation_table(table))
