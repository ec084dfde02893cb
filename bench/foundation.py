"""Time the foundation's user-facing commands as whole processes, on this machine.

    .venv/bin/python bench/foundation.py [--repeat 3]

Measures `targeting generate` at 1,000,000 entries and `generate` + `train` at 200,000 entries
(into a throwaway MLflow store), and reports the champion's precision@5 % against the base rate.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGETING = str(Path(sys.executable).parent / "targeting")


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    began = time.perf_counter()
    out = subprocess.run([TARGETING, *args], capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - began, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    repeat = parser.parse_args().repeat
    gen_1m, gen_200k, train_200k, ratios = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            env = {
                **os.environ,
                "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/run{i}/mlflow.db",
                "DATABASE_URL": f"sqlite:///{tmp}/run{i}/targeting.db",
            }
            seconds, _ = timed(["generate", "--entries", "1000000", "--seed", "7", "--out", f"{tmp}/1m.parquet"], env)
            gen_1m.append(seconds)
            data = f"{tmp}/200k.parquet"
            seconds, _ = timed(["generate", "--entries", "200000", "--seed", "7", "--out", data], env)
            gen_200k.append(seconds)
            seconds, report = timed(["train", "--data", data], env)
            train_200k.append(seconds)
            base = float(re.search(r"base rate ([0-9.]+)", report).group(1))  # type: ignore[union-attr]
            p5 = float(re.search(r"5pct\s+([0-9.]+)", report).group(1))  # type: ignore[union-attr]
            ratios.append((p5, base))
    cores = os.cpu_count()
    print(f"{repeat} run(s) on {cores} cores; seconds as min / median / max")
    for name, values in (
        ("generate 1,000,000", gen_1m),
        ("generate 200,000", gen_200k),
        ("train 200,000", train_200k),
        ("generate + train 200,000", [a + b for a, b in zip(gen_200k, train_200k)]),
    ):
        print(f"  {name:<26} {min(values):6.1f} / {statistics.median(values):6.1f} / {max(values):6.1f}")
    p5, base = ratios[-1]
    print(f"  precision@5% {p5:.3f} on a test-window base rate of {base:.3f}: {p5 / base:.1f} x")


if __name__ == "__main__":
    main()
