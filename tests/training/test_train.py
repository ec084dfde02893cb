"""End to end: generate, train into a temporary MLflow store, register, promote."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from sqlalchemy.orm import Session

from decisions import store
from training.data import DataError, load_spec
from training.registry import load_model
from training.train import train

pytestmark = pytest.mark.slow
TARGETING = str(Path(sys.executable).parent / "targeting")


def test_train_registers_champion_then_challenger(history_file: Path, mlflow_uri: str) -> None:
    first = train(history_file, uri=mlflow_uri)
    client = MlflowClient(mlflow_uri, mlflow_uri)
    assert (first.registration.version, first.registration.alias) == (1, "champion")
    assert first.registration.champion_score is None
    run = client.get_run(first.registration.run_id)
    for k in ("1pct", "2pct", "5pct", "10pct"):
        for metric in ("precision", "recall", "revenue_recall"):
            assert 0 <= run.data.metrics[f"{metric}_at_{k}"] <= 1
    assert run.data.metrics["precision_at_5pct"] == first.metrics["precision_at_5pct"]
    assert {"roc_auc", "pr_auc", "base_rate"} <= set(run.data.metrics)
    base = run.data.metrics["base_rate"]
    # calibrated for every entry (the selection weights calibrate, whatever the fit's weighting): the scores beat the
    # constant base rate over every entry; on the 181 inspected test rows, 8 % violating, they need not
    every = run.data.metrics["all_base_rate"]
    assert run.data.metrics["all_brier"] < every * (1 - every) and run.data.metrics["brier"] < base
    # every entry of the window against the generator's truth: calibrated for all traffic, near the oracle
    m = run.data.metrics
    assert m["all_calibration_error"] < 0.8 * m["all_base_rate"]  # a 30k history calibrates on ~700 inspections
    assert 0.5 < m["all_precision_at_5pct_of_oracle"] <= 1.2 and m["oracle_precision_at_5pct"] > m["all_base_rate"]
    assert m["random_n"] > 0 and run.data.params["weighting"] == "none"  # the default (bench/defaults.py)
    # ranking by expected revenue catches more revenue in the first few percent than ranking by probability
    assert m["by_revenue_all_revenue_recall_at_2pct"] > m["all_revenue_recall_at_2pct"]
    assert m["by_revenue_all_revenue_recall_at_2pct_of_oracle_by_revenue"] == pytest.approx(
        m["by_revenue_all_revenue_recall_at_2pct"] / m["oracle_by_revenue_revenue_recall_at_2pct"]
    )
    assert not any(
        k.startswith("by_revenue_oracle") or k.startswith("by_revenue_all_") and k.endswith("_of_oracle") for k in m
    )
    assert load_model("models:/shipment-risk@champion").revenue is not None
    assert run.data.metrics["precision_at_5pct"] > run.data.metrics["base_rate"]
    assert len(run.data.params["data_sha256"]) == 64 and int(run.data.params["rows_test"]) > 0
    (used,) = run.inputs.dataset_inputs  # the training table shows in MLflow as the run's dataset
    assert used.dataset.name == history_file.name and used.dataset.digest == run.data.params["data_sha256"][:16]
    assert [t.value for t in used.tags] == ["training"] and "entry_id" in used.dataset.schema
    logged = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "shap_summary.png",
        "feature_importance.png",
        "features.json",
        "dataset_spec.yaml",
        "gains.png",
        "reliability.png",
        "report.html",
    } <= logged
    report = Path(client.download_artifacts(run.info.run_id, "report.html")).read_text()
    assert report.count("data:image/png;base64,") == 4 and "oracle" in report and "violation_type" in report
    assert client.get_model_version_by_alias("shipment-risk", "champion").version == 1

    # the same data again: not strictly better, so the new version waits as challenger
    second = train(history_file, uri=mlflow_uri)
    assert (second.registration.version, second.registration.alias) == (2, "challenger")
    assert second.registration.champion_score == first.metrics["precision_at_5pct"]  # registered model reproduces
    assert client.get_model_version_by_alias("shipment-risk", "champion").version == 1
    assert client.get_model_version_by_alias("shipment-risk", "challenger").version == 2

    model = load_model("models:/shipment-risk@champion")
    assert (
        model.pipeline.feature_names
        == json.loads(Path(client.download_artifacts(run.info.run_id, "features.json")).read_text())["features"]
    )


def test_cli_generate_train_and_champion(tmp_path: Path, mlflow_uri: str) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "DATABASE_URL": f"sqlite:///{tmp_path / 'targeting.db'}"}
    data = tmp_path / "entries.parquet"
    gen = subprocess.run(
        [TARGETING, "generate", "--entries", "20000", "--seed", "3", "--out", str(data)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert "wrote 20,000 entries" in gen.stdout and data.exists()
    none = subprocess.run([TARGETING, "champion"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert none.returncode == 1 and "no shipment-risk@champion" in none.stderr
    split = ["--valid-from", "2024-05-01", "--test-from", "2024-08-01"]
    began = time.time()
    fit = subprocess.run(
        [TARGETING, "train", "--data", str(data), *split, "--shape", "fixed"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    took = time.time() - began
    assert fit.returncode == 0, fit.stderr
    assert "registered shipment-risk version 1 as @champion" in fit.stdout
    assert "test window from 2024-08-01" in fit.stdout
    # a random sample with a violation or two is said to be too small, not shown as a degenerate interval
    assert "[0.00-0.00]" not in fit.stdout
    too_few = re.search(r"too few random-sample violations \((\d+)\) to estimate", fit.stdout)
    assert too_few is not None and int(too_few.group(1)) < 5, fit.stdout
    # the run is named for what it did, and lasts as long as training did, not just its logging
    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    (run,) = client.search_runs([client.get_experiment_by_name("shipment-targeting").experiment_id])
    assert re.fullmatch(r"train 20k entries \d{4}-\d{2}-\d{2} \d{2}:\d{2}", run.info.run_name), run.info.run_name
    assert run.info.start_time >= began * 1000 and (run.info.end_time - run.info.start_time) / 1000 > 0.3 * took
    with Session(store.make_engine(env["DATABASE_URL"])) as session:  # training's alias move is on record too
        (move,) = store.alias_history(session, "shipment-risk", "champion")
        assert (move.version, move.previous_version, move.forced) == (1, None, False)
        assert move.reason.startswith("trained: precision@5% ") and "first version" in move.reason
    bad = subprocess.run(
        [TARGETING, "train", "--data", str(data), "--valid-from", "2024-05-01"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "give both valid_from and test_from" in bad.stderr
    shown = subprocess.run([TARGETING, "champion"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert shown.returncode == 0 and "version 1 is @champion" in shown.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("entry_id,filed_at\nA1,2024-01-01\n", "missing column 'violation'"),
    ],
)
def test_bad_input_stops_with_one_line_and_writes_nothing(
    tmp_path: Path, mlflow_uri: str, content: str, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri}
    out = subprocess.run(
        [TARGETING, "train", "--data", str(bad)], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: ") and message in out.stderr
    assert not Path(mlflow_uri.removeprefix("sqlite:///")).exists()  # not even an empty store


def declarations(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    """A customs-declaration table in someone else's shape: integer codes, gaps, heavy-tailed prices."""
    rng = np.random.default_rng(seed)
    importers = np.array([f"IMP{i:04d}" for i in range(300)])
    bad = rng.random(300) < 0.1
    imp = rng.integers(0, 300, n)
    hs6 = rng.choice([610910, 640399, 854143, 420221], n)
    typical = {610910: 3.0, 640399: 15.0, 854143: 100.0, 420221: 40.0}
    price = np.array([typical[h] for h in hs6]) * rng.pareto(3.0, n) * np.where(rng.random(n) < 0.1, 0.2, 1.0)
    logit = -3.5 + 2.5 * bad[imp] + 1.5 * (price < 0.5 * np.array([typical[h] for h in hs6]))
    fraud = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    labelled = rng.random(n) < 0.6
    return pd.DataFrame(
        {
            "declaration_no": np.arange(n),
            "accepted_date": pd.Timestamp("2023-01-01") + pd.to_timedelta(np.sort(rng.random(n)) * 500, unit="D"),
            "fraud": np.where(labelled, fraud, np.nan),
            "duty_recovered": np.where(labelled & (fraud > 0), rng.lognormal(6, 1, n), np.where(labelled, 0, np.nan)),
            "fraud_severity": np.where(labelled, fraud * rng.integers(1, 4, n), np.nan),
            "office": rng.integers(1, 9, n),
            "importer": importers[imp],
            "declarant": rng.choice(["D1", "D2", None], n),
            "hs6": hs6,
            "origin": rng.choice(["CN", "VN", "DE", None], n),
            "net_mass": np.where(rng.random(n) < 0.05, np.nan, rng.lognormal(3, 1, n)),
            "item_price": price,
            "tax_rate": rng.choice([0.0, 0.05, 0.12], n),
        }
    )


BYO_SPEC = """\
id: declaration_no
timestamp: accepted_date
label: fraud                 # 0/1
revenue: duty_recovered      # optional
categorical: [office, importer, declarant, hs6, origin]
numeric: [net_mass, item_price, tax_rate]
entities: [importer, declarant, [hs6, origin]]
references: [{value: item_price, by: [hs6]}]
exclude: [fraud_severity]
"""


def test_bring_your_own_declarations(tmp_path: Path, mlflow_uri: str, history_file: Path) -> None:
    csv = tmp_path / "declarations.csv"
    declarations().to_csv(csv, index=False)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(BYO_SPEC)
    result = train(csv, load_spec(spec_path), model_name="declaration-risk", uri=mlflow_uri)
    assert (result.registration.version, result.registration.alias) == (1, "champion")
    features = load_model("models:/declaration-risk@champion").pipeline.feature_names
    assert {
        "importer_prior_violations",
        "hs6+origin_violation_rate",
        "declarant_first_time",
        "item_price_to_reference",
        "office",
    } <= set(features)
    assert not any("fraud" in f or "duty" in f for f in features)
    assert result.metrics["precision_at_5pct"] > 2 * result.metrics["base_rate"]

    # a champion of another dataset's shape cannot judge this data: stop before writing anything
    with pytest.raises(DataError, match="cannot score this data"):
        train(history_file, model_name="declaration-risk", uri=mlflow_uri)
    client = MlflowClient(mlflow_uri, mlflow_uri)
    assert len(client.search_model_versions("name='declaration-risk'")) == 1
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == 1
