"""Time model.treeshap against LightGBM's own pred_contrib, on one model, in one run.

    .venv/bin/python bench/treeshap.py [--trees 500 --leaves 63 --features 38 --rows 2000] [--model FILE]
                                       [--single 300] [--repeat 3] [--json PATH]

Trains a binary model of that shape on generated data with categorical features and NaNs (or loads
--model), then times, in microseconds per entry: a loop of one-row calls (as the service scores),
one batch on one thread, and one batch on two threads. Both sides must agree within 1e-9 on every
timed entry, or the run fails. Times are the best of --repeat, taken in turns; the ratio of CPU
times is printed too, as wall times swing on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb
import numpy as np

from model.treeshap import TreeShap

TOLERANCE = 1e-9


def generated(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Rows with a quarter categorical columns (4 to 500 levels), NaNs and zeros, and a binary label."""
    rng = np.random.default_rng(seed)
    n_cat = max(1, features // 4)
    x = rng.normal(size=(rows, features))
    for c in range(n_cat):
        x[:, c] = rng.integers(0, [4, 6, 12, 30, 60, 120, 250, 500][c % 8], rows)
    x[rng.random(x.shape) < 0.08] = np.nan
    x[:, n_cat:][rng.random((rows, features - n_cat)) < 0.05] = 0.0
    filled = np.nan_to_num(x)
    logit = (filled[:, 0] % 3 == 1) * 1.0 - (filled[:, n_cat - 1] % 7 < 2)
    logit += filled[:, n_cat:] @ rng.normal(size=features - n_cat) / 3
    logit += np.sin(2 * filled[:, n_cat]) * filled[:, -1] + np.isnan(x[:, -2])
    return x, (logit + rng.logistic(size=rows) > 0.5).astype(float), list(range(n_cat))


def train(trees: int, leaves: int, features: int, seed: int) -> lgb.Booster:
    x, y, categorical = generated(max(20_000, 40 * leaves * 10), features, seed)
    params = {
        "objective": "binary",
        "num_leaves": leaves,
        "learning_rate": 0.05,
        "min_data_in_leaf": 20,
        "max_cat_to_onehot": 4,
        "cat_smooth": 10,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.9,
        "bagging_freq": 1,
        "verbosity": -1,
        "seed": seed,
        "num_threads": os.cpu_count(),
    }
    return lgb.train(params, lgb.Dataset(x, y, categorical_feature=categorical), num_boost_round=trees)


def race(repeat: int, theirs: Callable[[], object], ours: Callable[[], object]) -> dict[str, float]:
    """Fastest of `repeat` runs of each, in wall and in process CPU seconds, taken in turns so that both
    see the same machine (CPU time is the fairer yardstick on a shared machine, wall time with threads)."""
    best = {f"{side}_{clock}": float("inf") for side in ("theirs", "ours") for clock in ("wall", "cpu")}
    for _ in range(repeat):
        for side, run in (("theirs", theirs), ("ours", ours)):
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            best[f"{side}_wall"] = min(best[f"{side}_wall"], time.perf_counter() - wall)
            best[f"{side}_cpu"] = min(best[f"{side}_cpu"], time.process_time() - cpu)
    return best


def one_by_one(predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    return np.vstack([predict(x[i : i + 1]) for i in range(len(x))])


def measure(booster: lgb.Booster, x: np.ndarray, single: int, repeat: int) -> dict[str, dict[str, float]]:
    """µs per entry for LightGBM and TreeShap in each setting, checking that they agree."""
    shap = TreeShap.from_booster(booster)
    shap.warm()

    def lightgbm(rows: np.ndarray, threads: int) -> np.ndarray:
        return np.asarray(booster.predict(rows, pred_contrib=True, num_threads=threads))

    cases: dict[str, tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]] = {
        "single rows, 1 thread": (
            x[:single],
            lambda r: one_by_one(lambda a: lightgbm(a, 1), r),
            lambda r: one_by_one(lambda a: shap.contributions(a, 1), r),
        ),
        "batch, 1 thread": (x, lambda r: lightgbm(r, 1), lambda r: shap.contributions(r, 1)),
        "batch, 2 threads": (x, lambda r: lightgbm(r, 2), lambda r: shap.contributions(r, 2)),
    }
    figures = {}
    for name, (rows, theirs, ours) in cases.items():
        gap = float(np.abs(ours(rows) - theirs(rows)).max())
        if gap > TOLERANCE:
            raise SystemExit(f"{name}: TreeShap differs from pred_contrib by {gap:.3g}")
        t = race(repeat, lambda: theirs(rows), lambda: ours(rows))  # noqa: B023  (called at once)
        per_entry = {k: v / len(rows) * 1e6 for k, v in t.items()}
        figures[name] = {
            "lightgbm_us": per_entry["theirs_wall"],
            "treeshap_us": per_entry["ours_wall"],
            "ratio": t["theirs_wall"] / t["ours_wall"],
            "lightgbm_cpu_us": per_entry["theirs_cpu"],
            "treeshap_cpu_us": per_entry["ours_cpu"],
            "cpu_ratio": t["theirs_cpu"] / t["ours_cpu"],
            "max_abs_diff": gap,
            "rows": len(rows),
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=500)
    parser.add_argument("--leaves", type=int, default=63)
    parser.add_argument("--features", type=int, default=38)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--single", type=int, default=300, help="rows timed one call each")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--model", type=Path, help="a LightGBM model file, instead of training one")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.model:
        booster = lgb.Booster(model_file=str(args.model))
        features = booster.num_feature()
    else:
        booster = train(args.trees, args.leaves, args.features, args.seed)
        features = args.features
    x, _, _ = generated(args.rows, features, args.seed + 1)
    rng = np.random.default_rng(args.seed)
    x[rng.random(x.shape) < 0.01] = -1.0  # negative codes in categorical columns
    x[:, 0][rng.random(len(x)) < 0.02] = 10_000  # unseen categories
    dump = booster.dump_model()
    shape = {
        "trees": len(dump["tree_info"]),
        "leaves": max(t["num_leaves"] for t in dump["tree_info"]),
        "features": features,
        "cpus": os.cpu_count(),
    }
    figures = measure(booster, x, min(args.single, args.rows), args.repeat)
    print(f"{shape['trees']} trees, up to {shape['leaves']} leaves, {features} features; µs per entry (wall)")
    print(f"  {'':<24}{'pred_contrib':>14}{'TreeShap':>12}{'ratio':>9}{'CPU-time ratio':>17}")
    for name, f in figures.items():
        print(
            f"  {name:<24}{f['lightgbm_us']:>14.1f}{f['treeshap_us']:>12.1f}{f['ratio']:>8.1f}x{f['cpu_ratio']:>16.1f}x"
        )
    if args.json:
        args.json.write_text(json.dumps({"model": shape, "figures": figures}, indent=1))


if __name__ == "__main__":
    main()
