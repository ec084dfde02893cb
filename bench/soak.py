"""Soak-test the scoring service: a steady open-loop load over real HTTP; latency, errors, memory growth.

    .venv/bin/python bench/soak.py [--rate 8] [--seconds 120] [--workers 2]      (or bench/soak.sh ...)

Needs `make up` first (data/entries.parquet and a registered champion). Creates a throwaway PostgreSQL
database at 127.0.0.1:5432, migrates it, loads the history profiles, creates a scorer key, serves with
uvicorn (prometheus multiprocess mode), then sends one-entry POST /v1/score requests on a fixed
schedule: request i leaves at start + i / rate whether or not earlier ones have answered, and its latency
runs from that scheduled time, so a server slower than the rate shows up as queueing, not as a lower
rate (no coordinated omission). Server RSS (parent plus workers) is taken after an uncounted warm-up,
every 10 s, and at the end. Every 200 must have left exactly one row in `decisions`. Prints a markdown
table and writes bench/results/soak.json; the server is stopped and the database dropped at the end.
Exits 1 when any request failed or the decisions do not match the 200s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
import psycopg
from serving import ADMIN_URL, BIN, ROOT, SETUP_HINT, problems, targeting, uvicorn
from soak_report import check_decisions, cpu_seconds, rss_mb, summary, table

from features.pipeline import entry_payloads

RSS_EVERY = 10.0


@dataclass
class Phase:
    """What one phase of load saw: each request's latency from its scheduled send, and its outcome."""

    latencies_ms: list[float] = field(default_factory=list)
    ok_latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    ok_ids: set[str] = field(default_factory=set)
    failed_ids: set[str] = field(default_factory=set)
    examples: list[str] = field(default_factory=list)
    started: float = 0.0
    last_sent: float = 0.0
    finished: float = 0.0

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return self.statuses.get("200", 0)


def bodies(data: Path, count: int, tag: str) -> list[tuple[str, bytes]]:
    """`count` one-entry request bodies from random history rows (as tests/service/entries.py makes them),
    each with an entry id never seen before."""
    history = pd.read_parquet(data)
    rows = np.random.default_rng(7).choice(len(history), size=count, replace=count > len(history))
    out = []
    for i, entry in enumerate(entry_payloads(history.iloc[rows])):
        entry["entry_id"] = f"SOAK-{tag}-{i:07d}"
        out.append((entry["entry_id"], json.dumps({"entries": [entry]}).encode()))
    return out


async def load(
    client: httpx.AsyncClient, url: str, payloads: list[tuple[str, bytes]], rate: float, deadline: float
) -> Phase:
    """Open loop: request i is sent at start + i / rate; its latency runs from that scheduled time, and the
    caller gives up `deadline` seconds after it (a timeout, counted as an error at that latency)."""
    phase = Phase()

    async def one(entry_id: str, body: bytes, scheduled: float) -> None:
        try:
            # httpx's own timeouts are per operation, and its pool timeout does not bound the wait for a
            # connection under load (seen with httpcore 1.0.9): the deadline of the whole call is kept here
            async with asyncio.timeout(max(scheduled + deadline - time.perf_counter(), 0.001)):
                response = await client.post(url, content=body)
            status = str(response.status_code)
            if status != "200" and len(phase.examples) < 5:
                phase.examples.append(f"{status}: {response.text[:200]}")
        except (httpx.HTTPError, TimeoutError) as exc:
            status = "Timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            if len(phase.examples) < 5:
                phase.examples.append(f"{status} after {time.perf_counter() - scheduled:.1f}s: {exc!r}"[:300])
        phase.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
        if status == "200":
            phase.ok_latencies_ms.append(phase.latencies_ms[-1])
        phase.statuses[status] += 1
        (phase.ok_ids if status == "200" else phase.failed_ids).add(entry_id)

    tasks = []
    phase.started = time.perf_counter()
    for i, (entry_id, body) in enumerate(payloads):
        scheduled = phase.started + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(entry_id, body, scheduled)))
    phase.last_sent = time.perf_counter()
    await asyncio.gather(*tasks)
    phase.finished = time.perf_counter()
    return phase


async def drive(
    port: int, key: str, payloads: list[tuple[str, bytes]], args: argparse.Namespace, server: psutil.Process
) -> dict[str, Any]:
    """Warm up (uncounted), measure RSS, run the measured load while sampling RSS, measure RSS again."""
    # The client drops idle connections before uvicorn's 5 s keep-alive timeout does, so that no request goes out
    # on a connection the server is just closing (a ReadError that would be the bench's fault, not the service's).
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections, keepalive_expiry=2.0
    )
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    url = f"http://127.0.0.1:{port}/v1/score"
    timeline: list[tuple[float, float]] = []

    async def sample(began: float) -> None:
        while True:
            await asyncio.sleep(RSS_EVERY)
            timeline.append((round(time.perf_counter() - began, 1), rss_mb(server)["total_mb"]))

    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=args.timeout) as client:
        warmup = await load(client, url, payloads[: args.warmup], args.rate, args.timeout)
        before, cpu_before, load_before = rss_mb(server), cpu_seconds(server), os.getloadavg()
        sampler = asyncio.create_task(sample(time.perf_counter()))
        measured = await load(client, url, payloads[args.warmup :], args.rate, args.timeout)
        sampler.cancel()
        after, cpu = rss_mb(server), cpu_seconds(server) - cpu_before
    return {
        "warmup": warmup,
        "measured": measured,
        "before": before,
        "after": after,
        "timeline": timeline,
        "server_cpu_s": cpu,
        "load_average": [load_before, os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=8.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=120.0, help="duration of the measured load")
    parser.add_argument("--warmup", type=int, default=100, help="uncounted requests before measuring")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=64, help="client connection limit")
    parser.add_argument("--timeout", type=float, default=30.0, help="the caller gives up this long after the send")
    parser.add_argument("--data", type=Path, default=ROOT / "data/entries.parquet")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/soak.json")
    args = parser.parse_args()

    if not args.data.exists():
        sys.exit(f"{args.data} is missing: {SETUP_HINT}")
    env = {**os.environ, "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")}
    if subprocess.run([str(BIN / "targeting"), "champion"], capture_output=True, env=env, cwd=ROOT).returncode:
        sys.exit(f"no champion in {env['MLFLOW_TRACKING_URI']}: {SETUP_HINT}")

    tag = secrets.token_hex(4)
    database = f"targeting_soak_{tag}"
    payloads = bodies(args.data, args.warmup + int(args.rate * args.seconds), tag)
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    env["DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        try:
            targeting(["db", "upgrade"], env)
            targeting(["history", "load", "--data", str(args.data)], env)
            created = targeting(["keys", "create", "--name", f"soak-{tag}", "--role", "scorer"], env)
            key = created.strip().splitlines()[-1]  # the key is the last line
            Path(tmp, "prometheus").mkdir()
            serve_env = {
                **env,
                "TARGETING_MODEL_POLL_SECONDS": "0",
                "OMP_NUM_THREADS": "1",
                "PROMETHEUS_MULTIPROC_DIR": f"{tmp}/prometheus",
                "TARGETING_MODEL_CACHE": f"{tmp}/cache",
            }
            log = Path(tmp, "serve.log")
            with uvicorn("service.app:app_from_env", args.workers, serve_env, log) as (port, server):
                print(
                    f"serving on port {port}, database {database}: {args.warmup} warm-up requests, then "
                    f"{len(payloads) - args.warmup:,} at {args.rate:g}/s",
                    flush=True,
                )
                result = asyncio.run(drive(port, key, payloads, args, psutil.Process(server.pid)))
            s = summary(result, check_decisions(env["DATABASE_URL"], result["warmup"], result["measured"]), args)
            s["server_log_problems"] = problems(log)
        finally:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(s, indent=2) + "\n")
    print(table(s))
    for example in s["error_examples"]:
        print(f"  error: {example}")
    for kind, times in s["server_log_problems"]["by_kind"].items():
        print(f"  server log, {times:,} x: {kind}")
    d = s["decisions"]
    matches = d["rows"] == d["ok_responses"] and not d["ok_without_row"] and not d["duplicate_rows"]
    print(
        f"decisions: {d['rows']:,} rows for {d['ok_responses']:,} 200 responses: "
        f"{'match' if matches else 'MISMATCH (see rows of failed requests above)'}"
    )
    print(f"wrote {args.out}")
    if s["errors"] or not matches:
        sys.exit(1)


if __name__ == "__main__":
    main()
