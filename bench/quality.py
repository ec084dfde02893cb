"""Targeting quality on generated data, against the oracle: the figures in the README.

    .venv/bin/python bench/quality.py [--data data/entries.parquet]

Trains without and with the selection correction (throwaway MLflow stores), then runs the
prequential backtest, and prints precision@5 % and revenue-recall@5 % on each yardstick.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from training.backtest import backtest
from training.train import train

ROWS = [
    ("inspected entries of the test window", "", None),
    ("random compliance sample (90 % interval)", "random_", None),
    ("every entry, against the truth", "all_", "oracle_"),
    ("every entry, ranked by expected revenue", "by_revenue_all_", "oracle_by_revenue_"),
]


def _cell(m: dict[str, float], key: str) -> str:
    if key not in m:
        return "n/a"
    text = f"{m[key]:.3f}"
    if f"{key}_ci_low" in m:
        text += f" [{m[f'{key}_ci_low']:.2f}, {m[f'{key}_ci_high']:.2f}]"
    return text


def main() -> None:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/entries.parquet"))
    data = parser.parse_args().data
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for weighting in ("none", "ipw"):
            uri = f"sqlite:///{tmp}/{weighting}.db"
            runs[weighting] = train(data, uri=uri, weighting=weighting).metrics
    print("| yardstick | weighting | precision@5% | oracle | revenue-recall@5% | oracle |")
    print("|---|---|---|---|---|---|")
    for title, prefix, oracle in ROWS:
        for weighting, m in runs.items():
            p, r = f"{prefix}precision_at_5pct", f"{prefix}revenue_recall_at_5pct"
            o_p = _cell(m, f"{oracle}precision_at_5pct") if oracle else ""
            o_r = _cell(m, f"{oracle}revenue_recall_at_5pct") if oracle else ""
            print(f"| {title} | {weighting} | {_cell(m, p)} | {o_p} | {_cell(m, r)} | {o_r} |")
    m = runs["ipw"]
    print(
        f"\nshare of the oracle (ipw): precision@5% {m['all_precision_at_5pct_of_oracle']:.1%}, "
        f"revenue-recall@5% {m['all_revenue_recall_at_5pct_of_oracle']:.1%} ranking by probability, "
        f"{m['by_revenue_all_revenue_recall_at_5pct_of_oracle_by_revenue']:.1%} by expected revenue (each against "
        "the oracle ranking the same way)"
    )
    print(
        f"revenue-recall@1%: {m['all_revenue_recall_at_1pct']:.3f} by probability, "
        f"{m['by_revenue_all_revenue_recall_at_1pct']:.3f} by expected revenue "
        f"(oracles {m['oracle_revenue_recall_at_1pct']:.3f} and {m['oracle_by_revenue_revenue_recall_at_1pct']:.3f})"
    )
    summary = backtest(data).summary()
    print("\nprequential backtest, 4 windows of 60 days, 30-day label delay (mean +- std):")
    for key in (
        "all_precision_at_5pct",
        "all_precision_at_5pct_of_oracle",
        "all_revenue_recall_at_5pct_of_oracle",
        "by_revenue_all_revenue_recall_at_5pct",
        "precision_at_5pct",
    ):
        print(f"  {key:<42} {summary.loc[key, 'mean']:.3f} +- {summary.loc[key, 'std']:.3f}")


if __name__ == "__main__":
    main()
