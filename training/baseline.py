"""The plain reference every training run is measured against.

LightGBM with its default parameters on the spec's own columns (every categorical column as a category, the
numeric ones as they are; no account history, no reference prices), fitted on the same labelled rows of the
training window with the same weights: what a data scientist gets from one short script. A model that does not beat
it on the validation window is not worth its features, and the run says so.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.pipeline import category_text
from features.spec import DatasetSpec
from training.evaluate import validation_yardsticks, window_metrics

DEFAULTS = {"objective": "binary", "deterministic": True, "force_col_wise": True, "verbosity": -1}


def columns(rows: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """The spec's categorical and numeric columns of prepared rows, as plain LightGBM reads them."""
    out = {c: category_text(rows[c]).astype("category") for c in spec.categorical}
    out |= {c: pd.to_numeric(rows[c], errors="coerce").astype(float) for c in spec.numeric}
    return pd.DataFrame(out, index=rows.index)


def fit_baseline(x: pd.DataFrame, y: np.ndarray, fit: np.ndarray, w: np.ndarray | None, seed: int) -> lgb.Booster:
    """LightGBM's defaults (100 trees of 31 leaves, learning rate 0.1) on rows `fit` of `x` (from `columns`)."""
    data = lgb.Dataset(x[fit], y[fit], weight=None if w is None else w[fit])
    return lgb.train({**DEFAULTS, "seed": seed}, data)


def measure(
    rows: pd.DataFrame,
    spec: DatasetSpec,
    masks: tuple[np.ndarray, np.ndarray, np.ndarray],
    y: np.ndarray,
    w: np.ndarray | None,
    seed: int,
    model_margin: np.ndarray,
) -> tuple[dict[str, float], list[str]]:
    """The baseline's yardsticks (`baseline_*`: the test window's, and the validation window's beside the model's
    `valid_*`, from `model_margin` on the labelled validation rows), and a warning when the model does not beat it
    on the validation window (precision at the validation rate, then PR-AUC)."""
    train, valid, test = masks
    labelled = ~np.isnan(y)
    x = columns(rows, spec)
    booster = fit_baseline(x, y, train & labelled, w, seed)
    va = valid & labelled
    weights = None if w is None else w[va]
    mine = validation_yardsticks(y[va], model_margin, weights)
    theirs = validation_yardsticks(y[va], np.asarray(booster.predict(x[va])), weights)
    metrics = {"valid_precision_at_5pct": mine[0], "valid_pr_auc": mine[1]}
    metrics |= {"baseline_valid_precision_at_5pct": theirs[0], "baseline_valid_pr_auc": theirs[1]}
    tested = window_metrics(rows[test], spec, np.asarray(booster.predict(x[test])))
    metrics |= {f"baseline_{k}": v for k, v in tested.items() if not k.startswith("oracle") and "_ci_" not in k}
    if mine > theirs:
        return metrics, []
    said = (
        f"THE MODEL DOES NOT BEAT ITS OWN BASELINE on the validation window (plain LightGBM on the spec's columns): "
        f"precision@5% {mine[0]:.3f} against {theirs[0]:.3f}, PR-AUC {mine[1]:.3f} against {theirs[1]:.3f}, on "
        f"{int(va.sum()):,} labelled rows with {int(y[va].sum()):,} violations; check the spec (features, encodings) "
        "before using it"
    )
    return metrics, [said]
