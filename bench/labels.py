"""What more labels buy: the default model's share of the oracle as the past policy inspects more.

    .venv/bin/python bench/labels.py [--data-seeds 8 9] [--rates 0.03 0.06 0.12]

For each data seed and past-policy inspection rate (`SynthConfig.policy_rate`; the random sample stays 0.5 %),
generates 200,000 entries, trains with the defaults (shape searched, LightGBM seed 7) and prints the labelled rows
of the training window and precision@5 % over every entry of the test window as a share of the oracle's.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from features.spec import BUILTIN_SPEC
from training.fit import FitParams
from training.synth import SynthConfig, generate
from training.train import choose_shape, fit_and_evaluate, prepare_training


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-seeds", type=int, nargs="+", default=[8, 9])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.03, 0.06, 0.12])
    parser.add_argument("--entries", type=int, default=200_000)
    args = parser.parse_args()
    print("| data seed | past policy inspects | labelled rows, training window | shape | of the oracle |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="labels-bench-") as tmp:
        for seed in args.data_seeds:
            for rate in args.rates:
                path = Path(tmp) / f"generated-{seed}-{rate}.parquet"
                generate(SynthConfig(entries=args.entries, seed=seed, policy_rate=rate)).to_parquet(path, index=False)
                p = prepare_training(path, BUILTIN_SPEC)
                searched = choose_shape(p, FitParams())
                m = fit_and_evaluate(p, searched.chosen, searched.held_out).metrics
                shape = f"{searched.chosen.num_leaves} leaves x {searched.chosen.rounds} trees"
                labelled = int(p.labelled(p.masks[0]).sum())
                share = m["all_precision_at_5pct_of_oracle"]
                print(f"| {seed} | {rate:.0%} | {labelled:,} | {shape} | {share:.3f} |", flush=True)


if __name__ == "__main__":
    main()
