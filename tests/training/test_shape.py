"""The model's shape chosen on the data over several windows, and the plain baseline every run is measured against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.spec import BUILTIN_SPEC
from training.evaluate import validation_yardsticks
from training.fit import FitParams, fit_calibration
from training.shape import GRID, MIN_ROUNDS, fold_margins, folds
from training.train import choose_shape, fit_and_evaluate, prepare_training, train

pytestmark = pytest.mark.slow


def test_folds_are_the_validation_window_and_as_many_labelled_rows_before_it() -> None:
    times = np.arange(1000)
    labelled = np.arange(1000) % 3 != 0  # two rows in three inspected
    valid = (times >= 800) & (times < 900)
    found = folds(times, labelled, valid)
    size = int((labelled & valid).sum())
    assert len(found) == 3 and [int(f.sum()) for f in found] == [size] * 3
    assert (found[0] == (labelled & valid)).all()
    assert times[found[1]].max() < times[found[0]].min() and times[found[2]].max() < times[found[1]].min()
    assert all(not (labelled[f] == 0).any() for f in found)  # only labelled rows are judged
    short = folds(times, labelled, (times >= 150) & (times < 400))  # too little before it for a second window
    assert len(short) == 1


def test_the_search_picks_the_cheapest_shape_within_a_standard_error_of_the_best(history_file: Path) -> None:
    p = prepare_training(history_file, BUILTIN_SPEC)
    found = choose_shape(p, FitParams())
    table = found.table
    assert len(table) == len(GRID) and table["chosen"].sum() == 1 and (table["folds"] == 3).all()
    best = table.sort_values(["precision", "pr_auc"], ascending=False).iloc[0]
    near = table[table["precision"] >= best["precision"] - best["precision_sd"] / np.sqrt(3)]
    pick = table[table["chosen"]].iloc[0]
    assert pick["leaves_to_explain"] == near["leaves_to_explain"].min()
    assert (found.chosen.num_leaves, found.chosen.min_data_in_leaf) == (pick["num_leaves"], pick["min_data_in_leaf"])
    assert found.chosen.rounds == max(MIN_ROUNDS, round(pick["trees"]))
    assert found.chosen.learning_rate == FitParams().learning_rate  # the rest of the settings as given
    # the chosen shape's fold models' margins on their own windows, the validation window's first: the final
    # model is calibrated and compared with its baseline on them, since it is fitted on the validation window too
    valid = p.labelled(p.masks[1])
    assert len(found.held_out.rows) == len(found.held_out.margin) == 3 * int(valid.sum())
    assert (found.held_out.rows[: int(valid.sum())] == np.flatnonzero(valid)).all()
    times = p.frame[p.spec.timestamp].astype("int64").to_numpy()
    labelled = p.labelled(p.masks[0]) | valid
    again = fold_margins(
        p.x, p.y, times, labelled, folds(times, labelled, valid), p.pipeline.categorical_features, found.chosen, None
    )  # the folds refitted with the final settings: margins on the final model's scale, its trees each
    assert [trees for _, trees in again] == [found.chosen.rounds] * 3
    assert np.array_equal(np.concatenate([m for m, _ in again]), found.held_out.margin)
    fitted = fit_and_evaluate(p, found.chosen, found.held_out)
    rows = found.held_out.rows
    calibration = fit_calibration(found.held_out.margin, p.y[rows], None if p.ipw is None else p.ipw[rows])
    assert fitted.parts.calibration == calibration and fitted.rows_fit == int((p.labelled(p.masks[0]) | valid).sum())
    assert fitted.metrics["best_iteration"] == found.chosen.rounds
    precision = validation_yardsticks(p.y[valid], found.held_out.margin[: int(valid.sum())], None)[0]
    assert fitted.metrics["valid_precision_at_5pct"] == precision


def test_a_run_logs_its_search_and_its_baseline(history_file: Path, mlflow_uri: str) -> None:
    result = train(history_file, uri=mlflow_uri)
    client = MlflowClient(mlflow_uri, mlflow_uri)
    run = client.get_run(result.registration.run_id)
    m = run.data.metrics
    assert run.data.params["shape"] == "search" and run.data.params["lgb_rounds"] == str(result.params.rounds)
    given = run.data.params  # the searched shape needs no window to stop on: it fits on both
    assert int(given["rows_fit"]) == int(given["rows_train"]) + int(given["rows_valid"])
    assert m["best_iteration"] == result.params.rounds and m["shape_search_seconds"] > 0
    searched = pd.read_csv(client.download_artifacts(run.info.run_id, "shape_search.csv"))
    assert len(searched) == len(GRID) and searched["chosen"].sum() == 1
    for k in ("precision_at_5pct", "all_precision_at_5pct", "valid_precision_at_5pct", "valid_pr_auc"):
        assert 0 <= m[f"baseline_{k}"] <= 1, k
    assert not any(k.startswith("baseline_oracle") for k in m)  # the oracle is the model's yardstick too
    beats = (m["valid_precision_at_5pct"], m["valid_pr_auc"]) > (
        m["baseline_valid_precision_at_5pct"],
        m["baseline_valid_pr_auc"],
    )  # 30,000 entries leave a few violations in the validation window: either way, by chance
    assert beats == (result.warnings == [])


def test_a_model_that_does_not_beat_its_baseline_says_so(history_file: Path, mlflow_uri: str) -> None:
    poor = FitParams(num_leaves=2, max_rounds=3, learning_rate=0.01, early_stopping_rounds=1)
    result = train(history_file, uri=mlflow_uri, params=poor, shape="fixed", model_name="poor", weighting="ipw")
    assert len(result.warnings) == 1 and result.warnings[0].startswith("THE MODEL DOES NOT BEAT ITS OWN BASELINE")
    run = MlflowClient(mlflow_uri, mlflow_uri).get_run(result.registration.run_id)
    assert run.data.params["shape"] == "fixed" and run.data.tags["warnings"] == result.warnings[0]
    assert run.data.params["rows_fit"] == run.data.params["rows_train"]  # the validation window stops it
    assert run.data.params["weighting"] == "ipw"  # the weights, asked for
