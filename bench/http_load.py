"""HTTP scoring against the HTTP ceiling of the same app, with wrk: throughput, latency, errors.

    .venv/bin/python bench/http_load.py [--seconds 10] [--json bench/results/http.json] [--quick]

Needs `make up` first (data/entries.parquet and a champion in the MLflow store) and wrk. For each decisions
store (SQLite in a temp dir; a throwaway PostgreSQL database at 127.0.0.1:5432, dropped afterwards), a fresh
database is migrated, loaded with the history profiles and given a scorer key; the service is started on it with
TARGETING_BENCH_CEILING=1, with 1 uvicorn worker and then with 2 (OMP_NUM_THREADS=1 each). On each, for bodies
of 1 and of 100 entries (bench/bodies.py: drawn from --pool distinct entries), at 16 and 64 connections (wrk,
2 threads), bench/score.lua drives POST /v1/score, a new entry id per request so that every request scores and
records, and right after POST /v1/_ceiling: the same key check, the same body read, and an answer of as many
bytes as a real score response, without scoring or the database. Scoring's throughput is reported as a share of
that ceiling, with the server's CPU per request. Each (body, endpoint) is warmed up uncounted first. After each
wrk run the bench waits until the server has logged the end of every request wrk sent: one left in flight still
runs, blocked on a lock or waiting for a database connection, after wrk has gone.

Every request must answer 200, counted by wrk (status >= 400, socket errors) and by the server's own log (each
request's route and status), and the decisions table must hold exactly one row per entry the server logged as
scored. Prints a markdown table, writes the JSON, exits 1 on any error or mismatch. `--quick`: SQLite, 1 worker,
16 connections only (a smoke check). A full run takes about 10 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
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
from soak import ADMIN_URL, BIN, ROOT, SETUP_HINT, cpu_seconds, free_port, problems, stop, targeting, wait_ready

ENDPOINTS = {"score": "/v1/score", "ceiling": "/v1/_ceiling"}
SHOWN = ("requests_per_s", "latency_ms", "errors", "server_cpu_ms_per_request")  # of each point, beside each other
GOAL_SHARE, GOAL_TAIL = 60.0, 4.0  # single entry, 16 connections: >= 60 % of the ceiling, p99 < 4 x p50
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
    serve_env = {**env, "TARGETING_BENCH_CEILING": "1", "TARGETING_MODEL_POLL_SECONDS": "0", "OMP_NUM_THREADS": "1",
                 "PROMETHEUS_MULTIPROC_DIR": str(folder / "prometheus")}  # fmt: skip
    port, log = free_port(), folder / "serve.log"
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [str(BIN / "uvicorn"), "--factory", "service.app:app_from_env", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers), "--no-access-log"],
            env=serve_env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_ready(port, server, log)
        yield port, server, log
    finally:
        stop(server)


def statuses(log: Path, offset: int) -> tuple[Counter[str], int]:
    """How the requests the server logged since byte `offset` ended, and the offset after the last whole line:
    `route status` for an answer, `exception: ...` for a request that raised (ClientDisconnect: wrk closed its
    connection before the body was read, at the end of a run)."""
    with log.open("rb") as f:
        f.seek(offset)
        chunk = f.read()
    chunk = chunk[: chunk.rfind(b"\n") + 1]
    seen: Counter[str] = Counter()
    for line in chunk.splitlines():
        if b'"route"' not in line and b"Exception in ASGI application" not in line:
            continue
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if "route" in record:
                seen[f"{record['route']} {record['status']}"] += 1
            else:
                seen[f"exception: {((record.get('error') or '').strip().splitlines() or [''])[-1]}"] += 1
    return seen, offset + len(chunk)


def decided(log: Path) -> int:
    """Entries the server logged as scored (each request's `scored` line says how many)."""
    total = 0
    with log.open("rb") as f:
        for line in f:
            if b'"scored"' in line:
                with contextlib.suppress(ValueError):
                    total += int(json.loads(line).get("entries", 0))
    return total


def wrk(url: str, body: Path, key: str, connections: int, seconds: int, tag: str) -> dict[str, Any]:
    """One wrk run with bench/score.lua; the figures its `done` hook printed."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--timeout", "60s", "--latency",
               "-s", str(ROOT / "bench/score.lua"), url, "--", str(body), key, tag]  # fmt: skip
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
            print(f"  !! {figures['sent'] - sum(seen.values())} of {figures['sent']} requests still unfinished "
                  f"{SETTLE_LIMIT:g} s after wrk stopped", flush=True)  # fmt: skip
        cpu = cpu_seconds(self.process) - cpu_before
        return {"wrk": figures, "server_statuses": dict(seen), "late_from_before": dict(late), "settle_s": waited,
                "server_cpu_s": cpu, "load_average_1m": [load_before, os.getloadavg()[0]]}  # fmt: skip

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


def point(kind: str, workers: int, entries: int, connections: int, endpoint: str, got: dict[str, Any],
          size: int) -> dict[str, Any]:  # fmt: skip
    w = got["wrk"]
    rps = w["requests"] / (w["duration_us"] / 1e6)
    socket = w["connect_errors"] + w["read_errors"] + w["write_errors"] + w["timeouts"]
    route = ENDPOINTS[endpoint]
    served = {k: n for k, n in got["server_statuses"].items() if k.startswith(route + " ")}
    not_ok = sum(n for k, n in served.items() if not k.endswith(" 200"))
    not_ok += sum(n for k, n in got["server_statuses"].items() if k.startswith("exception") and "Disconnect" not in k)
    return {
        "database": kind, "workers": workers, "entries": entries, "connections": connections, "endpoint": endpoint,
        "sent": w["sent"], "requests": w["requests"], "seconds": round(w["duration_us"] / 1e6, 2),
        "response_bytes": size, "requests_per_s": round(rps, 1), "entries_per_s": round(rps * entries, 1),
        "latency_ms": {k: round(v / 1000, 2) for k, v in w["latency_us"].items()},
        # the server's log also counts the requests in flight when wrk stopped, which wrk does not
        "errors": max(w["status_errors"], not_ok) + socket, "socket_errors": socket,
        "wrk_errors": {k: w[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")},
        "server_statuses": got["server_statuses"], "server_non_200": not_ok,
        # CPU of the server's processes (all workers) per request it served, in-flight ones included: what the
        # request costs, whatever share of the cores other processes took
        "server_cpu_ms_per_request": round(1000 * got["server_cpu_s"] / max(sum(served.values()), 1), 2),
        "settle_s": got["settle_s"], "late_from_before": got["late_from_before"],
        "load_average_1m": got["load_average_1m"],
    }  # fmt: skip


def bench_store(kind: str, workers: list[int], env: dict[str, str], args: argparse.Namespace,
                bodies: dict[int, Path], tmp: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:  # fmt: skip
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
                            print(f"  {entries} entries, {connections} conns, {endpoint}: {p['requests_per_s']:,.1f} "
                                  f"req/s, p50 {p['latency_ms']['p50']:,.1f} ms, p99 {p['latency_ms']['p99']:,.1f} "
                                  f"ms, errors {p['errors']}", flush=True)  # fmt: skip
            scored += decided(log)
            servers.append({"workers": n, "response_bytes": run.sizes, "server_log_problems": problems(log)})
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            rows = int(conn.execute(sa.text("SELECT count(*) FROM decisions")).scalar_one())
        engine.dispose()
    decisions = {"rows": rows, "entries_scored": scored, "match": rows == scored}
    return points, {"database": kind, "decisions": decisions, "servers": servers}


def ratio(a: float, b: float, digits: int) -> float | None:
    return round(a / b, digits) if b else None  # None: nothing completed to compare with


def scoring_rows(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each scoring point beside the ceiling at the same store, workers, body and connections."""
    ceilings = {(p["database"], p["workers"], p["entries"], p["connections"]): p
                for p in points if p["endpoint"] == "ceiling"}  # fmt: skip
    rows = []
    for p in points:
        if p["endpoint"] != "score":
            continue
        c = ceilings[(p["database"], p["workers"], p["entries"], p["connections"])]
        rows.append({**{k: p[k] for k in ("database", "workers", "entries", "connections")},
                     "score": {k: p[k] for k in ("entries_per_s", *SHOWN)}, "ceiling": {k: c[k] for k in SHOWN},
                     "percent_of_ceiling": ratio(100 * p["requests_per_s"], c["requests_per_s"], 1),
                     "p99_over_p50": ratio(p["latency_ms"]["p99"], p["latency_ms"]["p50"], 2)})  # fmt: skip
    return rows


def shown(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| store | workers | entries/req | conns | score req/s | entries/s | p50 / p99 ms | p99/p50 | errors "
        "| ceiling req/s | ceiling p50 / p99 ms | ceiling errors | % of ceiling | server CPU ms/req: score / ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s, c = r["score"], r["ceiling"]
        lines.append(
            f"| {r['database']} | {r['workers']} | {r['entries']} | {r['connections']} | {s['requests_per_s']:,.1f} "
            f"| {s['entries_per_s']:,.0f} | {s['latency_ms']['p50']:,.1f} / {s['latency_ms']['p99']:,.1f} "
            f"| {shown(r['p99_over_p50'], '.2f')} | {s['errors']} | {c['requests_per_s']:,.1f} "
            f"| {c['latency_ms']['p50']:,.1f} / {c['latency_ms']['p99']:,.1f} | {c['errors']} "
            f"| {shown(r['percent_of_ceiling'], '.1f')} % | {s['server_cpu_ms_per_request']:.2f} / "
            f"{c['server_cpu_ms_per_request']:.2f} |"
        )
    return "\n".join(lines)


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals, for single entries at 16 connections."""
    return [{"database": r["database"], "workers": r["workers"], "percent_of_ceiling": r["percent_of_ceiling"],
             "share_met": (r["percent_of_ceiling"] or 0) >= GOAL_SHARE, "p99_over_p50": r["p99_over_p50"],
             "tail_met": r["p99_over_p50"] is not None and r["p99_over_p50"] < GOAL_TAIL}
            for r in rows if r["entries"] == 1 and r["connections"] == 16]  # fmt: skip


def facts(env: dict[str, str], cache: Path) -> dict[str, Any]:
    """The machine and the served model."""
    from model.scoring import Scorer

    scorer = Scorer.load(env["MLFLOW_TRACKING_URI"], "shipment-risk", "champion", cache)
    booster = scorer.model.booster
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    with psycopg.connect(ADMIN_URL) as conn:
        postgres = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.splitlines()
    return {
        "machine": {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
                    "python": platform.python_version(), "wrk": wrk_version, "postgresql": postgres},
        "model": {"name": scorer.ref.name, "version": scorer.ref.version, "trees": booster.num_trees(),
                  "features": booster.num_feature(),
                  "revenue_trees": scorer.model.revenue.booster.num_trees() if scorer.model.revenue else None},
        "code": {"commit": commit, "uncommitted": [line[3:] for line in changed]},  # what was measured
    }  # fmt: skip


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
    result = {**about, "config": {"seconds": args.seconds, "warmup": args.warmup, "connections": args.connections,
                                  "wrk_threads": 2, "stores": stores, "pool": args.pool, "quick": args.quick,
                                  "wall_seconds": round(time.perf_counter() - began, 1)},
              "scoring": rows, "goals": goals(rows), "stores": checks, "points": points}  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")

    m, model = about["machine"], about["model"]
    print(f"\nHTTP scoring against the ceiling: {m['cores']} cores ({m['cpu']}) shared by wrk, server and database; "
          f"load average {m['load_average_1_5_15_at_start'][0]:.2f} at start, {m['load_average_1_5_15_at_end'][0]:.2f} "
          f"at end; {model['name']} v{model['version']}: {model['trees']} trees, {model['features']} features; "
          f"{args.seconds:g} s per point\n")  # fmt: skip
    print(table(rows))
    for g in result["goals"]:
        share, tail = ("met" if g[k] else "MISSED" for k in ("share_met", "tail_met"))
        print(f"goal, {g['database']}, {g['workers']} worker(s), single entry at 16 connections: "
              f"{shown(g['percent_of_ceiling'], '.1f')} % of the ceiling ({share}: >= {GOAL_SHARE:g} %), "
              f"p99/p50 {shown(g['p99_over_p50'], '.2f')} ({tail}: < {GOAL_TAIL:g})")  # fmt: skip
    failed = [p for p in points if p["errors"] or not p["requests"] or p["settle_s"] is None]
    for p in failed:
        print(f"!! FAILED: {p['database']}, {p['workers']} worker(s), {p['entries']} entries, {p['connections']} "
              f"conns, {p['endpoint']}: {p['requests']} answered in time, wrk {p['wrk_errors']}, server statuses "
              f"{p['server_statuses']}, settled after {p['settle_s']} s")  # fmt: skip
    for c in checks:
        d = c["decisions"]
        print(f"decisions, {c['database']}: {d['rows']:,} rows for {d['entries_scored']:,} entries the server scored: "
              f"{'match' if d['match'] else '!! MISMATCH'}")  # fmt: skip
        for s in c["servers"]:
            for kind, times in s["server_log_problems"]["by_kind"].items():
                why = " (requests in flight when wrk closed its connections)" if "ClientDisconnect" in kind else ""
                print(f"  server log ({c['database']}, {s['workers']} worker(s)), {times:,} x: {kind}{why}")
    print(f"wrote {args.json} in {result['config']['wall_seconds']:.0f} s")
    if failed or not all(c["decisions"]["match"] for c in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
