"""How often the likely violation (decisions/patterns.py) names the pattern a violation really followed, on
generated data whose ground truth says it (`truth_violation_type`), and how often it names one at all.

Every entry of the champion's test window is explained (exact TreeSHAP, as the service does) and given the lane
its score earns under the default policy's fixed thresholds. Among the entries that truly violated, the named
pattern is compared with the true one, for all of them and for those the model ranks in its top 5 %. Unsafe goods
and forced labour are never named (no feature signals them), so they count as misses; so does a violation with no
pattern named. Usage: .venv/bin/python bench/patterns.py [--data data/entries.parquet] [--json FILE]"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from decisions.actions import Action
from decisions.patterns import MIN_EVIDENCE, likely_violation
from decisions.policy import Policy
from model.scoring import Scorer
from training.data import read_table, time_split, validate
from training.registry import tracking_uri
from training.train import _features


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/entries.parquet"))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    scorer = Scorer.load(tracking_uri(), "shipment-risk", "champion", Path("data/model-cache"))
    spec = scorer.pipeline.spec
    frame = validate(read_table(args.data), spec)
    test = time_split(frame, spec).masks(frame[spec.timestamp])[2]
    x = _features(frame, scorer.pipeline, {})[test].to_numpy(dtype=float)
    phi = scorer.contributions(x)
    features = scorer.pipeline.feature_names
    margin = phi.sum(axis=1)
    lanes = [Policy().probability.action(s) for s in scorer.model.calibration.probability(margin).tolist()]
    named = [
        likely_violation(({"feature": f, "contribution": c, "input": v} for f, c, v in zip(features, row, given)), lane)
        for row, given, lane in zip(phi.tolist(), x.tolist(), lanes)
    ]
    window = frame[test].reset_index(drop=True)
    truth = window["truth_violation_type"].to_numpy()
    top = margin >= np.quantile(margin, 0.95)
    violated = pd.notna(truth)
    released = np.array([lane is Action.RELEASE for lane in lanes])
    is_named = np.array([n is not None for n in named])
    out: dict[str, object] = {
        "model_version": scorer.ref.version,
        "test_entries": int(len(x)),
        "min_evidence": MIN_EVIDENCE,
        "released_entries": int(released.sum()),
        "released_named": round(float(is_named[released].mean()), 4),
        "top_5pct_named": round(float(is_named[top].mean()), 3),
    }
    for name, rows in (("all violations", violated), ("violations in the top 5 %", violated & top)):
        hits = sum(named[i] == truth[i] for i in np.flatnonzero(rows))
        by_type = Counter(str(truth[i]) for i in np.flatnonzero(rows))
        right = Counter(str(truth[i]) for i in np.flatnonzero(rows) if named[i] == truth[i])
        out[name] = {
            "entries": int(rows.sum()),
            "named_right": int(hits),
            "share": round(hits / max(rows.sum(), 1), 3),
            "by_true_type": {t: f"{right[t]}/{n}" for t, n in by_type.most_common()},
        }
    out["named_for_compliant_entries"] = dict(Counter(str(n) for n, v in zip(named, violated) if not v))
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
