"""The model's shape as a product decision: targeting quality against explanation cost per entry.

    .venv/bin/python bench/shape.py [--data data/entries.parquet] [--json bench/results/shape.json]

Fits the risk model over a grid of leaves per tree, depth caps and learning rates (which set how many
trees early stopping keeps) on one prepared dataset, and for each reports precision at a 5 %
inspection rate over every entry of the test window (against the generator's truth, and as a share of
the oracle's), the number of trees and leaves, and the cost of one entry's exact explanation: LightGBM's
`pred_contrib` and the service's TreeSHAP, single rows, one thread. The default is the cheapest shape
within 98 % of the best precision. Cost is counted in total leaves, which TreeSHAP's time tracks and
which, unlike a timing on a shared machine, does not jitter by a fifth from run to run; shapes within
10 % of the cheapest count as equally cheap, and the most precise of them is chosen.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from features.spec import BUILTIN_SPEC
from training.cost import explanation_cost
from training.fit import FitParams
from training.train import fit_and_evaluate, prepare_training

GRID: list[dict[str, Any]] = [
    {"num_leaves": leaves, "learning_rate": rate, "max_depth": depth}
    for leaves, depth in ((7, -1), (15, -1), (31, -1), (63, -1), (31, 5), (63, 6))
    for rate in (0.05, 0.1)
]
KEEP = 0.98
SAME_COST = 1.10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/entries.parquet"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    prepared = prepare_training(args.data, BUILTIN_SPEC)
    test = prepared.x[prepared.masks[2]].to_numpy(dtype=float)[:2000]
    rows = []
    for shape in GRID:
        params = replace(FitParams(), **shape)
        began = time.perf_counter()
        fitted = fit_and_evaluate(prepared, params)
        fit_seconds = time.perf_counter() - began
        booster, m = fitted.parts.booster, fitted.metrics
        cost = explanation_cost(booster, test, seconds=1.0)
        rows.append(
            {
                **shape,
                "trees": booster.num_trees(),
                "total_leaves": int(cost["total_leaves"]),
                "precision_at_5pct": round(m["all_precision_at_5pct"], 4),
                "of_oracle": round(m["all_precision_at_5pct_of_oracle"], 3),
                "pred_contrib_us": round(cost["cost_pred_contrib_us"], 1),
                "treeshap_us": round(cost["cost_treeshap_us"], 1),
                "fit_seconds": round(fit_seconds, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    best = max(r["precision_at_5pct"] for r in rows)
    kept = [r for r in rows if r["precision_at_5pct"] >= KEEP * best]
    cheapest = min(r["total_leaves"] for r in kept)
    chosen = max((r for r in kept if r["total_leaves"] <= SAME_COST * cheapest), key=lambda r: r["precision_at_5pct"])
    print(
        f"\n{len(rows)} shapes on {os.cpu_count()} cores; best precision@5% {best:.4f}; "
        f"cheapest within {KEEP:.0%} of it: {chosen}\n"
    )
    print("| leaves | depth | rate | trees | total leaves | precision@5% | of oracle | pred_contrib µs | TreeSHAP µs |")
    print("|" + "---|" * 9)
    for r in rows:
        mark = " **chosen**" if r is chosen else ""
        print(
            f"| {r['num_leaves']} | {r['max_depth'] if r['max_depth'] > 0 else '-'} | {r['learning_rate']} | "
            f"{r['trees']} | {r['total_leaves']} | {r['precision_at_5pct']:.4f}{mark} | {r['of_oracle']:.3f} | "
            f"{r['pred_contrib_us']:.0f} | {r['treeshap_us']:.0f} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"shapes": rows, "best": best, "keep": KEEP, "chosen": chosen}, indent=1))


if __name__ == "__main__":
    main()
