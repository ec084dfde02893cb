"""The closed loop: only what the policy inspects is revealed, the run repeats by seed, and it lands in MLflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.spec import BUILTIN_SPEC
from training.data import DataError
from training.loop import STRATEGIES, LoopSettings, world
from training.operate import Operation, operate
from training.registry import use
from training.synth import SynthConfig, generate

pytestmark = pytest.mark.slow
TARGETING = str(Path(sys.executable).parent / "targeting")
SETTINGS = LoopSettings(warmup_weeks=20, retrain_weeks=4, seed=3)


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("operate") / "year.parquet"
    generate(SynthConfig(entries=30_000, seed=5, months=12)).to_parquet(path)
    return path


@pytest.fixture(scope="module")
def tuned(year: Path) -> Operation:
    return operate(world(year, BUILTIN_SPEC, SETTINGS), STRATEGIES["tuned"], SETTINGS)


def test_a_violation_in_an_entry_never_inspected_is_never_learned(year: Path, tuned: Operation) -> None:
    """Plant a large violation in an entry the loop released: the run decides and trains exactly as before, no
    model's rows include it, and its label stays unknown; only inspected entries ever hold a label."""
    w = world(year, BUILTIN_SPEC, SETTINGS)
    run = operate(w, STRATEGIES["tuned"], SETTINGS)
    label, selection = w.rows[BUILTIN_SPEC.label], w.rows[str(BUILTIN_SPEC.selection)]
    after = w.week >= SETTINGS.warmup_weeks
    released = np.flatnonzero(after & label.isna().to_numpy() & (w.truth["violation"] == 0).to_numpy())
    assert (selection[after & label.notna().to_numpy()].notna()).all()  # every revealed label was an inspection
    planted = int(released[len(released) // 2])

    again = world(year, BUILTIN_SPEC, SETTINGS)
    again.truth.loc[planted, ["violation", "revenue", "expected", "type"]] = [1.0, 5e6, 5e6, "undervaluation"]
    replayed = operate(again, STRATEGIES["tuned"], SETTINGS)
    assert np.isnan(again.rows[BUILTIN_SPEC.label].iloc[planted])
    assert all(planted not in m.trained_on for m in replayed.models)
    assert [m.booster.model_to_string() for m in replayed.models] == [m.booster.model_to_string() for m in run.models]
    decided = ["inspected", "model_version", "promoted", "explore_share"]
    pd.testing.assert_frame_equal(replayed.weeks[decided], run.weeks[decided])
    assert replayed.weeks["violations"].sum() == run.weeks["violations"].sum() + 1  # the truth did change
    # the same seed, the same run (the fixture's run and this one)
    pd.testing.assert_frame_equal(run.weeks, tuned.weeks)


def test_the_tuned_run_explores_within_its_bounds_and_inspects_its_capacity(tuned: Operation) -> None:
    bounds = STRATEGIES["tuned"].tuned
    assert bounds is not None
    shares = tuned.weeks["explore_share"]
    assert shares.between(*bounds).all() and shares.nunique() > 1
    inspected = tuned.weeks["inspected"].sum() / tuned.weeks["entries"].sum()
    assert inspected == pytest.approx(SETTINGS.capacity, rel=0.25)
    totals = tuned.totals()
    assert 0 < totals["caught"] <= totals["violations"] and 0 < totals["of_oracle_revenue"] <= 1.5
    assert tuned.models[0].version == 1 and len(tuned.models) >= 5


def test_operate_logs_each_strategy_as_one_run_with_weekly_metrics(year: Path, mlflow_uri: str) -> None:
    done = subprocess.run(
        [TARGETING, "operate", "--data", str(year), "--strategy", "exploit", "--strategy", "random-10"]
        + ["--warmup-weeks", "20", "--seed", "3"],
        capture_output=True,
        text=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri},
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-3].startswith("strategy") and lines[-2].startswith("exploit") and lines[-1].startswith("random-10")
    assert all("/#/experiments/" in line for line in lines[:2])
    client = use(mlflow_uri)
    experiment = client.get_experiment_by_name("shipment-targeting-operate")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.params["strategy_name"] for r in runs) == ["exploit", "random-10"]
    for r in runs:
        weeks = client.get_metric_history(r.info.run_id, "week_caught")
        assert len(weeks) == 33 and [m.step for m in weeks] == list(range(20, 53))
        recall = client.get_metric_history(r.info.run_id, "week_recall")
        assert len(recall) == 33 and all(0 <= m.value <= 1 for m in recall)
        assert {a.path for a in client.list_artifacts(r.info.run_id)} >= {"operation.png", "weeks.csv", "log.txt"}


def test_operate_refuses_a_history_without_its_truth(year: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.parquet"
    pd.read_parquet(year).drop(columns=["truth_violation"]).to_parquet(plain)
    with pytest.raises(DataError, match="truth"):
        world(plain, BUILTIN_SPEC, SETTINGS)
    done = subprocess.run([TARGETING, "operate", "--data", str(plain)], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("error:") and "truth" in done.stderr
