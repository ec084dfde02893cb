"""Write request bodies for the load tests, one per line, with `__ID__` placeholders in their entry ids:
bodies of one entry and batches of 100, drawn from the same entries of the history (1,000 by default)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from features.pipeline import entry_payloads

FILES = {1: "one.jsonl", 100: "batch100.jsonl"}


def write(data: Path, out: Path, pool: int = 1000) -> dict[int, Path]:
    """one.jsonl and batch100.jsonl in `out`, by the number of entries per body, drawn from `pool` entries (a
    multiple of 100). The entries differ, and so do their accounts, so that concurrent requests do not all update
    the same history profiles; wrk's bench/score.lua sends the bodies in turn and replaces `__ID__` by an id of
    its own per request."""
    if pool < 100 or pool % 100:
        raise ValueError(f"the pool of entries must be a multiple of 100, not {pool}")
    history = pd.read_parquet(data).sample(pool, random_state=1).reset_index(drop=True)
    entries = entry_payloads(history)
    paths = {size: out / name for size, name in FILES.items()}
    for size, path in paths.items():
        bodies = [
            [e | {"entry_id": f"__ID__-{i}"} for i, e in enumerate(entries[at : at + size])]
            for at in range(0, pool, size)
        ]
        path.write_text("".join(json.dumps({"entries": body}) + "\n" for body in bodies))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/entries.parquet"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--pool", type=int, default=1000, help="distinct entries, a multiple of 100")
    args = parser.parse_args()
    write(args.data, args.out, args.pool)


if __name__ == "__main__":
    main()
