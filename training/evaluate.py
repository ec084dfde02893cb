"""Targeting metrics: how much an inspection budget of k % of entries catches."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from features.spec import DatasetSpec
from model.artifact import RevenueModel

INSPECTION_RATES = (0.01, 0.02, 0.05, 0.10)
VALIDATION_RATE = 0.05  # the inspection rate models are chosen at: the default policy's order of capacity

# below this many violations in the random compliance sample, its metrics are points, not estimates
MIN_SAMPLE_VIOLATIONS = 5


def rate_name(k: float) -> str:
    return f"{round(k * 100)}pct"


def top_k(scores: np.ndarray, k: float) -> np.ndarray:
    """Indices of the ceil(k * n) highest scores; ties broken by position, so the result is stable."""
    n = max(1, math.ceil(k * len(scores)))
    return np.argsort(-scores, kind="stable")[:n]


def targeting_metrics(y: np.ndarray, scores: np.ndarray, revenue: np.ndarray | None = None) -> dict[str, float]:
    """ROC-AUC, PR-AUC, base rate, and precision / recall / revenue-recall at each inspection rate."""
    y = np.asarray(y, dtype=float)
    scores = np.asarray(scores, dtype=float)
    positives = y.sum()
    metrics: dict[str, float] = {"n": float(len(y)), "positives": float(positives), "base_rate": float(y.mean())}
    if 0 < positives < len(y):
        metrics["roc_auc"] = float(roc_auc_score(y, scores))
        metrics["pr_auc"] = float(average_precision_score(y, scores))
    caught_revenue = None
    if revenue is not None:
        rev = np.where(y > 0, np.nan_to_num(np.asarray(revenue, dtype=float)), 0.0)
        caught_revenue = rev if rev.sum() > 0 else None
    for k in INSPECTION_RATES:
        picked = top_k(scores, k)
        name = rate_name(k)
        metrics[f"precision_at_{name}"] = float(y[picked].mean())
        metrics[f"recall_at_{name}"] = float(y[picked].sum() / positives) if positives else 0.0
        if caught_revenue is not None:
            metrics[f"revenue_recall_at_{name}"] = float(caught_revenue[picked].sum() / caught_revenue.sum())
    return metrics


def validation_yardsticks(y: np.ndarray, margin: np.ndarray, w: np.ndarray | None) -> tuple[float, float]:
    """How a model is chosen on labelled rows: precision at VALIDATION_RATE, then (weighted) PR-AUC."""
    precision = float(y[top_k(margin, VALIDATION_RATE)].mean())
    return precision, float(average_precision_score(y, margin, sample_weight=w))


def wilson(successes: float, trials: float, z: float = 1.645) -> tuple[float, float]:
    """The Wilson score interval of a proportion (90 % by default): sound for a handful of successes, where the
    normal approximation and the bootstrap of a few violations are not."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


def pooled_sample(windows: list[tuple[np.ndarray, np.ndarray]], k: float = VALIDATION_RATE) -> dict[str, float]:
    """Precision and recall at k of the random compliance sample pooled over windows, each window's sample
    (labels, that window's scores) ranked by its own model and its top k taken: `random_pooled_*`, with 90 %
    Wilson intervals (`_ci_low`, `_ci_high`)."""
    flagged = caught = positives = n = 0.0
    for y, scores in windows:
        picked = top_k(scores, k) if len(y) else np.array([], dtype=int)
        flagged, caught = flagged + len(picked), caught + float(y[picked].sum())
        positives, n = positives + float(y.sum()), n + len(y)
    name = rate_name(k)
    out = {"random_pooled_n": float(n), "random_pooled_positives": positives}
    for metric, hits, trials in (("precision", caught, flagged), ("recall", caught, positives)):
        key = f"random_pooled_{metric}_at_{name}"
        out[key] = hits / trials if trials else float("nan")
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = wilson(hits, trials)
    return out


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Mean |predicted - observed| over equal-count bins of the score, weighted by bin size."""
    order = np.argsort(p, kind="stable")
    gaps = [abs(p[b].mean() - y[b].mean()) * len(b) for b in np.array_split(order, bins) if len(b)]
    return float(sum(gaps) / len(y))


def bootstrap_intervals(
    y: np.ndarray, scores: np.ndarray, revenue: np.ndarray | None, rounds: int = 300, level: float = 0.9
) -> dict[str, float]:
    """Percentile bootstrap intervals of every targeting metric (`<metric>_ci_low`, `<metric>_ci_high`)."""
    rng = np.random.default_rng(0)
    draws: dict[str, list[float]] = {}
    for _ in range(rounds):
        pick = rng.integers(0, len(y), len(y))
        for name, value in targeting_metrics(y[pick], scores[pick], None if revenue is None else revenue[pick]).items():
            draws.setdefault(name, []).append(value)
    tail = (1 - level) / 2 * 100
    out = {}
    for name, values in draws.items():
        if name.startswith(("precision", "recall", "revenue_recall", "roc_auc", "pr_auc")):
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (
                float(v) for v in np.percentile(values, [tail, 100 - tail])
            )
    return out


def _prefixed(prefix: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{k}": v for k, v in metrics.items()}


def window_metrics(window: pd.DataFrame, spec: DatasetSpec, scores: np.ndarray) -> dict[str, float]:
    """Every yardstick the test window offers.

    - unprefixed: the labelled (inspected) entries, biased by the policy that chose them;
    - `random_`: the random compliance sample, unbiased, with 90 % bootstrap intervals;
    - `all_` and `oracle_`: every entry against the ground truth, where the data carry it (generated data),
      next to the oracle that ranks by the true probability (precision, recall) and by the true expected
      revenue (revenue-recall); `_of_oracle` is the model's share of the oracle.
    """
    y = window[spec.label].to_numpy(dtype=float)
    labelled = ~np.isnan(y)
    revenue = window[spec.revenue].to_numpy(dtype=float) if spec.revenue else None

    def rev(mask: np.ndarray) -> np.ndarray | None:
        return None if revenue is None else revenue[mask]

    metrics = targeting_metrics(y[labelled], scores[labelled], rev(labelled))
    if spec.selection and spec.selection in window:
        rnd = labelled & (window[spec.selection] == spec.random_selection).to_numpy()
        metrics |= {"random_n": float(rnd.sum()), "random_positives": float(y[rnd].sum())}
        if y[rnd].sum() > 0:  # with no violation in the sample there is nothing to rank
            metrics |= _prefixed("random_", targeting_metrics(y[rnd], scores[rnd], rev(rnd)))
            metrics |= _prefixed("random_", bootstrap_intervals(y[rnd], scores[rnd], rev(rnd)))
    truth = spec.truth
    if truth and all(c in window for c in truth.numbers):
        yt = window[truth.label].to_numpy(dtype=float)
        rt = window[truth.revenue].to_numpy(dtype=float) if truth.revenue else None
        model = targeting_metrics(yt, scores, rt)
        metrics |= _prefixed("all_", model)
        metrics["all_brier"] = float(np.mean((scores - yt) ** 2))
        metrics["all_calibration_error"] = expected_calibration_error(yt, scores)
        if truth.probability:  # the oracle ranks as the model does, by probability: like with like
            oracle = at_k(targeting_metrics(yt, window[truth.probability].to_numpy(dtype=float), rt))
            metrics |= _prefixed("oracle_", oracle) | shares(_prefixed("all_", model), oracle, "all_", "oracle")
        if truth.expected_revenue and rt is not None:  # ranking by the true revenue at stake: its own yardstick
            by_r = targeting_metrics(yt, window[truth.expected_revenue].to_numpy(dtype=float), rt)
            metrics |= _prefixed(ORACLE_BY_REVENUE, at_k(by_r))
    return metrics


ORACLE_BY_REVENUE = "oracle_by_revenue_"


def at_k(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics at an inspection rate (precision, recall, revenue recall at k), without intervals."""
    return {k: v for k, v in metrics.items() if "_at_" in k and "_ci_" not in k}


def shares(model: dict[str, float], oracle: dict[str, float], prefix: str, name: str) -> dict[str, float]:
    """`{prefix}{metric}_of_{name}`: the model's metric (keys `{prefix}{metric}`) as a share of the oracle's."""
    return {f"{prefix}{k}_of_{name}": model[prefix + k] / v for k, v in oracle.items() if v > 0 and prefix + k in model}


SLICE_K = 0.05
BUILTIN_SLICES = ("entry_type", "mode_of_transport", "importer_id_first_time", "port_of_entry")


def default_slices(spec: DatasetSpec) -> list[str]:
    """De minimis vs formal, transport mode, new vs known importers, ports: for the built-in schema."""
    return list(BUILTIN_SLICES) if spec.derive == "entry" else []


def slice_metrics(
    window: pd.DataFrame, x: pd.DataFrame, spec: DatasetSpec, scores: np.ndarray, columns: list[str]
) -> list[dict[str, object]]:
    """Slices of a test window, against the ground truth where the data carry it (with recall per
    violation type), else over the inspected entries."""
    window, x = window.reset_index(drop=True), x.reset_index(drop=True)
    truth = spec.truth if spec.truth and spec.truth.label in window else None
    label = truth.label if truth else spec.label
    keep = window[label].notna().to_numpy()
    kinds = window[truth.violation_type][keep] if truth and truth.violation_type in window else None
    return _slices(
        window[keep],
        x[keep],
        window[label][keep].to_numpy(dtype=float),
        scores[keep],
        columns,
        None if kinds is None else kinds.reset_index(drop=True),
    )


def _slices(
    window: pd.DataFrame,
    x: pd.DataFrame,
    y: np.ndarray,
    scores: np.ndarray,
    columns: list[str],
    kinds: pd.Series | None,
) -> list[dict[str, object]]:
    """Precision and recall at 5 % within each slice, the top 5 % taken over the whole window."""
    flagged = np.zeros(len(y), bool)
    flagged[top_k(scores, SLICE_K)] = True
    window, x = window.reset_index(drop=True), x.reset_index(drop=True)
    groups: dict[str, pd.Series] = {c: (window[c] if c in window else x[c]).astype("string") for c in columns}
    if kinds is not None:  # recall per violation type: which priority trade issues the model catches
        groups["violation_type"] = kinds.astype("string")
    rows = []
    for column, values in groups.items():
        for value in values.dropna().unique():
            member = (values == value).fillna(False).to_numpy(dtype=bool)
            caught = flagged & member
            rows.append(
                {
                    "slice": column,
                    "value": str(value),
                    "entries": int(member.sum()),
                    "violations": int(y[member].sum()),
                    # within a violation type every member violates: only recall says something
                    "precision_at_5pct": float(y[caught].mean())
                    if caught.any() and column != "violation_type"
                    else float("nan"),
                    "recall_at_5pct": float(y[caught].sum() / y[member].sum()) if y[member].sum() else float("nan"),
                }
            )
    return rows


def window_yardsticks(
    window: pd.DataFrame, spec: DatasetSpec, scores: np.ndarray, revenue: RevenueModel | None, x: pd.DataFrame
) -> dict[str, float]:
    """The window's yardsticks for ranking by probability, and (`by_revenue_`) by expected revenue at stake."""
    metrics = window_metrics(window, spec, scores)
    if revenue is not None:
        expected = scores * revenue.given_violation(x.to_numpy())
        ranked = {k: v for k, v in window_metrics(window, spec, expected).items() if not k.startswith("oracle")}
        metrics |= {f"by_revenue_{k}": v for k, v in at_k(ranked).items() if not k.endswith("_of_oracle")}
        oracle = {k.removeprefix(ORACLE_BY_REVENUE): v for k, v in metrics.items() if k.startswith(ORACLE_BY_REVENUE)}
        metrics |= shares(metrics, oracle, "by_revenue_all_", "oracle_by_revenue")
    return metrics
