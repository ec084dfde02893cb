"""Prequential backtest on generated history: windows, label delay, slices, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from training.backtest import backtest
from training.data import DataError

pytestmark = pytest.mark.slow
TARGETING = str(Path(sys.executable).parent / "targeting")


def test_each_window_learns_only_what_was_known_before_it(history_file: Path, history: pd.DataFrame) -> None:
    result = backtest(history_file, windows=3, window_days=45, label_delay_days=30)
    w = result.windows
    assert list(w["window"]) == [1, 2, 3]
    assert (w["start"].diff().dropna() == pd.Timedelta(days=45)).all()
    assert (w["start"] - w["trained_until"] == pd.Timedelta(days=30)).all()
    assert w["stop"].iloc[-1] == history["filed_at"].max()
    inspected_before = [int((history["outcome_at"] < cut).sum()) for cut in w["trained_until"]]
    assert (w["train_rows"] < inspected_before).all()  # a validation slice is held out of what was known
    assert w["train_rows"].is_monotonic_increasing  # later windows know more
    for column in (
        "precision_at_5pct",
        "all_precision_at_5pct",
        "oracle_precision_at_5pct",
        "by_revenue_all_revenue_recall_at_5pct",
    ):
        # (no revenue model, so no revenue ranking, in a window with under 5 violations to validate it on)
        assert w[column].notna().any() and w[column].dropna().between(0, 1).all(), column
    summary = result.summary()
    assert summary.loc["all_precision_at_5pct", "std"] >= 0
    # the random compliance sample of every window pooled: as many entries as the windows' samples together
    pooled = result.pooled
    assert (
        pooled["random_pooled_n"] == w["random_n"].sum()
        and pooled["random_pooled_positives"] == w["random_positives"].sum()
    )
    key = "random_pooled_precision_at_5pct"
    assert pooled[f"{key}_ci_low"] <= pooled[key] <= pooled[f"{key}_ci_high"]
    recall = pooled["random_pooled_recall_at_5pct"]  # undefined without a violation in the sample
    assert (recall != recall) == (pooled["random_pooled_positives"] == 0)
    assert summary.loc["all_precision_at_5pct", "mean"] == pytest.approx(w["all_precision_at_5pct"].mean())
    kinds = result.slices[result.slices["slice"] == "violation_type"]
    assert set(kinds["value"]) <= set(history["truth_violation_type"].dropna())
    assert kinds["recall_at_5pct"].between(0, 1).all() and kinds["precision_at_5pct"].isna().all()
    assert {"01", "86"} <= set(result.slices.loc[result.slices["slice"] == "entry_type", "value"])


def test_too_many_windows_is_a_clear_error(history_file: Path) -> None:
    with pytest.raises(DataError, match="no history before it|too few outcomes"):
        backtest(history_file, windows=40, window_days=30)


def test_backtest_command_logs_a_run(history_file: Path, mlflow_uri: str) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri}
    out = subprocess.run(
        [TARGETING, "backtest", "--data", str(history_file), "--windows", "2"], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(x.startswith("  every entry (ground truth)") for x in lines) and "violation_type" in out.stdout
    assert max(len(x) for x in lines) <= 80 and len(lines) < 30, [(len(x), x) for x in lines]  # 80 columns
    assert "importer_id_first_time" not in out.stdout and "--full: every metric and every slice" in lines
    client = MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("shipment-targeting-backtest").experiment_id])
    assert len(runs) == 1 and "mean_all_precision_at_5pct" in runs[0].data.metrics
    assert runs[0].info.run_name.startswith(f"backtest 2x60d {history_file.stem} ")
    assert {a.path for a in client.list_artifacts(runs[0].info.run_id)} == {"windows.csv", "slices.csv"}
