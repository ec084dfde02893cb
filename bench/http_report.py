"""bench/http_load.py's tables: requests per second, latency and server CPU per request of scoring, against
the bare app's, and the goals."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import psutil
import psycopg
from serving import ADMIN_URL, ROOT

# of each point, beside each other
SHOWN = ("requests_per_s", "latency_ms", "errors", "shed", "server_cpu_ms_per_request")

# single entry, 16 connections: >= 60 % of the bare app's requests/s on SQLite, 45 % on PostgreSQL; p99 < 4 x p50
GOAL_SHARE, GOAL_TAIL = {"sqlite": 60.0, "postgresql": 45.0}, 4.0


def ratio(a: float, b: float, digits: int) -> float | None:
    return round(a / b, digits) if b else None  # None: nothing completed to compare with


def scoring_rows(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each scoring point beside the bare app's at the same store, workers, body and connections."""
    bare = {(p["database"], p["workers"], p["entries"], p["connections"]): p for p in points if p["endpoint"] == "bare"}
    rows = []
    for p in points:
        if p["endpoint"] != "score":
            continue
        c = bare[(p["database"], p["workers"], p["entries"], p["connections"])]
        rows.append(
            {
                **{k: p[k] for k in ("database", "workers", "entries", "connections")},
                "score": {k: p[k] for k in ("entries_per_s", *SHOWN)},
                "bare": {k: c[k] for k in SHOWN},
                "percent_of_bare": ratio(100 * p["requests_per_s"], c["requests_per_s"], 1),
                "p99_over_p50": ratio(p["latency_ms"]["p99"], p["latency_ms"]["p50"], 2),
            }
        )
    return rows


def shown(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| store | workers | entries/req | conns | score 200s/s | entries/s | p50 / p99 ms | p99/p50 | errors | shed "
        "| bare req/s | bare p50 / p99 ms | bare errors | % of bare | server CPU ms/req: score / bare |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        s, c = r["score"], r["bare"]
        lines.append(
            f"| {r['database']} | {r['workers']} | {r['entries']} | {r['connections']} | {s['requests_per_s']:,.1f} "
            f"| {s['entries_per_s']:,.0f} | {s['latency_ms']['p50']:,.1f} / {s['latency_ms']['p99']:,.1f} "
            f"| {shown(r['p99_over_p50'], '.2f')} | {s['errors']} | {s['shed']:,} | {c['requests_per_s']:,.1f} "
            f"| {c['latency_ms']['p50']:,.1f} / {c['latency_ms']['p99']:,.1f} | {c['errors']} "
            f"| {shown(r['percent_of_bare'], '.1f')} % | {s['server_cpu_ms_per_request']:.2f} / "
            f"{c['server_cpu_ms_per_request']:.2f} |"
        )
    return "\n".join(lines)


def goals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's goals, for single entries at 16 connections."""
    return [
        {
            "database": r["database"],
            "workers": r["workers"],
            "percent_of_bare": r["percent_of_bare"],
            "share_goal": GOAL_SHARE[r["database"]],
            "share_met": (r["percent_of_bare"] or 0) >= GOAL_SHARE[r["database"]],
            "p99_over_p50": r["p99_over_p50"],
            "tail_met": r["p99_over_p50"] is not None and r["p99_over_p50"] < GOAL_TAIL,
        }
        for r in rows
        if r["entries"] == 1 and r["connections"] == 16
    ]


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
    """Entries the server logged as scored (each scoring request's line says how many)."""
    total = 0
    with log.open("rb") as f:
        for line in f:
            if b'"entries"' in line:
                with contextlib.suppress(ValueError):
                    total += int(json.loads(line).get("entries", 0))
    return total


def facts(env: dict[str, str], cache: Path) -> dict[str, Any]:
    """The machine and the served model."""
    from model.scoring import Scorer

    scorer = Scorer.load(env["MLFLOW_TRACKING_URI"], "shipment-risk", "champion", cache)
    booster = scorer.model.booster
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    with psycopg.connect(ADMIN_URL) as conn:
        postgres = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.splitlines()
    return {
        "machine": {
            "cores": os.cpu_count(),
            "cpu": cpu,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "wrk": wrk_version,
            "postgresql": postgres,
        },
        "model": {
            "name": scorer.ref.name,
            "version": scorer.ref.version,
            "trees": booster.num_trees(),
            "features": booster.num_feature(),
            "revenue_trees": scorer.model.revenue.booster.num_trees() if scorer.model.revenue else None,
        },
        "code": {"commit": commit, "uncommitted": [line[3:] for line in changed]},  # what was measured
    }


def report(result: dict[str, Any], path: Path) -> bool:
    """Print what a run measured (`result`, as written to `path`); whether every point and store check passed."""
    points, checks = result["points"], result["stores"]
    m, model, rows, seconds = result["machine"], result["model"], result["scoring"], result["config"]["seconds"]
    print(
        f"\nHTTP scoring against the bare app: {m['cores']} cores ({m['cpu']}) shared by wrk, server and database; "
        f"load average {m['load_average_1_5_15_at_start'][0]:.2f} at start, {m['load_average_1_5_15_at_end'][0]:.2f} "
        f"at end; {model['name']} v{model['version']}: {model['trees']} trees, {model['features']} features; "
        f"{seconds:g} s per point\n"
    )
    print(table(rows))
    for g in result["goals"]:
        share, tail = ("met" if g[k] else "MISSED" for k in ("share_met", "tail_met"))
        print(
            f"goal, {g['database']}, {g['workers']} worker(s), single entry at 16 connections: "
            f"{shown(g['percent_of_bare'], '.1f')} % of the bare app ({share}: >= {g['share_goal']:g} %), "
            f"p99/p50 {shown(g['p99_over_p50'], '.2f')} ({tail}: < {GOAL_TAIL:g})"
        )
    failed = [p for p in points if p["errors"] or not p["requests"] or p["settle_s"] is None]
    for p in failed:
        print(
            f"!! FAILED: {p['database']}, {p['workers']} worker(s), {p['entries']} entries, {p['connections']} "
            f"conns, {p['endpoint']}: {p['requests']} answered in time, wrk {p['wrk_errors']}, server statuses "
            f"{p['server_statuses']}, settled after {p['settle_s']} s"
        )
    for c in checks:
        d = c["decisions"]
        print(
            f"decisions, {c['database']}: {d['rows']:,} rows for {d['entries_scored']:,} entries the server scored: "
            f"{'match' if d['match'] else '!! MISMATCH'}"
        )
        for s in c["servers"]:
            for kind, times in s["server_log_problems"]["by_kind"].items():
                why = " (requests in flight when wrk closed its connections)" if "ClientDisconnect" in kind else ""
                print(f"  server log ({c['database']}, {s['workers']} worker(s)), {times:,} x: {kind}{why}")
    print(f"wrote {path} in {result['config']['wall_seconds']:.0f} s")
    return not failed and all(c["decisions"]["match"] for c in checks)
