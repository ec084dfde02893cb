"""What one entry's score and explanation cost with a model, measured when it is trained and logged
with the run, so that data scientists see the latency they are buying with a bigger model."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import lightgbm as lgb
import numpy as np

from model.treeshap import TreeShap


def per_row_us(explain: Callable[[np.ndarray], Any], x: np.ndarray, seconds: float) -> float:
    """Microseconds per entry for `explain` called on single rows in turn, for about `seconds`."""
    rows = x[: min(len(x), 200)]
    began, n = time.perf_counter(), 0
    while n == 0 or time.perf_counter() - began < seconds:
        for i in range(len(rows)):
            explain(rows[i : i + 1])
        n += len(rows)
    return (time.perf_counter() - began) / n * 1e6


def explanation_cost(booster: lgb.Booster, x: np.ndarray, seconds: float = 0.5) -> dict[str, float]:
    """Per-entry cost on single rows, one thread: LightGBM's TreeSHAP, the service's, and a bare predict."""
    fast = TreeShap.from_booster(booster)
    fast.warm()
    return {
        "cost_pred_contrib_us": per_row_us(lambda r: booster.predict(r, pred_contrib=True, num_threads=1), x, seconds),
        "cost_treeshap_us": per_row_us(lambda r: fast.contributions(r, threads=1), x, seconds),
        "cost_predict_us": per_row_us(lambda r: booster.predict(r, num_threads=1), x, seconds),
        "total_leaves": float(sum(t["num_leaves"] for t in booster.dump_model()["tree_info"])),
    }
