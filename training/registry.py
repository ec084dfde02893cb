"""MLflow: where runs go, how a trained model is registered (logged by `logged_model.py`) and given its alias."""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
from mlflow import MlflowClient
from mlflow.data.dataset import Dataset
from mlflow.exceptions import MlflowException
from mlflow.models.model import ModelInfo
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from model.artifact import ModelParts, ShipmentRiskModel
from model.cache import file_digests
from model.registry import (  # noqa: F401  (the read side, re-exported for training's callers)
    ARTIFACT_DIGESTS,
    CHALLENGER,
    CHAMPION,
    MODEL_NAME,
    PROMOTION_METRIC,
    load_model,
    tracking_uri,
    use,
)
from training.logged_model import log_model

log = logging.getLogger(__name__)

EXPERIMENT = "shipment-targeting"


def _experiment_id(client: MlflowClient, uri: str, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    location = None
    if uri.startswith("sqlite:///"):  # artifacts beside the database, not in the working directory
        location = (Path(uri.removeprefix("sqlite:///")).parent / "artifacts").resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def run_name(kind: str, data: Path, rows: int | None = None) -> str:
    """A run's name that says what it did: `train 200k entries 2026-12-05 14:07` (kind, rows, data, when)."""
    size = (
        ""
        if rows is None
        else (f"{rows / 1e6:.3g}M " if rows >= 1_000_000 else f"{rows / 1e3:.3g}k " if rows >= 1000 else f"{rows} ")
    )
    return f"{kind} {size}{data.stem} {datetime.now(UTC):%Y-%m-%d %H:%M}"


def log_backtest(
    uri: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    artifact_dir: Path,
    name: str | None = None,
    began: float | None = None,
) -> str:
    """One run in the `shipment-targeting-backtest` experiment, named `name` and started at `began` (epoch
    seconds); returns its id."""
    client = use(uri)
    experiment_id = _experiment_id(client, uri, f"{EXPERIMENT}-backtest")
    opened = client.create_run(experiment_id, start_time=int((began or time.time()) * 1000), run_name=name)
    with mlflow.start_run(run_id=opened.info.run_id) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(artifact_dir))
        return str(run.info.run_id)


def log_operation(
    uri: str,
    name: str,
    began: float,
    params: dict[str, Any],
    metrics: dict[str, float],
    steps: list[dict[str, float]],
    artifact_dir: Path,
) -> tuple[str, str]:
    """One closed-loop run in the `shipment-targeting-operate` experiment: its totals, one step of metrics per
    week (the step is the week's number) and its files; returns the experiment and run ids."""
    client = use(uri)
    experiment_id = _experiment_id(client, uri, f"{EXPERIMENT}-operate")
    opened = client.create_run(experiment_id, start_time=int(began * 1000), run_name=name)
    with mlflow.start_run(run_id=opened.info.run_id) as run:
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        for step in steps:
            week = int(step["week"])
            mlflow.log_metrics({k: float(v) for k, v in step.items() if k != "week"}, step=week)
        mlflow.log_artifacts(str(artifact_dir))
        return experiment_id, str(run.info.run_id)


@contextmanager
def tuning_run(uri: str, name: str, params: dict[str, Any]) -> Iterator[str]:
    """A parent run for a hyperparameter search; trials and the final model nest under it."""
    client = use(uri)
    with mlflow.start_run(experiment_id=_experiment_id(client, uri, EXPERIMENT), run_name=name) as run:
        mlflow.log_params(params)
        yield str(run.info.run_id)


def log_trial(number: int, params: dict[str, Any], metrics: dict[str, float]) -> None:
    """One trial of the search, as a run nested in the active tuning run."""
    parent = mlflow.active_run()
    experiment = parent.info.experiment_id if parent else None
    with mlflow.start_run(experiment_id=experiment, run_name=f"trial-{number}", nested=True):
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)


def champion_version(client: MlflowClient, model_name: str) -> Any | None:
    """The ModelVersion carrying the champion alias, or None."""
    try:
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException:
        return None


@dataclass(frozen=True)
class Registration:
    run_id: str
    version: int
    alias: str
    champion_score: float | None  # the previous champion's promotion metric on this test window
    previous_version: int | None = None  # the version that held the alias before


def _stored_digests(client: MlflowClient, model_name: str, version: str) -> dict[str, str]:
    """The SHA-256 of every file of a model version as a server downloads it: recorded with the version, so
    that a server refuses a damaged copy before anything in it is read."""
    source = client.get_model_version_download_uri(model_name, version)
    with tempfile.TemporaryDirectory(prefix="stored-") as tmp:
        return file_digests(Path(mlflow.artifacts.download_artifacts(source, dst_path=tmp)))


def _register(
    client: MlflowClient,
    model_name: str,
    model: ModelInfo,
    run_id: str,
    alias: str,
    score: float,
) -> tuple[int, int | None]:
    """Register the logged model as a new version holding `alias`: the version, and the one that held the alias
    before. A failure once the version exists removes it again, so the registry never holds a half-made model."""
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description="Probability that an import entry violates trade law.")
    # a tracking server refuses a `models:/m-...` source unless the request names the logged model it is
    version = client.create_model_version(model_name, model.model_uri, run_id=run_id, model_id=model.model_id)
    try:
        digests = _stored_digests(client, model_name, version.version)
        client.set_model_version_tag(model_name, version.version, ARTIFACT_DIGESTS, json.dumps(digests))
        before = client.get_registered_model(model_name).aliases.get(alias)
        client.set_registered_model_alias(model_name, alias, version.version)
        client.set_model_version_tag(model_name, version.version, PROMOTION_METRIC, str(score))
        mlflow.set_tags({"registered_version": str(version.version), "alias": alias})
    except BaseException:
        client.delete_model_version(model_name, version.version)
        raise
    return int(version.version), None if before is None else int(before)


def log_and_register(
    *,
    uri: str,
    model_name: str,
    params: dict[str, Any],
    metrics: dict[str, float],
    tags: dict[str, str],
    artifact_dir: Path,
    parts: ModelParts,
    score_champion: Callable[[ShipmentRiskModel], float],
    dataset: Dataset | None = None,
    alias: str | None = None,
    nested: bool = False,
    run_name: str | None = None,
    began: float | None = None,
) -> Registration:
    """Log one training run, register its model, and give it the champion or challenger alias.

    The run is named `run_name` and, given `began` (epoch seconds, when training began), starts then, so that
    its recorded duration is the training's, not the logging's.

    The new version becomes champion when there is none, or when it beats the champion's
    precision@5 % on this run's test window (scored by `score_champion`); a given `alias` is
    used instead whenever there is a champion. A failure after
    registration removes the version again, so the registry never holds a half-made model.
    """
    client = use(uri)
    experiment_id = _experiment_id(client, uri, EXPERIMENT)
    current = champion_version(client, model_name)
    champion_score = None
    if current is not None:  # scored before the run starts: a champion that cannot score leaves no trace
        champion_score = score_champion(load_model(f"models:/{model_name}@{CHAMPION}"))
    if alias is None or current is None:  # the first version of a model always serves
        promote = champion_score is None or metrics[PROMOTION_METRIC] > champion_score
        alias = CHAMPION if promote else CHALLENGER
    # the model's files live apart from the run's artifacts, so nothing is logged twice
    parent = mlflow.active_run() if nested else None
    opened = client.create_run(
        experiment_id,
        start_time=int((began or time.time()) * 1000),
        run_name=run_name,
        tags={MLFLOW_PARENT_RUN_ID: parent.info.run_id} if parent is not None else None,
    )
    with (
        tempfile.TemporaryDirectory(prefix="model-") as model_dir,
        mlflow.start_run(run_id=opened.info.run_id, nested=nested) as run,
    ):
        mlflow.set_tags(tags)
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(artifact_dir))
        if dataset is not None:
            mlflow.log_input(dataset, context="training")
        info = log_model(parts, Path(model_dir))
        if current is not None and champion_score is not None:
            mlflow.log_metric(f"champion_{PROMOTION_METRIC}", champion_score)
            mlflow.set_tag("champion_version", str(current.version))
        version, before = _register(client, model_name, info, run.info.run_id, alias, metrics[PROMOTION_METRIC])
        log.info("registered %s version %s as %s", model_name, version, alias)
        return Registration(run.info.run_id, version, alias, champion_score, before)
