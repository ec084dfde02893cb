"""The training defaults before and after, over data seeds x model seeds, on generated entries and on a ledger.

    .venv/bin/python bench/defaults.py [--quick] [--json bench/results/defaults.json]

For each data seed, datasets are made: the generated history (`targeting generate`, 200,000 entries), the same
with its importer and seller ids declared categorical (high-cardinality entities, as a user might declare them),
and the integer-keyed ledger of the bring-your-own tests (training/synth/ledger.py, 60,000 declarations, its
importer numbers declared categorical as a user would). Each is prepared once per variant and fitted once per
model seed (LightGBM's own seed):

- before: the old defaults: 15 leaves early-stopped on the validation window, every categorical column native,
  inspected rows weighted by 1 / their selection probability where the data give it;
- after: the defaults now: the shape searched over three windows and the model fitted on the training and
  validation windows (training/shape.py), ids of many thin categories read by frequency (features/pipeline.py),
  no weights;
- after, ipw: the same with the weights (the generated history with the built-in spec only).

Every fit reports the test window's precision at 5 % and 10 % of the inspected entries, its baseline's (plain
LightGBM on the spec's columns, same rows and weights), on generated data precision@5 % over every entry as a share
of the oracle's, the shape chosen, and the explanation's cost per entry (trees x leaves, TreeSHAP µs on one core).
Prints mean ± sd per dataset and variant and writes the runs as JSON. `--quick`: one data seed, one model seed,
20,000 entries (a smoke check, not the figures).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from features.spec import BUILTIN_SPEC, DatasetSpec
from training.data import load_spec
from training.fit import FitParams
from training.synth import SynthConfig, generate
from training.synth.ledger import LEDGER_SPEC, ledger
from training.train import choose_shape, fit_and_evaluate, prepare_training

VARIANTS = ("before", "after", "after, ipw")
FIGURES = (
    "precision_at_5pct",
    "precision_at_10pct",
    "baseline_precision_at_5pct",
    "baseline_all_precision_at_5pct",
    "all_precision_at_5pct",
    "all_precision_at_5pct_of_oracle",
    "all_revenue_recall_at_1pct",
    "all_revenue_recall_at_5pct",
    "by_revenue_all_revenue_recall_at_1pct",
    "by_revenue_all_revenue_recall_at_5pct",
    "all_calibration_error",
    "total_leaves",
    "cost_treeshap_us",
)


IDS = ["importer_id", "seller_id"]  # entities with history features, also declared categorical as a user might


def datasets(folder: Path, seed: int, quick: bool) -> dict[str, tuple[Path, DatasetSpec]]:
    """The generated history (with the built-in spec, and with its importer and seller ids declared categorical)
    and the ledger of one data seed, written to `folder`."""
    generated, books = folder / f"generated-{seed}.parquet", folder / f"ledger-{seed}.parquet"
    generate(SynthConfig(entries=20_000 if quick else 200_000, seed=seed)).to_parquet(generated, index=False)
    ledger(n=20_000 if quick else 60_000, seed=seed).to_parquet(books, index=False)
    (folder / "ledger.yaml").write_text(LEDGER_SPEC)
    ids = BUILTIN_SPEC.model_copy(update={"categorical": [*BUILTIN_SPEC.categorical, *IDS]})
    return {
        "generated": (generated, BUILTIN_SPEC),
        "generated, ids categorical": (generated, ids),
        "ledger": (books, load_spec(folder / "ledger.yaml")),
    }


def fits(data: Path, spec: DatasetSpec, variant: str, seeds: list[int]) -> list[dict[str, Any]]:
    """One fit per model seed of a variant on one dataset."""
    if variant == "before":
        spec = spec.model_copy(update={"category_encoding": {c: "native" for c in spec.categorical}})
    p = prepare_training(data, spec, weighting="none" if variant == "after" else "auto")
    out = []
    for seed in seeds:
        began = time.perf_counter()
        params, held_out = FitParams(seed=seed), None
        if variant != "before":
            searched = choose_shape(p, params)
            params, held_out = searched.chosen, searched.held_out
        m = fit_and_evaluate(p, params, held_out).metrics
        shape = f"{params.num_leaves} leaves, min {params.min_data_in_leaf}"
        out.append(
            {
                "seed": seed,
                "shape": shape,
                "seconds": round(time.perf_counter() - began, 1),
                "weighting": p.weighting,
                **{k: m[k] for k in FIGURES if k in m},
            }
        )
    return out


def summary(runs: list[dict[str, Any]]) -> str:
    """Mean ± sd per dataset and variant. Against the baseline: precision@5 % over every entry where the truth is
    known (generated data; 1,500 entries), else over the inspected entries of the test window."""
    lines = [
        "| data | variant | runs | p@5 %, inspected | p@10 %, inspected | p@5 %, every entry | of the oracle "
        "| baseline's p@5 % | beats its baseline | shape (most chosen) | trees x leaves | TreeSHAP µs |",
        "|" + "---|" * 12,
    ]
    for data in ("generated", "generated, ids categorical", "ledger"):
        for variant in VARIANTS:
            mine = [r for r in runs if r["data"] == data and r["variant"] == variant]
            if not mine:
                continue

            def cell(key: str, fmt: str = ".3f", rows: list[dict[str, Any]] = mine) -> str:
                values = np.array([r[key] for r in rows if key in r], dtype=float)
                if not len(values):
                    return ""
                return (
                    f"{values.mean():{fmt}} ± {values.std(ddof=1):{fmt}}" if len(values) > 1 else f"{values[0]:{fmt}}"
                )

            on = "all_" if data.startswith("generated") else ""
            beats = sum(r[f"{on}precision_at_5pct"] > r[f"baseline_{on}precision_at_5pct"] for r in mine)
            shape = Counter(r["shape"] for r in mine).most_common(1)[0][0]
            lines.append(
                f"| {data} | {variant} | {len(mine)} | {cell('precision_at_5pct')} | {cell('precision_at_10pct')} | "
                f"{cell('all_precision_at_5pct')} | {cell('all_precision_at_5pct_of_oracle')} | "
                f"{cell(f'baseline_{on}precision_at_5pct')} | {beats} of {len(mine)} | {shape} | "
                f"{cell('total_leaves', '.0f')} | {cell('cost_treeshap_us', '.0f')} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--model-seeds", type=int, nargs="+", default=[7, 8, 9])
    parser.add_argument("--json", type=Path, default=Path("bench/results/defaults.json"))
    args = parser.parse_args()
    data_seeds, model_seeds = (
        (args.data_seeds[:1], args.model_seeds[:1]) if args.quick else (args.data_seeds, args.model_seeds)
    )
    began, runs = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="defaults-bench-") as tmp:
        for data_seed in data_seeds:
            for name, (path, spec) in datasets(Path(tmp), data_seed, args.quick).items():
                for variant in VARIANTS:
                    if variant == "after, ipw" and (spec.selection_probability is None or name != "generated"):
                        continue
                    for run in fits(path, spec, variant, model_seeds):
                        runs.append({"data": name, "data_seed": data_seed, "variant": variant, **run})
                        print(json.dumps(runs[-1]), flush=True)
    table = summary(runs)
    print(f"\n{table}\n\n{len(runs)} fits in {time.perf_counter() - began:,.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"runs": runs, "table": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
