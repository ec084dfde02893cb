"""What every training run logs beside its model: the dataset spec and feature list, the figures (SHAP summary,
feature importance, gains, reliability) and the self-contained HTML report; the same for one process and Dask."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from features.spec import DatasetSpec
from model.artifact import ModelParts, RevenueModel
from training import plots
from training.data import selection_weights
from training.evaluate import default_slices, slice_metrics
from training.report import write_report

SHAP_SAMPLE = 2000  # test entries the SHAP summary is drawn from


def run_facts(data: object, data_sha256: str, rows: int, test_from: object, weighting: str) -> dict[str, str]:
    """What a run's report states of its data, whatever engine fitted it."""
    return {
        "data": f"{data} (sha256 {data_sha256[:12]}...)",
        "rows": f"{rows:,}",
        "test window": f"from {test_from:%Y-%m-%d}",
        "weighting": weighting,
    }


def gains_sets(
    window: pd.DataFrame, spec: DatasetSpec, scores: np.ndarray, revenue: RevenueModel | None, x: pd.DataFrame
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
    """Outcomes, rankings and revenue for the gains curves: every entry against the truth where known
    (with the oracle's rankings), else the inspected entries."""
    truth = spec.truth if spec.truth and all(c in window for c in spec.truth.numbers) else None
    rankings = {"model, by probability": scores}
    if revenue is not None:
        rankings["model, by expected revenue"] = scores * revenue.given_violation(x.to_numpy())
    if truth is None:
        y = window[spec.label].to_numpy(dtype=float)
        seen = ~np.isnan(y)
        money = window[spec.revenue].to_numpy(dtype=float)[seen] if spec.revenue else None
        return y[seen], {name: r[seen] for name, r in rankings.items()}, money
    if truth.probability:
        rankings["oracle, by true probability"] = window[truth.probability].to_numpy(dtype=float)
    if truth.expected_revenue:
        rankings["oracle, by true expected revenue"] = window[truth.expected_revenue].to_numpy(dtype=float)
    money = window[truth.revenue].to_numpy(dtype=float) if truth.revenue else None
    return window[truth.label].to_numpy(dtype=float), rankings, money


def reliability_sets(
    window: pd.DataFrame, spec: DatasetSpec, scores: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """(outcomes, scores, weights) to draw reliability curves for: inspected entries, and all with the truth."""
    y = window[spec.label].to_numpy(dtype=float)
    seen = ~np.isnan(y)
    weights = selection_weights(window, spec)
    sets = {
        "inspected entries (weighted by 1/selection probability)" if weights is not None else "inspected entries": (
            y[seen],
            scores[seen],
            None if weights is None else weights[seen],
        )
    }
    if spec.truth and spec.truth.label in window:
        sets["all entries, against the ground truth"] = (window[spec.truth.label].to_numpy(dtype=float), scores, None)
    return sets


def write_run_artifacts(
    folder: Path,
    model_name: str,
    spec: DatasetSpec,
    parts: ModelParts,
    inspected: pd.DataFrame,
    window: pd.DataFrame,
    x: pd.DataFrame,
    scores: np.ndarray,
    metrics: dict[str, float],
    facts: dict[str, str],
) -> None:
    """Write a run's artifacts into `folder`: `inspected` are the labelled test rows' model inputs (the SHAP
    summary's sample is drawn from them), `window` the test window with its inputs `x` and `scores`."""
    (folder / "dataset_spec.yaml").write_text(yaml.safe_dump(spec.model_dump(), sort_keys=False))
    (folder / "features.json").write_text(
        json.dumps(
            {"features": parts.pipeline.feature_names, "categorical": parts.pipeline.categorical_features}, indent=1
        )
    )
    sample = inspected.sample(min(SHAP_SAMPLE, len(inspected)), random_state=0)
    plots.shap_summary(parts.booster, sample, folder / "shap_summary.png")
    plots.feature_importance(parts.booster, folder / "feature_importance.png").to_csv(
        folder / "feature_importance.csv", index=False
    )
    plots.gains(*gains_sets(window, spec, scores, parts.revenue, x), folder / "gains.png")
    plots.reliability(reliability_sets(window, spec, scores), folder / "reliability.png")
    slices = pd.DataFrame(slice_metrics(window, x, spec, scores, default_slices(spec)))
    figures = {
        "Gains: violations and revenue caught against the share inspected": folder / "gains.png",
        "Calibration (reliability)": folder / "reliability.png",
        "SHAP summary (log-odds)": folder / "shap_summary.png",
        "Feature importance": folder / "feature_importance.png",
    }
    write_report(folder / "report.html", f"Targeting report: {model_name}", facts, metrics, figures, slices)
