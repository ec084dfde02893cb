"""HTTP scoring against the HTTP ceiling of the same app, with wrk: throughput, latency, errors.

    .venv/bin/python bench/http_load.py [--seconds 10] [--json bench/results/http.json] [--quick]

Needs `make up` first (data/entries.parquet and a champion in the MLflow store) and wrk. For each decisions store
(SQLite in a temp dir; a throwaway PostgreSQL database at 127.0.0.1:5432, dropped afterwards), a fresh database is
migrated, loaded with the history profiles and given a scorer key; the service is started on it with the ceiling
mounted (bench/ceiling.py), with 1 uvicorn worker and then with 2 (OMP_NUM_THREADS=1 each). On each, for bodies of 1
and of 100 entries (bench/bodies.py: drawn from --pool distinct entries), at 16 and 64 connections (wrk, 2 threads),
bench/score.lua drives POST /v1/score, a new entry id per request so that every request scores and records, and
right after POST /v1/_ceiling: the same key check, the same body read, and an answer of as many bytes as a real
score response, without scoring or the database. Scoring's throughput is reported as a share of that ceiling, with
the server's CPU per request. Each (body, endpoint) is warmed up uncounted first. After each wrk run the bench waits
until the server has logged the end of every request wrk sent: one left in flight still runs, blocked on a lock or
waiting for a database connection, after wrk has gone.

Every request must answer 200, counted by wrk (status >= 400, socket errors) and by the server's own log (each
request's route and status), and the decisions table must hold exactly one row per entry the server logged as
scored. Prints a markdown table, writes the JSON, exits 1 on any error or mismatch. `--quick`: SQLite, 1 worker,
16 connections only (a smoke check). A full run takes about 10 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import sqlalchemy as sa
from bodies import write as write_bodies
from http_report import decided, facts, goals, report, scoring_rows, statuses
from serving import ADMIN_URL, BIN, ROOT, SETUP_HINT, problems, targeting, uvicorn
from soak_report import cpu_seconds

ENDPOINTS = {"score": "/v1/score", "ceiling": "/v1/_ceiling"}
SETTLE_LIMIT = 180.0


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
def serving(env: dict[str, str], workers: int, folder: Path) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """uvicorn with the ceiling mounted, as bench/soak.py starts it; its port, process and log."""
    (folder / "prometheus").mkdir()
    serve_env = {
        **env,
        "PYTHONPATH": str(ROOT / "bench"),
        "TARGETING_MODEL_POLL_SECONDS": "0",
        "OMP_NUM_THREADS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus"),
    }
    log = folder / "serve.log"
    with uvicorn("ceiling:app_from_env", workers, serve_env, log) as (port, server):
        yield port, server, log


def wrk(url: str, body: Path, key: str, connections: int, seconds: int, tag: str) -> dict[str, Any]:
    """One wrk run with bench/score.lua; the figures its `done` hook printed."""
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "60s",
        "--latency",
        "-s",
        str(ROOT / "bench/score.lua"),
        url,
        "--",
        str(body),
        key,
        tag,
    ]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    found = [line.removeprefix("wrk-json ") for line in out.stdout.splitlines() if line.startswith("wrk-json ")]
    if out.returncode != 0 or not found:
        sys.exit(f"wrk failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    result: dict[str, Any] = json.loads(found[-1])
    return result


class Run:
    """One server under load: every wrk run against it, and what its log says about each."""

    def __init__(self, port: int, server: subprocess.Popen[bytes], log: Path, key: str, bodies: dict[int, Path]):
        self.base, self.key, self.bodies, self.log = f"http://127.0.0.1:{port}", key, bodies, log
        self.process = psutil.Process(server.pid)
        self.offset = 0
        self.sizes = {n: self.response_size(n) for n in bodies}

    def response_size(self, entries: int) -> int:
        """The byte size of a real score response to the first of these bodies (one scored request, fresh ids)."""
        body = self.bodies[entries].read_text().splitlines()[0].replace("__ID__", f"SIZE-{secrets.token_hex(4)}")
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        answer = httpx.post(f"{self.base}/v1/score", content=body, headers=headers, timeout=60)
        if answer.status_code != 200:
            sys.exit(f"POST /v1/score answered {answer.status_code}: {answer.text[:500]}")
        return len(answer.content)

    def load(self, endpoint: str, entries: int, connections: int, seconds: int) -> dict[str, Any]:
        """wrk on `endpoint`, then wait until the server has finished every request wrk sent; wrk's figures and
        how the server says the requests ended."""
        path = ENDPOINTS[endpoint] + (f"?size={self.sizes[entries]}" if endpoint == "ceiling" else "")
        late, self.offset = statuses(self.log, self.offset)  # of an earlier run that did not settle
        load_before, cpu_before = os.getloadavg()[0], cpu_seconds(self.process)
        figures = wrk(self.base + path, self.bodies[entries], self.key, connections, seconds, secrets.token_hex(3))
        seen: Counter[str] = Counter()
        waited = self.settle(figures["sent"], seen)
        if waited is None:
            print(
                f"  !! {figures['sent'] - sum(seen.values())} of {figures['sent']} requests still unfinished "
                f"{SETTLE_LIMIT:g} s after wrk stopped",
                flush=True,
            )
        cpu = cpu_seconds(self.process) - cpu_before
        return {
            "wrk": figures,
            "server_statuses": dict(seen),
            "late_from_before": dict(late),
            "settle_s": waited,
            "server_cpu_s": cpu,
            "load_average_1m": [load_before, os.getloadavg()[0]],
        }

    def settle(self, sent: int, seen: Counter[str]) -> float | None:
        """Wait until the server has logged how each of the `sent` requests ended, adding them to `seen`: a
        request wrk left in flight still runs after wrk exits, blocked on a lock or waiting for a database
        connection, using neither CPU nor its connection. The seconds waited; None past SETTLE_LIMIT."""
        began = time.perf_counter()
        while True:
            more, self.offset = statuses(self.log, self.offset)
            seen.update(more)
            if sum(seen.values()) >= sent:
                return round(time.perf_counter() - began, 2)
            if time.perf_counter() - began > SETTLE_LIMIT:
                return None
            time.sleep(0.2)


def point(
    kind: str, workers: int, entries: int, connections: int, endpoint: str, got: dict[str, Any], size: int
) -> dict[str, Any]:
    w = got["wrk"]
    rps = w["requests"] / (w["duration_us"] / 1e6)
    socket = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    route = ENDPOINTS[endpoint]
    served = {k: n for k, n in got["server_statuses"].items() if k.startswith(route + " ")}
    # 499: the client left before its answer; wrk leaves only at its stop, with the requests then in flight
    abandoned = sum(n for k, n in served.items() if k.endswith(" 499"))
    not_ok = sum(n for k, n in served.items() if not k.endswith((" 200", " 499")))
    not_ok += sum(n for k, n in got["server_statuses"].items() if k.startswith("exception") and "Disconnect" not in k)
    return {
        "database": kind,
        "workers": workers,
        "entries": entries,
        "connections": connections,
        "endpoint": endpoint,
        "sent": w["sent"],
        "requests": w["requests"],
        "seconds": round(w["duration_us"] / 1e6, 2),
        "response_bytes": size,
        "requests_per_s": round(rps, 1),
        "entries_per_s": round(rps * entries, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in w["latency_us"].items()},
        # the server's log also counts the requests in flight when wrk stopped, which wrk does not
        "errors": max(w["status_errors"], not_ok) + socket,
        "socket_errors": socket,
        "wrk_errors": {k: w[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")},
        "server_statuses": got["server_statuses"],
        "server_non_200": not_ok,
        "abandoned_at_stop": abandoned,
        # CPU of the server's processes (all workers) per request it served, in-flight ones included: what the
        # request costs, whatever share of the cores other processes took
        "server_cpu_ms_per_request": round(1000 * got["server_cpu_s"] / max(sum(served.values()), 1), 2),
        "settle_s": got["settle_s"],
        "late_from_before": got["late_from_before"],
        "load_average_1m": got["load_average_1m"],
    }


def bench_store(
    kind: str, workers: list[int], env: dict[str, str], args: argparse.Namespace, bodies: dict[int, Path], tmp: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every point on one fresh database, with a server of each number of workers in turn; the points, and what
    the servers' logs and the database say."""
    tag = secrets.token_hex(4)
    (tmp / kind).mkdir()
    points, servers, scored = [], [], 0
    with database(kind, tag, tmp / kind) as url:
        env = {**env, "DATABASE_URL": url}
        targeting(["db", "upgrade"], env)
        targeting(["history", "load", "--data", str(args.data)], env)
        key = targeting(["keys", "create", "--name", f"http-{tag}", "--role", "scorer"], env).strip().splitlines()[-1]
        for n in workers:
            print(f"{kind}, {n} worker(s):", flush=True)
            (folder := tmp / f"{kind}-{n}").mkdir()
            with serving(env, n, folder) as (port, server, log):
                run = Run(port, server, log, key, bodies)
                for entries in bodies:
                    for endpoint in ENDPOINTS if args.warmup else ():  # uncounted: first requests, pools, caches
                        run.load(endpoint, entries, args.connections[0], args.warmup)
                    for connections in args.connections:
                        for endpoint in ENDPOINTS:
                            got = run.load(endpoint, entries, connections, args.seconds)
                            points.append(point(kind, n, entries, connections, endpoint, got, run.sizes[entries]))
                            p = points[-1]
                            print(
                                f"  {entries} entries, {connections} conns, {endpoint}: {p['requests_per_s']:,.1f} "
                                f"req/s, p50 {p['latency_ms']['p50']:,.1f} ms, p99 {p['latency_ms']['p99']:,.1f} "
                                f"ms, errors {p['errors']}",
                                flush=True,
                            )
            scored += decided(log)
            servers.append({"workers": n, "response_bytes": run.sizes, "server_log_problems": problems(log)})
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = int(conn.execute(sa.text("SELECT count(*) FROM decisions")).scalar_one())
        engine.dispose()
    decisions = {"rows": rows, "entries_scored": scored, "match": rows == scored}
    return points, {"database": kind, "decisions": decisions, "servers": servers}


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
