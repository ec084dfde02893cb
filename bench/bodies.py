"""Write request bodies for the load test: one entry, and a batch of 100, with `__ID__` placeholders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from features.pipeline import entry_payloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/entries.parquet"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    history = pd.read_parquet(args.data).sample(100, random_state=1).reset_index(drop=True)
    entries = [e | {"entry_id": f"__ID__-{i}"} for i, e in enumerate(entry_payloads(history))]
    (args.out / "one.json").write_text(json.dumps({"entries": entries[:1]}))
    (args.out / "batch100.json").write_text(json.dumps({"entries": entries}))


if __name__ == "__main__":
    main()
