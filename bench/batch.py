"""A million entries: batch scoring with full explanations against the model's floor, and training.

    .venv/bin/python bench/batch.py [--entries 1000000] [--json bench/results/batch.json] [--skip-train]

The floor is LightGBM's `predict` + `pred_contrib` on prepared rows with both cores, in batches of 10,000; the
served floor is the served model's own calls on the same rows (the project's TreeSHAP and the revenue model's
predict), as `bench/service_path.py` defines it. Batch scoring is `targeting score IN OUT` (a dry run against
a store holding the 200,000-entry history's profiles), in one process and with `--dask` (a local cluster, one
worker per core); training is `targeting train` on the same million entries into a throwaway MLflow store.
Peak memory is the largest sum of resident memory over the command's whole process tree, sampled every 0.2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from features.history import point_in_time_counts
from features.pipeline import prepare
from model.scoring import Scorer

BIN = Path(sys.executable).parent


def run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of a command and all its children."""
    began = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, done = 0, threading.Event()

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    out, err = process.communicate()
    done.set()
    watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{err[-2000:]}")
    return time.perf_counter() - began, peak / 2**20


def floor_rates(scorer: Scorer, data: Path, rows: int = 20_000) -> dict[str, float]:
    """Entries per second of the model's own calls on prepared rows, both cores, batches of 10,000: LightGBM's
    predict + pred_contrib, and the served model's (the project's TreeSHAP + the revenue model's predict)."""
    spec = scorer.pipeline.spec
    frame = prepare(pd.read_parquet(data).head(rows), spec)
    x = scorer.pipeline.transform(frame, point_in_time_counts(frame, spec)).to_numpy(dtype=float)
    booster, revenue = scorer.model.booster, scorer.model.revenue

    def lightgbm(part: np.ndarray) -> None:
        booster.predict(part, num_threads=2)
        booster.predict(part, pred_contrib=True, num_threads=2)

    def served(part: np.ndarray) -> None:
        scorer.contributions(part)
        if revenue is not None:
            revenue.given_violation(part)

    rates = {}
    for name, call in (("lightgbm", lightgbm), ("served", served)):
        began = time.perf_counter()
        for start in range(0, len(x), 10_000):
            call(x[start : start + 10_000])
        rates[name] = len(x) / (time.perf_counter() - began)
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--history", type=Path, default=Path("data/entries.parquet"))
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db"))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": args.tracking_uri,
        "DATABASE_URL": f"sqlite:///{tmp}/targeting.db",
        "TARGETING_MODEL_CACHE": str(tmp / "cache"),
        "OMP_NUM_THREADS": "1",
    }
    data = tmp / "entries.parquet"
    seconds, _ = run(
        [str(BIN / "targeting"), "generate", "--entries", str(args.entries), "--seed", "8", "--out", str(data)], env
    )
    print(f"generated {args.entries:,} entries in {seconds:.0f} s", flush=True)
    run([str(BIN / "targeting"), "db", "upgrade"], env)
    run([str(BIN / "targeting"), "history", "load", "--data", str(args.history)], env)
    scorer = Scorer.load(args.tracking_uri, "shipment-risk", "champion", tmp / "cache")
    floors = floor_rates(scorer, data)
    floor = floors["lightgbm"]
    print(f"floors: {floors}", flush=True)
    results: dict[str, object] = {
        "entries": args.entries,
        "cores": os.cpu_count(),
        "model": f"{scorer.ref.name} v{scorer.ref.version}: {scorer.model.booster.num_trees()} trees",
        "floor_entries_per_s": round(floor),
        "served_floor_entries_per_s": round(floors["served"]),
    }
    for name, extra in (("score_one_process", []), ("score_dask_local", ["--dask"])):
        seconds, peak = run([str(BIN / "targeting"), "score", str(data), str(tmp / f"{name}.parquet"), *extra], env)
        rate = args.entries / seconds
        results[name] = {
            "seconds": round(seconds, 1),
            "entries_per_s": round(rate),
            "of_floor": round(rate / floor, 3),
            "of_served_floor": round(rate / floors["served"], 3),
            "peak_rss_mb": round(peak),
        }
        print(name, results[name], flush=True)
    alone = pd.read_parquet(tmp / "score_one_process.parquet", columns=["entry_id", "score", "action"])
    spread = pd.read_parquet(tmp / "score_dask_local.parquet", columns=["entry_id", "score", "action"])
    try:  # the Dask output is a folder of parts: read back in order, the single-process file
        pd.testing.assert_frame_equal(alone, spread, check_dtype=False)
        results["dask_equals_one_process"] = True
    except AssertionError:
        results["dask_equals_one_process"] = False
    results["actions"] = {k: int(v) for k, v in alone["action"].value_counts().items()}
    results["score_mean"] = float(np.mean(alone["score"]))
    if not args.skip_train:
        env_train = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/train/mlflow.db"}
        seconds, peak = run([str(BIN / "targeting"), "train", "--data", str(data)], env_train)
        results["train"] = {"seconds": round(seconds, 1), "peak_rss_mb": round(peak)}
        print("train", results["train"], flush=True)
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
