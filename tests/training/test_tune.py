"""Hyperparameter search: nested MLflow runs, and the best model waiting as challenger."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from training.train import train
from training.tune import tune

pytestmark = pytest.mark.slow


def test_tuning_logs_each_trial_and_registers_the_best_as_challenger(history_file: Path, mlflow_uri: str) -> None:
    train(history_file, uri=mlflow_uri, shape="fixed")
    result = tune(history_file, trials=3, uri=mlflow_uri)
    client = MlflowClient(mlflow_uri, mlflow_uri)
    assert (result.registration.version, result.registration.alias) == (2, "challenger")
    assert client.get_model_version_by_alias("shipment-risk", "champion").version == 1  # only the gate promotes
    experiment = client.get_experiment_by_name("shipment-targeting").experiment_id
    runs = client.search_runs([experiment])
    parent = next(r for r in runs if r.info.run_name == "tune-shipment-risk")
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    trials = [r for r in children if r.info.run_name.startswith("trial-")]
    assert len(trials) == 3 and all("valid_pr_auc" in r.data.metrics for r in trials)
    assert max(r.data.metrics["valid_pr_auc"] for r in trials) == pytest.approx(result.best_value)
    final = next(r for r in children if r.info.run_id == result.registration.run_id)
    assert float(final.data.params["lgb_num_leaves"]) == result.best.num_leaves
    assert 0 <= result.metrics["precision_at_5pct"] <= 1
