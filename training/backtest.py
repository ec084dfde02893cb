"""Prequential backtest: train on what was known before each test window, as production would have.

Each window is scored by a model trained only on entries filed before the window start minus the
label delay, with the outcomes known by then; every yardstick of `window_yardsticks` is reported
per window, then their mean and spread, with slices by violation type and by entry columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from features.history import outcome_times, point_in_time_counts
from features.pipeline import FeaturePipeline, prepare
from features.spec import BUILTIN_SPEC, DatasetSpec
from model.artifact import Calibration, RevenueModel
from training.choices import Weighting
from training.data import DataError, read_table, selection_weights, validate
from training.evaluate import MIN_SAMPLE_VIOLATIONS, default_slices, pooled_sample, slice_metrics, window_yardsticks
from training.fit import FitParams, fit_booster, fit_calibration, fit_revenue, margins


@dataclass(frozen=True)
class Backtest:
    windows: pd.DataFrame  # one row per window: its dates, sizes and every metric
    slices: pd.DataFrame  # window, slice column, value, entries, violations, precision and recall at 5 %
    pooled: dict[str, float]  # the random compliance sample of every window at once (evaluate.pooled_sample)

    def summary(self) -> pd.DataFrame:
        """Mean and standard deviation of each metric over the windows."""
        numeric = self.windows.select_dtypes("number").drop(columns=["window"], errors="ignore")
        return pd.DataFrame({"mean": numeric.mean(), "std": numeric.std(ddof=1)})


def _fit_window(
    rows: pd.DataFrame,
    spec: DatasetSpec,
    x: pd.DataFrame,
    categorical: list[str],
    y: np.ndarray,
    tr: np.ndarray,
    va: np.ndarray,
    params: FitParams,
    ipw: np.ndarray | None,
    use_ipw: bool,
) -> tuple[lgb.Booster, Calibration, RevenueModel | None]:
    """One window's model: the booster fit on rows `tr` and stopped on `va`, its calibration on `va`, and the
    revenue model where the spec names revenue."""
    w = ipw if use_ipw else None
    weights = (None, None) if w is None else (w[tr], w[va])
    booster = fit_booster(x[tr], y[tr], x[va], y[va], categorical, params, *weights)
    calibration = fit_calibration(margins(booster, x[va]), y[va], None if ipw is None else ipw[va])
    revenue = None
    if spec.revenue:
        money = rows[spec.revenue].to_numpy(dtype=float)
        paid = (y == 1) & (money > 0)
        revenue = fit_revenue(x[tr & paid], money[tr & paid], x[va & paid], money[va & paid], categorical, params.seed)
    return booster, calibration, revenue


def backtest(
    data: Path,
    spec: DatasetSpec = BUILTIN_SPEC,
    *,
    windows: int = 4,
    window_days: int = 60,
    label_delay_days: int = 30,
    params: FitParams = FitParams(),
    weighting: Weighting = "none",
    slice_by: tuple[str, ...] | None = None,
) -> Backtest:
    """Score the last `windows` windows of `window_days` each, every one with its own model."""
    frame = validate(read_table(data), spec)
    rows = prepare(frame, spec)
    counts = point_in_time_counts(rows, spec)
    t = rows[spec.timestamp]
    known_at = outcome_times(rows, spec)
    end = t.max()
    y_all = rows[spec.label].to_numpy(dtype=float)
    ipw = selection_weights(rows, spec)
    if weighting == "ipw" and ipw is None:
        raise DataError("weighting 'ipw' needs the spec's selection_probability column")
    use_ipw = ipw is not None and weighting != "none"
    columns = list(slice_by) if slice_by is not None else default_slices(spec)
    results, slice_rows, samples = [], [], []
    random = (rows[spec.selection] == spec.random_selection).to_numpy() if spec.selection in rows else None
    for i in range(windows):
        start = end - pd.Timedelta(days=window_days * (windows - i))
        stop = start + pd.Timedelta(days=window_days)
        cutoff = start - pd.Timedelta(days=label_delay_days)
        history = (t < cutoff).to_numpy()
        test = ((t >= start) & (t < stop if i < windows - 1 else t <= stop)).to_numpy()
        # only outcomes known by the cut-off can be learned from
        y = np.where((known_at < cutoff).fillna(False).to_numpy(), y_all, np.nan)
        if history.sum() == 0 or not test.any():
            raise DataError(f"window {i + 1} starting {start:%Y-%m-%d} has no history before it: use fewer windows")
        valid_from = t[history].quantile(0.85)
        fit_rows = history & (t < valid_from).to_numpy()
        val_rows = history & ~fit_rows
        tr, va = fit_rows & ~np.isnan(y), val_rows & ~np.isnan(y)
        if len(np.unique(y[tr])) < 2 or len(np.unique(y[va])) < 2:
            raise DataError(f"window {i + 1}: too few outcomes known before {cutoff:%Y-%m-%d} to train on")
        pipeline = FeaturePipeline.fit(rows[fit_rows], spec)
        x = pipeline.transform(rows, counts)
        booster, calibration, revenue = _fit_window(
            rows, spec, x, pipeline.categorical_features, y, tr, va, params, ipw, use_ipw
        )
        scores = calibration.probability(margins(booster, x[test]))
        metrics = window_yardsticks(rows[test], spec, scores, revenue, x[test])
        results.append(
            {
                "window": i + 1,
                "start": start,
                "stop": stop,
                "trained_until": cutoff,
                "train_rows": int(tr.sum()),
                "test_rows": int(test.sum()),
                **metrics,
            }
        )
        found = slice_metrics(rows[test], x[test], spec, scores, columns)
        slice_rows += [{"window": i + 1, **r} for r in found]
        if random is not None:
            sampled = (random & ~np.isnan(y_all))[test]
            samples.append((y_all[test][sampled], scores[sampled]))
    pooled = pooled_sample(samples) if samples else {}
    return Backtest(pd.DataFrame(results), pd.DataFrame(slice_rows), pooled)


# the yardsticks of the summary, at 5 % inspected: metric prefix -> what it measures
YARDSTICKS = {
    "": "inspected entries",
    "random_": "random compliance sample",
    "all_": "every entry (ground truth)",
    "oracle_": "the oracle (true probability)",
    "by_revenue_all_": "every entry, ranked by revenue",
    "oracle_by_revenue_": "oracle, by true revenue",
}
DEFAULT_SLICES = ("entry_type", "violation_type")


def report(result: Backtest, full: bool = False) -> str:
    """The backtest as a person reads it, within 80 columns: precision, recall and revenue recall at 5 % per
    yardstick (mean +- standard deviation over the windows), and recall by entry type and violation type.
    `full` adds every metric of the summary and every slice."""
    summary = result.summary()

    def cell(key: str) -> str:
        return f"{summary.loc[key, 'mean']:.3f} ± {summary.loc[key, 'std']:.3f}" if key in summary.index else "—"

    metrics = ("precision", "recall", "revenue_recall")
    lines = [f"  {'at 5 % inspected':<30} {'precision':<15} {'recall':<15} revenue recall"]
    found = int(result.windows["random_positives"].sum()) if "random_positives" in result.windows else None
    for prefix, title in YARDSTICKS.items():
        if prefix == "random_" and found is not None and found < MIN_SAMPLE_VIOLATIONS:
            lines.append(f"  {title:<30} too few violations ({found}, all windows) to estimate")
        elif any(f"{prefix}{m}_at_5pct" in summary.index for m in metrics):
            lines.append(f"  {title:<30} " + " ".join(f"{cell(f'{prefix}{m}_at_5pct'):<15}" for m in metrics).rstrip())
    if "base_rate" in summary.index:
        lines.insert(0, f"  violation rate among the inspected: {cell('base_rate')}")
    pooled = result.pooled
    if pooled.get("random_pooled_positives", 0) >= MIN_SAMPLE_VIOLATIONS:
        p, r = (f"random_pooled_{m}_at_5pct" for m in ("precision", "recall"))
        lines.append(
            f"  random sample, all windows ({pooled['random_pooled_n']:,.0f} entries, "
            f"{pooled['random_pooled_positives']:,.0f} violations), 90% intervals:"
        )
        lines.append(
            f"  {'':<30} {pooled[p]:.3f} [{pooled[f'{p}_ci_low']:.2f}-{pooled[f'{p}_ci_high']:.2f}] "
            f"{pooled[r]:.3f} [{pooled[f'{r}_ci_low']:.2f}-{pooled[f'{r}_ci_high']:.2f}]"
        )
    slices = result.slices if full else result.slices[result.slices["slice"].isin(DEFAULT_SLICES)]
    by_slice = slices.groupby(["slice", "value"])[["entries", "violations", "recall_at_5pct"]].mean()
    lines.append("recall at 5 % by slice (mean over windows):")
    width = max((len(f"{name} {value}") for name, value in by_slice.index), default=0)
    lines += [
        f"  {f'{name} {value}':<{width}} {row.entries:>9,.0f} entries {row.violations:>7,.1f} violations "
        f"{row.recall_at_5pct:>6.3f}"
        for (name, value), row in by_slice.iterrows()
    ]
    if full:
        lines.append("every metric (mean ± sd over windows):")
        lines += [f"  {name:<50} {cell(str(name))}" for name in summary.index]
    else:
        lines.append("--full: every metric and every slice")
    return "\n".join(lines)
