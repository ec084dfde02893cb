"""The reviewers' desk with a million recorded decisions: how fast its pages answer, on SQLite and PostgreSQL.

    .venv/bin/python bench/desk.py [--decisions 1000000] [--backends sqlite,postgres] [--repeat 20]
                                   [--json bench/results/desk.json] [--workdir DIR] [--keep]

Needs a champion (`make model`: data/entries.parquet and the registry in mlruns/). The issue's goal: a desk
page loads in under 300 ms with a million decisions stored, the queue fast through its indexes.

1. Fill: ~2,000 generated entries are scored by the champion (`decide(..., save=False)`, with the history
   profiles of data/entries.parquet loaded, as `targeting history load` does), giving real scores, bands,
   contributions, reasons and likely violations. Decision i takes the fields of generated entry i (training/
   synth.py, so importers and ports keep their real skew) and the outcome of template i % 2000; decided_at
   rises with i over the last 90 days. Inserted with `store.add_decisions`, 10,000 rows per transaction, into a
   database migrated to head: a SQLite file in --workdir (default: a temp dir under /tmp), or a throwaway
   PostgreSQL database at 127.0.0.1:5432 (VACUUM ANALYZE'd after the fill, as autovacuum would).
2. Serve: uvicorn, one worker, on that database; a reviewer key, signed in over HTTP (the Secure cookie is
   carried by hand, as tests/service/test_desk.py does).
3. Time each page with httpx over loopback, --repeat times after 2 warm-ups: the queue unfiltered, under
   each filter, under two, 50 pages deep and the page before it; entry pages of random entries; the model
   page after one timed drift computation (GET /v1/monitoring/drift?refresh=true). Each queue query's plan:
   the exact SQL `store.desk.queue` runs (captured in process) under EXPLAIN (QUERY PLAN).
4. Without the desk's indexes (migration 0003): dropped, four queue queries timed --no-index-repeat times,
   then recreated, timing each index's creation.

The service runs with TARGETING_DRIFT_REFRESH_SECONDS=0 (--drift-refresh-seconds), so that no background drift
computation competes with the timings: the model page then reads the report the timed refresh left. With a
period, the bench waits out the computation the service starts with.
Prints markdown tables and writes the JSON; the server is stopped, and the databases removed unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from desk_accounts import account_pages, load_accounts
from desk_data import CHUNK, DAYS, MODEL, database, fill, picked, sizes, templates
from desk_queue import (
    deep_pages,
    explain,
    queue_cases,
    queue_sql,
    timed,
    without_indexes,
)
from desk_report import machine, tables
from serving import BIN, ROOT, SETUP_HINT, problems, uvicorn
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from decisions import keys, migrate, store
from decisions.keys import Role
from model.scoring import Scorer
from service.web.auth import SESSION_COOKIE, SIGN_IN_COOKIE
from training.synth import SynthConfig, generate

GOAL_MS = 300.0
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


# ---- serve and time --------------------------------------------------------------------------------------------


@contextmanager
def serving(env: dict[str, str], log: Path, drift_refresh: float) -> Iterator[str]:
    """uvicorn with one worker on the database; its base URL, once ready and done with its first drift report."""
    with uvicorn("service.app:app_from_env", 1, env, log) as (port, _):
        deadline = time.monotonic() + 600
        while drift_refresh > 0 and time.monotonic() < deadline:
            said = log.read_text()
            if "drift computed" in said or "drift computation failed" in said:
                break
            time.sleep(0.5)  # the background drift computation at start must not compete with the timings
        yield f"http://127.0.0.1:{port}"


def _cookie(response: httpx.Response, name: str) -> str:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise SystemExit(f"no {name} cookie in the answer ({response.status_code}): {response.text[:300]}")


def sign_in(base: str, key: str) -> str:
    """The desk session cookie of a reviewer key, signed in through the form."""
    with httpx.Client(base_url=base, timeout=60) as anon:
        form = anon.get("/desk/sign-in")
        token = CSRF.search(form.text)
        if token is None:
            raise SystemExit(f"no CSRF token on the sign-in form ({form.status_code})")
        made = anon.post(
            "/desk/sign-in",
            data={"key": key, "csrf": token.group(1), "next": "/desk/queue"},
            headers={"cookie": f"{SIGN_IN_COOKIE}={_cookie(form, SIGN_IN_COOKIE)}"},
        )
    if made.status_code != 303:
        raise SystemExit(f"sign-in answered {made.status_code}: {made.text[:300]}")
    return _cookie(made, SESSION_COOKIE)


def bench_backend(
    kind: str,
    frame: pd.DataFrame,
    made: list[store.DecisionRecord],
    facts: dict[str, Any],
    env: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    out: dict[str, Any] = {"load_average_1m_at_start": os.getloadavg()[0]}
    with database(kind, args.workdir, args.keep) as (url, path):
        engine = store.make_engine(url)
        try:
            migrate.upgrade(engine)
            print(f"{kind}: filling {len(frame):,} decisions", flush=True)
            out["fill"] = fill(engine, frame, made)
            if kind == "postgres":
                began = time.perf_counter()
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE decisions")
                out["fill"]["vacuum_analyze_seconds"] = round(time.perf_counter() - began, 1)
            out["accounts"] = load_accounts(engine, frame)
            out["size"] = sizes(engine, path)
            with Session(engine) as session:
                key = keys.create(session, f"desk-bench-{secrets.token_hex(3)}", Role.REVIEWER, "bench/desk.py")
                session.commit()
            log = args.workdir / f"serve-{kind}.log"
            served = {**env, "DATABASE_URL": url}
            with serving(served, log, args.drift_refresh_seconds) as base:
                cookie = {"cookie": f"{SESSION_COOKIE}={sign_in(base, key)}"}
                with httpx.Client(base_url=base, timeout=900, headers=cookie) as client:
                    out |= pages(engine, client, base, key, facts, args, frame)
                out["server_log_problems"] = problems(log)
        finally:
            engine.dispose()
    out["load_average_1m_at_end"] = os.getloadavg()[0]
    return out


def pages(
    engine: Engine,
    client: httpx.Client,
    base: str,
    key: str,
    facts: dict[str, Any],
    args: argparse.Namespace,
    frame: pd.DataFrame,
) -> dict[str, Any]:
    """Every timing against the running service."""
    urls = queue_cases(facts)
    urls["deep page (51st)"], urls["page before the deep page"] = deep_pages(client, args.depth)
    queue: dict[str, Any] = {}
    sql: dict[str, tuple[str, Any]] = {}
    for name, url in urls.items():
        queue[name] = timed(client, [url] * args.repeat)
        queue[name].pop("page")
        sql[name], queue[name]["in_process_query_ms_p50"] = queue_sql(engine, url, 5)
        queue[name] |= explain(engine, sql[name])
        q = queue[name]
        print(
            f"  {name}: p50 {q['ms']['p50']:,.1f} ms, p95 {q['ms']['p95']:,.1f}, {q['rows']} rows; {q['summary']}",
            flush=True,
        )
    began = time.perf_counter()
    drift = httpx.get(
        f"{base}/v1/monitoring/drift?refresh=true", headers={"Authorization": f"Bearer {key}"}, timeout=900
    )
    drift_ms = (time.perf_counter() - began) * 1000
    if drift.status_code != 200:
        raise SystemExit(f"drift answered {drift.status_code}: {drift.text[:300]}")
    entries = [f"/desk/entries/{i}" for i in facts["entry_ids"]]
    for url in entries[:2]:  # warm-ups, other entries than the timed ones
        client.get(url)
    other = {
        "entry page (random entries)": timed(client, entries[2:], warmup=0),
        "model page": timed(client, ["/desk/model"] * args.repeat),
    }
    for page in other.values():
        page.pop("page")
    accounts = account_pages(base, key, client, frame, args.repeat, args.depth // 2)
    other |= accounts.pop("pages")
    print(
        f"  drift computation {drift_ms:,.0f} ms over {drift.json()['decisions']:,} decisions; entry page p50 "
        f"{other['entry page (random entries)']['ms']['p50']:,.1f} ms; model page p50 "
        f"{other['model page']['ms']['p50']:,.1f} ms",
        flush=True,
    )
    no_index, created = without_indexes(engine, client, urls, sql, args.no_index_repeat)
    shown = {**queue, **other}
    slowest = max(shown, key=lambda n: shown[n]["ms"]["p95"])
    return {
        "queue": queue,
        "pages": other,
        "drift_computation": {"ms": round(drift_ms, 1), "decisions": drift.json()["decisions"]},
        "account_data": accounts,
        "without_indexes": no_index,
        "index_creation_seconds": {**created, "total": round(sum(created.values()), 2)},
        "goal": {
            "page_p95_under_ms": GOAL_MS,
            "slowest_page": slowest,
            "slowest_p95_ms": shown[slowest]["ms"]["p95"],
            "met": shown[slowest]["ms"]["p95"] < GOAL_MS,
        },
    }


def arguments() -> tuple[argparse.Namespace, list[str]]:
    """The command line, and the backends it names."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page")
    parser.add_argument("--no-index-repeat", type=int, default=3, help="timed requests per page without indexes")
    parser.add_argument("--depth", type=int, default=50, help="pages followed to the deep page")
    parser.add_argument("--templates", type=int, default=2000, help="entries scored for real")
    parser.add_argument(
        "--drift-refresh-seconds",
        type=float,
        default=0.0,
        help="TARGETING_DRIFT_REFRESH_SECONDS of the service (0: only when asked)",
    )
    parser.add_argument("--data", type=Path, default=ROOT / "data/entries.parquet", help="the trained history")
    parser.add_argument("--workdir", type=Path, help="for the SQLite file and logs (default: a temp dir in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backends {sorted(unknown)}: sqlite, postgres")
    return args, backends


def main() -> None:
    args, backends = arguments()
    if not args.data.exists():
        raise SystemExit(f"{args.data} is missing: {SETUP_HINT}")
    tracking = os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'mlruns/mlflow.db'}")
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": tracking,
        "TARGETING_MODEL_POLL_SECONDS": "0",
        "TARGETING_DRIFT_REFRESH_SECONDS": str(args.drift_refresh_seconds),
        "OMP_NUM_THREADS": "1",
    }
    if subprocess.run([str(BIN / "targeting"), "champion"], capture_output=True, env=env, cwd=ROOT).returncode:
        raise SystemExit(f"no champion in {tracking}: {SETUP_HINT}")

    made_workdir = args.workdir is None
    args.workdir = Path(tempfile.mkdtemp(prefix="desk-bench-", dir="/tmp")) if made_workdir else args.workdir
    args.workdir.mkdir(parents=True, exist_ok=True)
    need = args.decisions * 8 * 1024 * len(backends)  # ~6 KB a row, and its indexes
    free = shutil.disk_usage(args.workdir).free
    if free < need:
        raise SystemExit(f"{free / 2**30:.0f} GiB free in {args.workdir}, about {need / 2**30:.0f} GiB needed")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    env["TARGETING_MODEL_CACHE"] = str(args.workdir / "model-cache")
    result: dict[str, Any] = {"decisions": args.decisions, "machine": machine(), "backends": {}}
    began = time.perf_counter()
    try:
        print(f"generating {args.decisions:,} entries; scoring {args.templates:,} with the champion", flush=True)
        frame = generate(SynthConfig(entries=args.decisions, seed=7))
        scorer = Scorer.load(tracking, MODEL, "champion", args.workdir / "model-cache")
        made = templates(scorer, args.data, frame, args.templates, args.workdir)
        facts, result["data"] = picked(frame, args.repeat)
        result["data"] |= {"model": f"{scorer.ref.name} v{scorer.ref.version}", "templates": len(made)}
        for kind in backends:
            result["backends"][kind] = bench_backend(kind, frame, made, facts, env, args)
    finally:
        if made_workdir and not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    result["machine"]["load_average_1_5_15_at_end"] = list(os.getloadavg())
    result["config"] = {
        "repeat": args.repeat,
        "no_index_repeat": args.no_index_repeat,
        "depth": args.depth,
        "drift_refresh_seconds": args.drift_refresh_seconds,
        "chunk": CHUNK,
        "days": DAYS,
        "wall_seconds": round(time.perf_counter() - began, 1),
    }
    m = result["machine"]
    print(
        f"\nThe desk with {args.decisions:,} decisions: {m['cores']} cores ({m['cpu']}), load average "
        f"{m['load_average_1_5_15_at_start'][0]:.2f} at start, {m['load_average_1_5_15_at_end'][0]:.2f} at end; "
        f"{result['data']['model']}; {args.repeat} requests per page after 2 warm-ups\n"
    )
    print(tables(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json} in {result['config']['wall_seconds']:,.0f} s")


if __name__ == "__main__":
    main()
