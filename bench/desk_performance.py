"""Measured success with a million recorded decisions: how fast GET /v1/performance and /desk/performance
answer, on SQLite and PostgreSQL.

    .venv/bin/python bench/desk_performance.py [--decisions 1000000] [--backends sqlite,postgres] [--repeat 20]
                                               [--json bench/results/desk_performance.json] [--workdir DIR] [--keep]

Needs a champion (`make model`). The goal: the performance page and the API under 300 ms p95 with a million
decisions stored.

1. Fill as bench/desk.py does (bench/desk_data.py: ~2,000 entries scored by the champion, a million decisions
   made from them over 90 days), then the outcomes: every entry a decision sent to an intervention, and one in
   500 of the released ones (an officer's referral), found violating or not as the generator's truth says, with
   its revenue, inspected 2 hours to 10 days after the decision. PostgreSQL is VACUUM ANALYZE'd.
2. Serve with uvicorn, one worker; sign in a reviewer key.
3. Time each URL --repeat times after 2 warm-ups: the API and the page over the last 7, 30 and 90 days; the
   first /metrics scrape (it computes the headline figures of the last 30 days) and a cached one. In process:
   the 30 days read from the daily counts (store/rollups.py), and the same window with bounds inside its days,
   which passes over the decisions; the raw queries' plans.
With --reuse, an existing SQLite file in --workdir (or --postgres-database) is timed without filling.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
from desk import GOAL_MS, serving, sign_in
from desk_data import MODEL, database, fill, templates
from desk_performance_sql import in_process
from desk_queue import stats, timed
from desk_report import machine
from serving import ROOT, SETUP_HINT
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from decisions import keys, migrate, store
from decisions.keys import Role
from model.scoring import Scorer
from service.web.auth import SESSION_COOKIE
from training.synth import SynthConfig, generate

REFERRED = 500  # one released entry in this many is inspected on an officer's referral


def add_outcomes(engine: Engine, frame: pd.DataFrame) -> dict[str, Any]:
    """The outcomes of the filled decisions (decision i is entry i of `frame`), as the generator's truth says."""
    began, rng, now = time.perf_counter(), np.random.default_rng(11), datetime.now(UTC)
    with Session(engine) as session:
        rows = session.execute(
            select(store.Decision.id, store.Decision.entry_id, store.Decision.decided_at, store.Decision.selection)
            .where(store.Decision.action != "release")
            .order_by(store.Decision.id)
        ).all()
        released = session.execute(
            select(store.Decision.id, store.Decision.entry_id, store.Decision.decided_at, store.Decision.selection)
            .where(store.Decision.action == "release", store.Decision.id % REFERRED == 0)
            .order_by(store.Decision.id)
        ).all()
    truth = frame.set_index("entry_id")[["truth_violation", "truth_violation_type", "truth_revenue_at_stake"]]
    outcomes = []
    for (id_, entry_id, decided_at, selection), officer in [(r, False) for r in rows] + [(r, True) for r in released]:
        violated, kind, revenue = truth.loc[entry_id]
        inspected = min(decided_at + timedelta(hours=float(rng.uniform(2, 240))), now)
        outcomes.append(
            {
                "entry_id": entry_id,
                "decision_id": id_,
                "inspected_at": inspected,
                "violation": bool(violated),
                "violation_types": [kind] if violated else [],
                "revenue_recovered": float(revenue) if violated else 0.0,
                "selected_by": "officer" if officer else (selection or "model"),
                "note": "",
                "digest": secrets.token_hex(8),
                "recorded_at": inspected,
                "recorded_by_key": "bench",
                "decided_at": decided_at,
            }
        )
    with Session(engine) as session:
        for at in range(0, len(outcomes), 10_000):
            session.execute(insert(store.Outcome), outcomes[at : at + 10_000])
        store.rollups.recount_days(session)  # written around the service: the daily counts as a migration makes them
        session.commit()
    return {"outcomes": len(outcomes), "referred": len(released), "seconds": round(time.perf_counter() - began, 1)}


def over_http(client: httpx.Client, api: httpx.Client, repeat: int) -> dict[str, Any]:
    """The API (`api`, a reviewer key) and the page (`client`, signed in) over 7, 30 and 90 days, and /metrics."""
    now = datetime.now(UTC)
    out: dict[str, Any] = {}
    for days in (7, 30, 90):
        window = f"from={(now - timedelta(days=days)).date()}&to={(now + timedelta(days=1)).date()}"
        for name, who, url in (
            (f"API, {days} days", api, f"/v1/performance?{window}"),
            (f"page, {days} days", client, f"/desk/performance?{window}"),
        ):
            out[name] = timed(who, [url] * repeat)
            out[name].pop("page")
            print(f"  {name}: p50 {out[name]['ms']['p50']:,.1f} ms, p95 {out[name]['ms']['p95']:,.1f}", flush=True)
    out |= scrapes(api, repeat)
    return out


def scrapes(api: httpx.Client, repeat: int) -> dict[str, Any]:
    """The first /metrics scrape (it computes the headline figures) and cached ones."""
    out: dict[str, Any] = {}
    began = time.perf_counter()
    first = api.get("/metrics")
    out["/metrics, first scrape (starts the 30 days in the background)"] = {
        "ms": round((time.perf_counter() - began) * 1000, 1)
    }
    cached = []
    for _ in range(repeat):
        began = time.perf_counter()
        api.get("/metrics")
        cached.append((time.perf_counter() - began) * 1000)
    out["/metrics, cached"] = {"ms": stats(cached)}
    out["metrics_lines"] = [line for line in first.text.splitlines() if line.startswith("targeting_performance")]
    return out


@contextmanager
def _database(kind: str, args: argparse.Namespace) -> Iterator[str]:
    """The database to time: a new one (bench/desk_data.py), or with --reuse the one kept by an earlier run."""
    if not args.reuse:
        with database(kind, args.workdir, args.keep) as (url, _):
            yield url
    elif kind == "sqlite":
        yield f"sqlite:///{args.workdir / 'desk-bench.db'}"
    else:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.postgres_database}"


def bench_backend(
    kind: str, frame: pd.DataFrame | None, made: list[Any], env: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with _database(kind, args) as url:
        engine = store.make_engine(url)
        try:
            if frame is not None:
                migrate.upgrade(engine)
                print(f"{kind}: filling {len(frame):,} decisions", flush=True)
                out["fill"] = fill(engine, frame, made)
                out["outcomes"] = add_outcomes(engine, frame)
                if kind == "postgres":
                    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                        conn.exec_driver_sql("VACUUM ANALYZE")
            with Session(engine) as session:
                key = keys.create(session, f"perf-bench-{secrets.token_hex(3)}", Role.REVIEWER, "bench")
                session.commit()
            out["in_process_30_days"] = in_process(engine, 30, args.repeat)
            print(f"  in process: {json.dumps({k: v for k, v in out['in_process_30_days'].items() if k != 'plans'})}")
            if not args.in_process_only:
                out |= timings(engine, kind, url, key, env, args, "")
        finally:
            engine.dispose()
    return out


def timings(
    engine: Engine, kind: str, url: str, key: str, env: dict[str, str], args: argparse.Namespace, suffix: str
) -> dict[str, Any]:
    log = args.workdir / f"serve-performance-{kind}{suffix}.log"
    with serving({**env, "DATABASE_URL": url}, log, 0) as base:
        cookie = {"cookie": f"{SESSION_COOKIE}={sign_in(base, key)}"}
        bearer = {"Authorization": f"Bearer {key}"}
        with (
            httpx.Client(base_url=base, timeout=900, headers=cookie) as client,
            httpx.Client(base_url=base, timeout=900, headers=bearer) as api,
        ):
            http = over_http(client, api, args.repeat)
    timed_urls = [n for n in http if n.startswith(("API", "page"))]
    slowest = max(timed_urls, key=lambda n: http[n]["ms"]["p95"])
    goal = {"slowest": slowest, "p95_ms": http[slowest]["ms"]["p95"], "met": http[slowest]["ms"]["p95"] < GOAL_MS}
    return {f"http{suffix}": http, f"goal{suffix}": goal}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per URL")
    parser.add_argument("--templates", type=int, default=2000, help="entries scored for real")
    parser.add_argument("--data", type=Path, default=ROOT / "data/entries.parquet", help="the trained history")
    parser.add_argument("--workdir", type=Path, help="for the SQLite file and logs (default: a temp dir in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--reuse", action="store_true", help="time the databases a --keep run left, unfilled")
    parser.add_argument("--postgres-database", help="with --reuse: the PostgreSQL database kept")
    parser.add_argument("--in-process-only", action="store_true", help="no HTTP timings")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(args.backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backends {sorted(unknown)}: sqlite, postgres")
    if args.reuse and (args.workdir is None or ("postgres" in args.backends and not args.postgres_database)):
        parser.error("--reuse needs --workdir (and --postgres-database for postgres)")
    return args


def main() -> None:
    args = arguments()
    if not args.data.exists():
        raise SystemExit(f"{args.data} is missing: {SETUP_HINT}")
    tracking = os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'mlruns/mlflow.db'}")
    made_workdir = args.workdir is None
    args.workdir = Path(tempfile.mkdtemp(prefix="perf-bench-", dir="/tmp")) if made_workdir else args.workdir
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking,
        "TARGETING_MODEL_POLL_SECONDS": "0",
        "TARGETING_DRIFT_REFRESH_SECONDS": "0",
        "TARGETING_MODEL_CACHE": str(args.workdir / "model-cache"),
        "OMP_NUM_THREADS": "1",
    }
    result: dict[str, Any] = {"decisions": args.decisions, "machine": machine(), "backends": {}}
    began = time.perf_counter()
    try:
        frame, made = None, []
        if not args.reuse:
            print(f"generating {args.decisions:,} entries; scoring {args.templates:,} with the champion", flush=True)
            frame = generate(SynthConfig(entries=args.decisions, seed=7))
            scorer = Scorer.load(tracking, MODEL, "champion", args.workdir / "model-cache")
            made = templates(scorer, args.data, frame, args.templates, args.workdir)
        for kind in args.backends:
            result["backends"][kind] = bench_backend(kind, frame, made, env, args)
    finally:
        if made_workdir and not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    result["wall_seconds"] = round(time.perf_counter() - began, 1)
    for kind, b in result["backends"].items():
        if "goal" in b:
            print(f"{kind}: slowest {b['goal']['slowest']} p95 {b['goal']['p95_ms']:,.1f} ms (goal {GOAL_MS:.0f} ms)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
