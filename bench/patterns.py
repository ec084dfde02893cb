"""How often the likely violation (service/patterns.py) names the pattern a violation really followed, on
generated data whose ground truth says it (`truth_violation_type`).

Every entry of the champion's test window is explained (exact TreeSHAP, as the service does); among the entries
that truly violated, the named pattern is compared with the true one, for all of them and for those the model
ranks in its top 5 %. Unsafe goods and forced labour are never named (no feature signals them), so they count as
misses. Usage: .venv/bin/python bench/patterns.py [--data data/entries.parquet] [--json FILE]"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from service.patterns import likely_violation
from service.scoring import Scorer
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
    named = [likely_violation({"feature": f, "contribution": c} for f, c in zip(features, row)) for row in phi.tolist()]
    window = frame[test].reset_index(drop=True)
    truth = window["truth_violation_type"].to_numpy()
    margin = phi.sum(axis=1)
    top = margin >= np.quantile(margin, 0.95)
    violated = pd.notna(truth)
    out: dict[str, object] = {"model_version": scorer.ref.version, "test_entries": int(len(x))}
    for name, rows in (("all violations", violated), ("violations in the top 5 %", violated & top)):
        hits = sum(named[i] == truth[i] for i in np.flatnonzero(rows))
        by_type = Counter(str(truth[i]) for i in np.flatnonzero(rows))
        right = Counter(str(truth[i]) for i in np.flatnonzero(rows) if named[i] == truth[i])
        out[name] = {"entries": int(rows.sum()), "named_right": int(hits), "share": round(hits / max(rows.sum(), 1), 3),
                     "by_true_type": {t: f"{right[t]}/{n}" for t, n in by_type.most_common()}}  # fmt: skip
    out["named_for_compliant_entries"] = dict(Counter(str(n) for n, v in zip(named, violated) if not v))
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
