"""Targeting metrics: how much an inspection budget of k % of entries catches."""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

INSPECTION_RATES = (0.01, 0.02, 0.05, 0.10)


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
