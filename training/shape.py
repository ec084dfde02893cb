"""Model capacity chosen per dataset: a small grid of shapes, each judged over several validation windows.

A shape that wins on the generated history can lose real catches elsewhere (more leaves, for data with more
structure), and one validation window with a few dozen violations judges by noise. So each shape is fitted and
judged on FOLDS consecutive windows: the validation window and the windows of as many labelled rows just before
it, each by a model fitted on the labelled rows before that window (time order kept). The choice is the cheapest
shape (leaves to explain per entry: trees x leaves) whose mean precision at the validation rate is within one
standard error of the best shape's (the one-standard-error rule), PR-AUC breaking ties. The final model grows the
mean number of trees its folds stopped at, at least MIN_ROUNDS, instead of stopping on one window again; so it
needs no window to stop on, and fits on the training and validation windows both (the most recent labels, a fifth
more of them), while its calibration and its comparison with the baseline use the margins of fold models with its
very settings (trees included, so that the margins are on its scale) on their own windows (`HeldOut`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from training.evaluate import validation_yardsticks
from training.fit import FitParams, fit_booster, margins

# leaves x min data in leaf; learning rate and feature fraction stay the defaults'
GRID: tuple[dict[str, int], ...] = tuple(
    {"num_leaves": leaves, "min_data_in_leaf": min_data} for leaves in (7, 15, 31, 63) for min_data in (20, 80)
)
FOLDS = 3
MIN_ROUNDS = 50  # a window with a few dozen violations can stop a fit after 3 trees


@dataclass(frozen=True)
class HeldOut:
    """The chosen settings' fold models' margins on their own windows, which none of them was fitted on."""

    rows: np.ndarray  # row positions, each fold's in order: the validation window's labelled rows first
    margin: np.ndarray


@dataclass(frozen=True)
class Search:
    chosen: FitParams
    table: pd.DataFrame  # one row per shape: its settings, mean and spread of each yardstick, trees, leaves
    seconds: float
    held_out: HeldOut  # the chosen shape's: what the final model is calibrated and judged on


def folds(times: np.ndarray, labelled: np.ndarray, valid: np.ndarray, count: int = FOLDS) -> list[np.ndarray]:
    """The judged rows of each fold, latest first: the labelled validation rows, then the windows of as many
    labelled rows before them; a fold's model fits on the labelled rows filed before its window."""
    size = int((labelled & valid).sum())
    earlier = np.flatnonzero(labelled & ~valid & (times < times[valid].min()))
    earlier = earlier[np.argsort(times[earlier], kind="stable")]
    out = [labelled & valid]
    for f in range(1, count):
        picked = earlier[len(earlier) - f * size : len(earlier) - (f - 1) * size]
        if len(picked) < size or len(earlier) - f * size < size:  # keep at least a window's rows to fit on
            break
        mask = np.zeros(len(times), bool)
        mask[picked] = True
        out.append(mask)
    return out


def fold_margins(
    x: pd.DataFrame,
    y: np.ndarray,
    times: np.ndarray,
    labelled: np.ndarray,
    judged: list[np.ndarray],
    categorical: list[str],
    params: FitParams,
    w: np.ndarray | None,
) -> list[tuple[np.ndarray, int]]:
    """Each fold's model of shape `params`, fitted on the labelled rows filed before its window: its margins on
    the window, and its trees."""
    out = []
    for window in judged:
        fit = labelled & ~window & (times < times[window].min())
        weights = (None, None) if w is None else (w[fit], w[window])
        booster = fit_booster(x[fit], y[fit], x[window], y[window], categorical, params, *weights)
        out.append((margins(booster, x[window]), booster.current_iteration()))
    return out


def search(
    x: pd.DataFrame,
    y: np.ndarray,
    times: np.ndarray,
    masks: tuple[np.ndarray, np.ndarray],
    categorical: list[str],
    base: FitParams,
    w: np.ndarray | None = None,
) -> Search:
    """Choose a shape for rows `x` labelled `y` (NaN: not inspected), filed at `times`; `masks`: the training and
    validation windows; `w`: row weights of the fit and of PR-AUC."""
    began = time.perf_counter()
    train, valid = masks
    labelled = ~np.isnan(y) & (train | valid)
    judged = folds(times, labelled, valid)
    rows = []
    for shape in GRID:
        found = fold_margins(x, y, times, labelled, judged, categorical, replace(base, rounds=None, **shape), w)
        judgements = [
            (*validation_yardsticks(y[j], margin, None if w is None else w[j]), trees)
            for j, (margin, trees) in zip(judged, found)
        ]
        precisions, pr_aucs, trees = (np.array(v, dtype=float) for v in zip(*judgements))
        rows.append(
            {
                **shape,
                "precision": precisions.mean(),
                "precision_sd": precisions.std(ddof=1) if len(found) > 1 else 0.0,
                "pr_auc": pr_aucs.mean(),
                "trees": trees.mean(),
                "leaves_to_explain": trees.mean() * shape["num_leaves"],
                "folds": len(found),
            }
        )
    table = pd.DataFrame(rows)
    best = table.sort_values(["precision", "pr_auc"], ascending=False).iloc[0]
    margin = best["precision_sd"] / np.sqrt(best["folds"])  # one standard error of the best shape's mean
    near = table[table["precision"] >= best["precision"] - margin]
    pick = near.sort_values(["leaves_to_explain", "pr_auc"], ascending=[True, False]).iloc[0]
    table["chosen"] = table.index == pick.name
    rounds = max(MIN_ROUNDS, round(pick["trees"]))
    chosen = replace(
        base, num_leaves=int(pick["num_leaves"]), min_data_in_leaf=int(pick["min_data_in_leaf"]), rounds=rounds
    )
    # the folds again with the final model's settings, trees included: margins on the same scale as its own
    refitted = fold_margins(x, y, times, labelled, judged, categorical, chosen, w)
    held = HeldOut(np.concatenate([np.flatnonzero(j) for j in judged]), np.concatenate([m for m, _ in refitted]))
    return Search(chosen, table, time.perf_counter() - began, held)
