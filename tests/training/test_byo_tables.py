"""Bring your own declarations: hand-built tables far from the entry schema train through a dataset spec."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from training.data import load_spec
from training.registry import load_model
from training.synth.ledger import LEDGER_SPEC as SPEC
from training.synth.ledger import ledger
from training.train import TrainResult, train

pytestmark = pytest.mark.slow
TARGETING = str(Path(sys.executable).parent / "targeting")


LEAKY_SPEC = SPEC.replace("duty_pct]", "duty_pct, penalty_amount]").replace("exclude: [penalty_amount]\n", "")


@dataclass(frozen=True)
class Trained:
    uri: str
    csv: TrainResult
    parquet: TrainResult
    leaky: TrainResult
    features: list[str]
    leaky_features: list[str]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return ledger()


@pytest.fixture(scope="module")
def trained(table: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """The same ledger trained from CSV, then from Parquet, then with a spec that forgets the leak."""
    tmp = tmp_path_factory.mktemp("byo")
    uri = f"sqlite:///{tmp / 'mlruns' / 'mlflow.db'}"
    (tmp / "spec.yaml").write_text(SPEC)
    (tmp / "leaky.yaml").write_text(LEAKY_SPEC)
    table.to_csv(tmp / "ledger.csv", index=False)
    table.to_parquet(tmp / "ledger.parquet", index=False)
    spec = load_spec(tmp / "spec.yaml")
    csv = train(tmp / "ledger.csv", spec, model_name="ledger-risk", uri=uri, shape="fixed")
    features = load_model("models:/ledger-risk@champion").pipeline.feature_names
    parquet = train(tmp / "ledger.parquet", spec, model_name="ledger-risk", uri=uri, shape="fixed")
    leaky = train(
        tmp / "ledger.parquet", load_spec(tmp / "leaky.yaml"), model_name="ledger-leaky", uri=uri, shape="fixed"
    )
    leaky_features = load_model("models:/ledger-leaky@champion").pipeline.feature_names
    return Trained(uri, csv, parquet, leaky, features, leaky_features)


def test_ledger_has_the_shape_under_test(table: pd.DataFrame) -> None:
    assert all(pd.api.types.is_integer_dtype(table[c]) for c in ("decl_ref", "importer_no", "office_code", "hs_code"))
    assert table["broker_id"].isna().mean() > 0.1 and table["origin_cc"].isna().any() and table["gross_kg"].isna().any()
    assert table["unit_price"].max() / table["unit_price"].median() > 300  # heavy tails, codes far apart
    labelled = table.dropna(subset=["is_fraud"])
    assert ((labelled["penalty_amount"] > 0) == (labelled["is_fraud"] == 1)).all()  # the leak is exact
    assert 0.05 < labelled["is_fraud"].mean() < 0.3 and "revenue" not in SPEC


def test_csv_and_parquet_train_the_same_model_under_its_own_name(trained: Trained) -> None:
    client = MlflowClient(trained.uri, trained.uri)
    assert (trained.csv.registration.version, trained.csv.registration.alias) == (1, "champion")
    # Parquet holds the same ledger: the same test metrics, so it waits as challenger behind the CSV model
    assert (trained.parquet.registration.version, trained.parquet.registration.alias) == (2, "challenger")
    assert trained.parquet.metrics["precision_at_5pct"] == pytest.approx(trained.csv.metrics["precision_at_5pct"])
    assert trained.parquet.registration.champion_score == pytest.approx(trained.csv.metrics["precision_at_5pct"])
    assert client.get_model_version_by_alias("ledger-risk", "champion").run_id == trained.csv.registration.run_id
    assert not client.search_registered_models("name='shipment-risk'")  # not the default model name


def test_model_learns_legitimate_signals(trained: Trained, table: pd.DataFrame) -> None:
    run = MlflowClient(trained.uri, trained.uri).get_run(trained.csv.registration.run_id)
    metrics = run.data.metrics
    assert metrics["precision_at_5pct"] > 2.5 * metrics["base_rate"]
    assert metrics["roc_auc"] > 0.7
    assert int(run.data.params["rows_labelled"]) == table["is_fraud"].notna().sum()
    assert {
        "importer_no_prior_violations",
        "importer_no_violation_rate",
        "broker_id_first_time",
        "hs_code+origin_cc_prior_violations",
        "hs_code+origin_cc_violation_rate",
        "unit_price_to_reference",
        "office_code",
    } <= set(trained.features)
    assert not any("penalty" in f for f in trained.features)


def test_trader_ids_are_read_by_frequency_and_forcing_them_native_warns(trained: Trained, tmp_path: Path) -> None:
    params = MlflowClient(trained.uri, trained.uri).get_run(trained.csv.registration.run_id).data.params
    assert params["encoding_importer_no"] == "frequency"  # ~1,200 importers, a few inspections each
    assert params["encoding_office_code"] == params["encoding_hs_code"] == "native"
    assert trained.csv.warnings == []
    (tmp_path / "forced.yaml").write_text(SPEC + "category_encoding: {importer_no: native}\n")
    ledger().to_parquet(tmp_path / "ledger.parquet", index=False)
    forced = train(
        tmp_path / "ledger.parquet", load_spec(tmp_path / "forced.yaml"), model_name="ledger-forced", uri=trained.uri
    )
    assert len(forced.warnings) == 1 and "'importer_no' a native categorical" in forced.warnings[0]
    run = MlflowClient(trained.uri, trained.uri).get_run(forced.registration.run_id)
    assert run.data.params["encoding_importer_no"] == "native" and run.data.tags["warnings"] == forced.warnings[0]


def test_no_revenue_column_logs_no_revenue_metrics(trained: Trained) -> None:
    client = MlflowClient(trained.uri, trained.uri)
    for result in (trained.csv, trained.parquet):
        logged = client.get_run(result.registration.run_id).data.metrics
        assert "recall_at_5pct" in logged and not any("revenue" in m for m in logged)
    logged_spec = yaml.safe_load(
        Path(client.download_artifacts(trained.csv.registration.run_id, "dataset_spec.yaml")).read_text()
    )
    assert logged_spec["revenue"] is None and logged_spec["label_delay_days"] == 30


def test_forgetting_to_exclude_the_leak_inflates_precision(trained: Trained) -> None:
    assert "penalty_amount" in trained.leaky_features
    assert (trained.leaky.registration.version, trained.leaky.registration.alias) == (1, "champion")
    assert trained.leaky.metrics["precision_at_5pct"] > trained.csv.metrics["precision_at_5pct"]
    assert trained.leaky.metrics["precision_at_5pct"] > 0.98  # implausible for real targeting: the answer was an input


def test_cli_spec_with_absent_column_stops_before_writing(table: pd.DataFrame, tmp_path: Path, mlflow_uri: str) -> None:
    data, spec = tmp_path / "ledger.csv", tmp_path / "spec.yaml"
    table.to_csv(data, index=False)
    spec.write_text(SPEC.replace("duty_pct]", "duty_pct, freight_cost]"))  # the ledger has no freight_cost
    out = subprocess.run(
        [TARGETING, "train", "--data", str(data), "--dataset-spec", str(spec), "--model-name", "ledger-risk"],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri},
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and out.stderr.startswith("error: ") and "'freight_cost'" in out.stderr
    assert not Path(mlflow_uri.removeprefix("sqlite:///")).exists()  # not even an empty store
