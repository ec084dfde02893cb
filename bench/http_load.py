"""HTTP scoring against a bare FastAPI app in its own process, with wrk: throughput, latency, errors.

    .venv/bin/python bench/http_load.py [--seconds 10] [--json bench/results/http.json] [--quick]

Needs `make up` first (data/entries.parquet and a champion in the MLflow store) and wrk. For each decisions store
(SQLite in a temp dir; a throwaway PostgreSQL database at 127.0.0.1:5432, dropped afterwards), a fresh database is
migrated, loaded with the history profiles and given a scorer key; the service is started on it with 1 uvicorn worker
and then with 2 (OMP_NUM_THREADS=1 each), and beside it, with as many workers, the bare app (bench/bare.py): a plain
FastAPI app outside the service's stack that checks the same key, parses the body into the same entry schema and
answers as many bytes as the service's answer, without scoring, the database, middleware or logging. For bodies of 1
and of 100 entries (bench/bodies.py: drawn from --pool distinct entries), at 16 and 64 connections (wrk, 2 threads),
bench/score.lua drives POST /v1/score of the service, a new entry id per request so that every request scores and
records, and right after the same of the bare app. Scoring's throughput is reported as a share of the bare app's,
with each server's CPU per request. Each (body, server) is warmed up uncounted first. After each wrk run on the
service the bench waits until it has logged the end of every request wrk sent: one left in flight still runs,
blocked on a lock or waiting for a database connection, after wrk has gone.

Every request must answer 200, or 503 at once when the service's bound on requests in flight (16 per worker) turns
it away ("shed": at 64 connections, by design; throughput counts the 200s only, while wrk's latencies there mix in
the 503s), counted by wrk (status >= 400, socket errors) and by the service's own log (each request's route and
status), and the decisions table must hold exactly one row per entry the service logged as scored. Prints a
markdown table, writes the JSON, exits 1 on any error or mismatch. `--quick`: SQLite, 1 worker, 16 connections
only (a smoke check). A full run takes about 10 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from bodies import write as write_bodies
from http_report import decided, facts, goals, report, scoring_rows
from http_run import Run, point
from serving import ADMIN_URL, BIN, ROOT, SETUP_HINT, problems, targeting, uvicorn


@contextmanager
def database(kind: str, tag: str, folder: Path) -> Iterator[str]:
    """An empty database: a SQLite file in `folder`, or a PostgreSQL database dropped on the way out."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    name = f"targeting_http_{tag}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def servers(
    env: dict[str, str], key: str, workers: int, folder: Path, bodies: dict[int, Path]
) -> Iterator[tuple[Run, Run]]:
    """The service, as bench/soak.py starts it, and the bare app beside it, each with `workers` uvicorn workers:
    a Run on each, the service's first."""
    (folder / "prometheus").mkdir()
    serve_env = {
        **env,
        "TARGETING_MODEL_POLL_SECONDS": "0",
        "OMP_NUM_THREADS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
    }
    bare_env = {**env, "PYTHONPATH": str(ROOT / "bench"), "BARE_KEY_SHA256": hashlib.sha256(key.encode()).hexdigest()}
    log = folder / "serve.log"
    with uvicorn("service.app:app_from_env", workers, serve_env, log) as (port, server):
        service = Run(port, server, log, key, bodies)
        with uvicorn("bare:app", workers, bare_env, folder / "bare.log") as (bare_port, bare):
            yield service, Run(bare_port, bare, folder / "bare.log", key, bodies, service.sizes)


def bench_store(
    kind: str, workers: list[int], env: dict[str, str], args: argparse.Namespace, bodies: dict[int, Path], tmp: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every point on one fresh database, with a server of each number of workers in turn; the points, and what
    the servers' logs and the database say."""
    tag = secrets.token_hex(4)
    (tmp / kind).mkdir()
    points, logs, scored = [], [], 0
    with database(kind, tag, tmp / kind) as url:
        env = {**env, "DATABASE_URL": url}
        targeting(["db", "upgrade"], env)
        targeting(["history", "load", "--data", str(args.data)], env)
        key = targeting(["keys", "create", "--name", f"http-{tag}", "--role", "scorer"], env).strip().splitlines()[-1]
        for n in workers:
            print(f"{kind}, {n} worker(s):", flush=True)
            (folder := tmp / f"{kind}-{n}").mkdir()
            with servers(env, key, n, folder, bodies) as runs:
                for entries in bodies:
                    for run in runs if args.warmup else ():  # uncounted: first requests, pools, caches
                        run.load(entries, args.connections[0], args.warmup)
                    for connections in args.connections:
                        for endpoint, run in zip(("score", "bare"), runs):
                            got = run.load(entries, connections, args.seconds)
                            points.append(point(kind, n, entries, connections, endpoint, got, run.sizes[entries]))
                            p = points[-1]
                            print(
                                f"  {entries} entries, {connections} conns, {endpoint}: {p['requests_per_s']:,.1f} "
                                f"req/s, p50 {p['latency_ms']['p50']:,.1f} ms, p99 {p['latency_ms']['p99']:,.1f} "
                                f"ms, errors {p['errors']}",
                                flush=True,
                            )
            scored += decided(folder / "serve.log")
            found = problems(folder / "serve.log")
            logs.append({"workers": n, "response_bytes": runs[0].sizes, "server_log_problems": found})
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = int(conn.execute(sa.text("SELECT count(*) FROM decisions")).scalar_one())
        engine.dispose()
    decisions = {"rows": rows, "entries_scored": scored, "match": rows == scored}
    return points, {"database": kind, "decisions": decisions, "servers": logs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured seconds per point")
    parser.add_argument("--warmup", type=int, default=2, help="uncounted seconds per body and endpoint")
    parser.add_argument("--quick", action="store_true", help="SQLite, 1 worker, 16 connections only")
    parser.add_argument("--pool", type=int, default=1000, help="distinct entries in the bodies (100: one batch)")
    parser.add_argument("--data", type=Path, default=ROOT / "data/entries.parquet")
    parser.add_argument("--json", type=Path, default=ROOT / "bench/results/http.json")
    args = parser.parse_args()
    args.connections = [16] if args.quick else [16, 64]
    stores = {"sqlite": [1]} if args.quick else {"sqlite": [1, 2], "postgresql": [1, 2]}

    if not args.data.exists():
        sys.exit(f"{args.data} is missing: {SETUP_HINT}")
    env = {**os.environ, "MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")}
    if subprocess.run([str(BIN / "targeting"), "champion"], capture_output=True, env=env, cwd=ROOT).returncode:
        sys.exit(f"no champion in {env['MLFLOW_TRACKING_URI']}: {SETUP_HINT}")

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # for the model facts, read here
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="http-bench-") as name:
        tmp = Path(name)
        env["TARGETING_MODEL_CACHE"] = str(tmp / "model-cache")  # the servers load the copy made here
        about = facts(env, tmp / "model-cache")
        about["machine"]["load_average_1_5_15_at_start"] = list(os.getloadavg())
        bodies = write_bodies(args.data, tmp, args.pool)
        points, checks = [], []
        for kind, workers in stores.items():
            found, check = bench_store(kind, workers, env, args, bodies, tmp)
            points += found
            checks.append(check)
    about["machine"]["load_average_1_5_15_at_end"] = list(os.getloadavg())
    rows = scoring_rows(points)
    result = {
        **about,
        "config": {
            "seconds": args.seconds,
            "warmup": args.warmup,
            "connections": args.connections,
            "wrk_threads": 2,
            "stores": stores,
            "pool": args.pool,
            "quick": args.quick,
            "wall_seconds": round(time.perf_counter() - began, 1),
        },
        "scoring": rows,
        "goals": goals(rows),
        "stores": checks,
        "points": points,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")

    if not report(result, args.json):
        sys.exit(1)


if __name__ == "__main__":
    main()
