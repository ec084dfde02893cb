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
import html
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import subprocess
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
import psutil
import psycopg
from soak import ADMIN_URL, BIN, ROOT, SETUP_HINT, free_port, problems, stop, wait_ready
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from decisions import keys, migrate, store
from decisions.decide import PolicyInForce, decide, digest
from decisions.keys import Role
from decisions.policy import Policy
from decisions.store import desk
from features.history import HistoryProfiles
from features.pipeline import entry_payloads, prepare
from features.schema import Entry
from model.scoring import Scorer
from service.settings import Settings
from service.web.auth import SESSION_COOKIE, SIGN_IN_COOKIE
from service.web.pages import queue_filter
from training.data import read_table, validate
from training.synth import SynthConfig, generate

MODEL = "shipment-risk"
GOAL_MS = 300.0
DAYS = 90
CHUNK = 10_000
# the indexes migration 0003 creates (decisions/migrations/versions/0003_reviewer_desk.py)
DESK_INDEXES = ("ix_decisions_decided_at", "ix_decisions_score",
                *(f"ix_decisions_{c}_score" for c in store.QUEUE_FILTERS))  # fmt: skip
PER_ENTRY = ("entry_id", "decided_at", "request_id", "entry", "entry_digest", "importer_id", "port_of_entry")
NO_INDEX_CASES = ("first page", "importer (busy)", "violation=undervaluation", "3 days, 30 days ago")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
ROW = re.compile(r'<tr class="band-')


def link(page: str, rel: str) -> str:
    found = re.search(rf'href="([^"]+)" rel="{rel}"', page)
    if found is None:
        raise SystemExit(f"no rel={rel} link on the page")
    return html.unescape(found.group(1))


# ---- fill ------------------------------------------------------------------------------------------------------


def templates(scorer: Scorer, data: Path, frame: pd.DataFrame, count: int, folder: Path) -> list[dict[str, Any]]:
    """Decisions of `count` generated entries by the champion, through the service's own `decide` (nothing
    written), on a scratch database holding the trained history's profiles and the default policy."""
    spec = scorer.pipeline.spec
    history = prepare(validate(read_table(data), spec), spec)
    engine = store.make_engine(f"sqlite:///{folder / 'templates.db'}")
    migrate.upgrade(engine)
    policy = Policy()
    picked = frame.sample(min(count, len(frame)), random_state=3)
    entries = [Entry.model_validate(p) for p in entry_payloads(picked)]
    out: list[dict[str, Any]] = []
    with Session(engine) as session:
        store.replace_profiles(session, HistoryProfiles.from_frame(history, spec, pd.Timestamp.now(tz="UTC")).counts)
        version = store.add_policy(session, policy.model_dump(mode="json"), "bench", "desk templates").version
        session.commit()
        rules = PolicyInForce(version, policy, b"desk-bench-secret")
        top = Settings.model_fields["top_reasons"].default
        for at in range(0, len(entries), 500):
            decided, _ = decide(session, scorer, rules, entries[at : at + 500], "desk-templates", top, save=False)
            out += [{k: v for k, v in d.items() if k not in PER_ENTRY} for d in decided]
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{folder / 'templates.db'}{suffix}").unlink(missing_ok=True)
    return out


def chunk_rows(frame: pd.DataFrame, start: int, stop_: int, made: list[dict[str, Any]], now: datetime,
               rng: np.random.Generator) -> list[dict[str, Any]]:  # fmt: skip
    """Decision rows start..stop_-1: entry i's fields, template i's outcome, decided_at rising over DAYS days."""
    n, span = len(frame), timedelta(days=DAYS).total_seconds()
    offsets = (np.arange(start, stop_) + rng.random(stop_ - start)) / n * span
    first = now - timedelta(days=DAYS)
    rows = []
    for i, payload, offset in zip(range(start, stop_), entry_payloads(frame.iloc[start:stop_]), offsets):
        fields = Entry.model_validate(payload).model_dump(mode="json")
        rows.append({**made[i % len(made)], "entry_id": fields["entry_id"], "entry": fields,
                     "decided_at": first + timedelta(seconds=float(offset)), "request_id": f"desk-bench-{i // 100}",
                     "entry_digest": digest(fields), "importer_id": fields["importer_id"],
                     "port_of_entry": fields["port_of_entry"]})  # fmt: skip
    return rows


def fill(engine: Engine, frame: pd.DataFrame, made: list[dict[str, Any]]) -> dict[str, Any]:
    """Every decision row, CHUNK per transaction; seconds spent building rows and inserting them."""
    now, rng = datetime.now(UTC), np.random.default_rng(5)
    built = inserted = 0.0
    began = time.perf_counter()
    for start in range(0, len(frame), CHUNK):
        t0 = time.perf_counter()
        rows = chunk_rows(frame, start, min(start + CHUNK, len(frame)), made, now, rng)
        t1 = time.perf_counter()
        with Session(engine) as session:
            store.add_decisions(session, rows)
            session.commit()
        built, inserted = built + t1 - t0, inserted + time.perf_counter() - t1
        done = start + len(rows)
        if done % (CHUNK * 10) == 0 or done == len(frame):
            print(f"  {done:,} rows in {time.perf_counter() - began:,.0f} s", flush=True)
    total = time.perf_counter() - began
    return {"rows": len(frame), "seconds": round(total, 1), "build_rows_seconds": round(built, 1),
            "insert_seconds": round(inserted, 1), "rows_per_s": round(len(frame) / total)}  # fmt: skip


def sizes(engine: Engine, path: Path | None) -> dict[str, Any]:
    """The database's size on disk (SQLite: file and WAL after a checkpoint; PostgreSQL: database, table, indexes)."""
    if path is not None:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = Path(f"{path}-wal")
        total = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        return {"database_bytes": total}
    with engine.connect() as conn:
        row = conn.execute(text("SELECT pg_database_size(current_database()), pg_total_relation_size('decisions'), "
                                "pg_indexes_size('decisions')")).one()  # fmt: skip
    return {"database_bytes": row[0], "decisions_bytes": row[1], "decisions_indexes_bytes": row[2]}


@contextmanager
def database(kind: str, folder: Path, keep: bool) -> Iterator[tuple[str, Path | None]]:
    """An empty database and, for SQLite, its file; removed on the way out unless `keep`."""
    if kind == "sqlite":
        path = folder / "desk-bench.db"
        try:
            yield f"sqlite:///{path}", path
        finally:
            for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                if not keep:
                    p.unlink(missing_ok=True)
        return
    name = f"bench_desk_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", None
    finally:
        if keep:
            print(f"kept PostgreSQL database {name}")
        else:
            with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---- serve and time --------------------------------------------------------------------------------------------


@contextmanager
def serving(env: dict[str, str], log: Path, drift_refresh: float) -> Iterator[str]:
    """uvicorn with one worker on the database; its base URL, once ready and done with its first drift report."""
    port = free_port()
    with log.open("ab") as sink:
        server = subprocess.Popen(
            [str(BIN / "uvicorn"), "--factory", "service.app:app_from_env", "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", "--no-access-log"], env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_ready(port, server, log)
        deadline = time.monotonic() + 600
        while drift_refresh > 0 and time.monotonic() < deadline:
            said = log.read_text()
            if "drift computed" in said or "drift computation failed" in said:
                break
            time.sleep(0.5)  # the background drift computation at start must not compete with the timings
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(server)


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
        made = anon.post("/desk/sign-in", data={"key": key, "csrf": token.group(1), "next": "/desk/queue"},
                         headers={"cookie": f"{SIGN_IN_COOKIE}={_cookie(form, SIGN_IN_COOKIE)}"})  # fmt: skip
    if made.status_code != 303:
        raise SystemExit(f"sign-in answered {made.status_code}: {made.text[:300]}")
    return _cookie(made, SESSION_COOKIE)


def stats(ms: list[float]) -> dict[str, float]:
    p50, p95 = np.percentile(ms, [50, 95])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "max": round(max(ms), 1)}


def timed(client: httpx.Client, urls: list[str], warmup: int = 2) -> dict[str, Any]:
    """GET each of `urls` in turn after `warmup` uncounted GETs of the first; milliseconds, each answer 200."""
    ms, last = [], None
    for i, url in enumerate([urls[0]] * warmup + urls):
        began = time.perf_counter()
        last = client.get(url)
        elapsed = (time.perf_counter() - began) * 1000
        if last.status_code != 200:
            raise SystemExit(f"GET {url} answered {last.status_code}: {last.text[:300]}")
        if i >= warmup:
            ms.append(elapsed)
    assert last is not None
    return {"url": str(httpx.URL(urls[0]).raw_path.decode()), "n": len(ms), "ms": stats(ms),
            "rows": len(ROW.findall(last.text)), "bytes": len(last.content), "page": last.text}  # fmt: skip


# ---- the queue's SQL and plans ---------------------------------------------------------------------------------


def _cursor(value: str | None) -> tuple[float, int] | None:
    if not value:
        return None
    score, _, id_ = value.partition(":")
    return float(score), int(id_)


def queue_sql(engine: Engine, url: str, repeat: int) -> tuple[tuple[str, Any], float]:
    """The statement `desk.queue` runs for the page at `url` (as the driver receives it), and its median time in
    process over `repeat` runs (the database and SQLAlchemy, no HTTP or template)."""
    params = dict(httpx.URL(url).params)
    where, errors = queue_filter(params)
    if errors:
        raise SystemExit(f"{url}: {errors}")
    size = Settings.model_fields["queue_page_size"].default
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with Session(engine) as session:
            desk.queue(session, where, size, _cursor(params.get("after")), _cursor(params.get("before")))
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    ms = []
    for _ in range(repeat):
        with Session(engine) as session:
            began = time.perf_counter()
            desk.queue(session, where, size, _cursor(params.get("after")), _cursor(params.get("before")))
            ms.append((time.perf_counter() - began) * 1000)
    statement = next(s for s in seen if "ORDER BY decisions.score" in s[0])  # the page itself, not its count
    return statement, round(float(np.median(ms)), 2) if ms else float("nan")


def explain(engine: Engine, sql: tuple[str, Any]) -> dict[str, Any]:
    """The plan of a captured statement: its lines, the indexes it uses, and a one-line summary."""
    statement, parameters = sql
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            lines = [str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)]
            used = re.findall(r"USING (?:COVERING )?INDEX (\w+)", " ".join(lines))
            return {"plan": lines, "indexes": used, "summary": "; ".join(lines)}
        lines = [str(r[0]) for r in conn.exec_driver_sql(f"EXPLAIN {statement}", parameters)]
    used = re.findall(r" using (\w+)", " ".join(lines))
    nodes = [re.sub(r"^\s*->\s*|\s*\(cost=[^)]*\)", "", line) for line in lines if "cost=" in line]
    return {"plan": lines, "indexes": used, "summary": " > ".join(nodes)}


# ---- one backend -----------------------------------------------------------------------------------------------


def queue_cases(facts: dict[str, Any]) -> dict[str, str]:
    today = datetime.now(UTC).date()
    since, until = today - timedelta(days=32), today - timedelta(days=30)  # `until` is inclusive: three days
    month = today - timedelta(days=60), today - timedelta(days=31)
    return {
        "first page": "/desk/queue",
        "action=physical_exam": "/desk/queue?action=physical_exam",
        "band=high": "/desk/queue?band=high",
        "violation=undervaluation": "/desk/queue?violation=undervaluation",
        f"port={facts['port']} (common)": f"/desk/queue?port={facts['port']}",
        "importer (busy)": f"/desk/queue?importer={facts['busy_importer']}",
        "importer (rare)": f"/desk/queue?importer={facts['rare_importer']}",
        "3 days, 30 days ago": f"/desk/queue?since={since}&until={until}",
        "last 30 days": f"/desk/queue?since={today - timedelta(days=30)}",
        "30 days, 60 to 31 days ago": f"/desk/queue?since={month[0]}&until={month[1]}",
        "band=high + violation=undervaluation": "/desk/queue?band=high&violation=undervaluation",
    }


def deep_pages(client: httpx.Client, depth: int) -> tuple[str, str]:
    """The URL of the page `depth` pages after the first (following rel=next), and of the page before it."""
    url = "/desk/queue"
    for _ in range(depth):
        answer = client.get(url)
        if answer.status_code != 200:
            raise SystemExit(f"GET {url} answered {answer.status_code}")
        url = link(answer.text, "next")
    return url, link(client.get(url).text, "prev")


def without_indexes(engine: Engine, client: httpx.Client, urls: dict[str, str], sql: dict[str, tuple[str, Any]],
                    repeat: int) -> tuple[dict[str, Any], dict[str, float]]:  # fmt: skip
    """Drop the desk's indexes, time and explain some queue pages, recreate them; the pages, each index's
    creation in seconds."""
    indexes = [i for i in store.Base.metadata.tables["decisions"].indexes if i.name in DESK_INDEXES]
    if len(indexes) != len(DESK_INDEXES):
        raise SystemExit(f"the Decision table declares {[i.name for i in indexes]}, not all of {DESK_INDEXES}")
    with engine.begin() as conn:
        for index in indexes:
            index.drop(conn)
    engine.dispose()  # SQLite's cached EXPLAIN statements do not notice a schema change: plan on new connections
    pages: dict[str, Any] = {}
    try:
        for name in NO_INDEX_CASES:
            pages[name] = {**timed(client, [urls[name]] * repeat, warmup=1), **explain(engine, sql[name])}
            pages[name].pop("page")
            print(f"  without indexes, {name}: p50 {pages[name]['ms']['p50']:,.0f} ms", flush=True)
    finally:
        created: dict[str, float] = {}
        for index in indexes:
            with engine.begin() as conn:
                began = time.perf_counter()
                index.create(conn)
                created[str(index.name)] = round(time.perf_counter() - began, 2)
        engine.dispose()
    return pages, created


def bench_backend(kind: str, frame: pd.DataFrame, made: list[dict[str, Any]], facts: dict[str, Any],
                  env: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
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
            out["size"] = sizes(engine, path)
            with Session(engine) as session:
                key = keys.create(session, f"desk-bench-{secrets.token_hex(3)}", Role.REVIEWER, "bench/desk.py")
                session.commit()
            log = args.workdir / f"serve-{kind}.log"
            served = {**env, "DATABASE_URL": url}
            with serving(served, log, args.drift_refresh_seconds) as base:
                cookie = {"cookie": f"{SESSION_COOKIE}={sign_in(base, key)}"}
                with httpx.Client(base_url=base, timeout=900, headers=cookie) as client:
                    out |= pages(engine, client, base, key, facts, args)
                out["server_log_problems"] = problems(log)
        finally:
            engine.dispose()
    out["load_average_1m_at_end"] = os.getloadavg()[0]
    return out


def pages(engine: Engine, client: httpx.Client, base: str, key: str, facts: dict[str, Any],
          args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
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
        print(f"  {name}: p50 {q['ms']['p50']:,.1f} ms, p95 {q['ms']['p95']:,.1f}, {q['rows']} rows; "
              f"{q['summary']}", flush=True)  # fmt: skip
    began = time.perf_counter()
    drift = httpx.get(f"{base}/v1/monitoring/drift?refresh=true", headers={"Authorization": f"Bearer {key}"},
                      timeout=900)  # fmt: skip
    drift_ms = (time.perf_counter() - began) * 1000
    if drift.status_code != 200:
        raise SystemExit(f"drift answered {drift.status_code}: {drift.text[:300]}")
    entries = [f"/desk/entries/{i}" for i in facts["entry_ids"]]
    for url in entries[:2]:  # warm-ups, other entries than the timed ones
        client.get(url)
    other = {"entry page (random entries)": timed(client, entries[2:], warmup=0),
             "model page": timed(client, ["/desk/model"] * args.repeat)}  # fmt: skip
    for page in other.values():
        page.pop("page")
    print(f"  drift computation {drift_ms:,.0f} ms over {drift.json()['decisions']:,} decisions; entry page p50 "
          f"{other['entry page (random entries)']['ms']['p50']:,.1f} ms; model page p50 "
          f"{other['model page']['ms']['p50']:,.1f} ms", flush=True)  # fmt: skip
    no_index, created = without_indexes(engine, client, urls, sql, args.no_index_repeat)
    shown = {**queue, **other}
    slowest = max(shown, key=lambda n: shown[n]["ms"]["p95"])
    return {
        "queue": queue, "pages": other,
        "drift_computation": {"ms": round(drift_ms, 1), "decisions": drift.json()["decisions"]},
        "without_indexes": no_index,
        "index_creation_seconds": {**created, "total": round(sum(created.values()), 2)},
        "goal": {"page_p95_under_ms": GOAL_MS, "slowest_page": slowest, "slowest_p95_ms": shown[slowest]["ms"]["p95"],
                 "met": shown[slowest]["ms"]["p95"] < GOAL_MS},
    }  # fmt: skip


# ---- report ----------------------------------------------------------------------------------------------------


def _ms(m: dict[str, float]) -> str:
    return f"{m['p50']:,.1f} / {m['p95']:,.1f} / {m['max']:,.1f}"


def tables(result: dict[str, Any]) -> str:
    kinds = list(result["backends"])
    rule = "|---|" + "---|---|" * len(kinds)
    out = ["| page | " + " | ".join(f"{k} p50 / p95 / max ms | {k} query in process, ms | {k} plan" for k in kinds)
           + " |", "|---|" + "---|---|---|" * len(kinds)]  # fmt: skip
    first = result["backends"][kinds[0]]
    for name in [*first["queue"], *first["pages"]]:
        cells = []
        for k in kinds:
            b = result["backends"][k]
            page = b["queue"].get(name) or b["pages"][name]
            cells.append(f"{_ms(page['ms'])} | {page.get('in_process_query_ms_p50', '')} | {page.get('summary', '')}")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "| without the desk indexes | " + " | ".join(f"{k} p50 with / without ms | {k} plan without"
                                                              for k in kinds) + " |", rule]  # fmt: skip
    for name in NO_INDEX_CASES:
        cells = [f"{result['backends'][k]['queue'][name]['ms']['p50']:,.1f} / "
                 f"{result['backends'][k]['without_indexes'][name]['ms']['p50']:,.1f} | "
                 f"{result['backends'][k]['without_indexes'][name]['summary']}" for k in kinds]  # fmt: skip
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "| | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    facts = {
        "fill (build rows + insert)": lambda b: f"{b['fill']['seconds']:,.0f} s ({b['fill']['build_rows_seconds']:,.0f}"
        f" + {b['fill']['insert_seconds']:,.0f}), {b['fill']['rows_per_s']:,} rows/s",
        "VACUUM ANALYZE after the fill": lambda b: f"{b['fill'].get('vacuum_analyze_seconds', '-')} s",
        "database size": lambda b: f"{b['size']['database_bytes'] / 2**30:,.2f} GiB",
        "drift computation (GET /v1/monitoring/drift?refresh=true)": lambda b: f"{b['drift_computation']['ms']:,.0f} ms"
        f" over {b['drift_computation']['decisions']:,} decisions",
        "recreating the desk indexes": lambda b: f"{b['index_creation_seconds']['total']:,.1f} s",
        "slowest page p95 (goal < 300 ms)": lambda b: f"{b['goal']['slowest_p95_ms']:,.1f} ms "
        f"({b['goal']['slowest_page']}): {'met' if b['goal']['met'] else 'MISSED'}",
        "load average (1 min) at start / end": lambda b: f"{b['load_average_1m_at_start']:.2f} / "
        f"{b['load_average_1m_at_end']:.2f}",
    }  # fmt: skip
    for label, show in facts.items():
        out.append(f"| {label} | " + " | ".join(show(result["backends"][k]) for k in kinds) + " |")
    return "\n".join(out)


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    with psycopg.connect(ADMIN_URL) as conn:
        postgres = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    changed = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.splitlines()
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "sqlite": sqlite3.sqlite_version, "postgresql": postgres,
            "load_average_1_5_15_at_start": list(os.getloadavg()), "commit": commit,
            "uncommitted": [line[3:] for line in changed]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated: sqlite, postgres")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per page")
    parser.add_argument("--no-index-repeat", type=int, default=3, help="timed requests per page without indexes")
    parser.add_argument("--depth", type=int, default=50, help="pages followed to the deep page")
    parser.add_argument("--templates", type=int, default=2000, help="entries scored for real")
    parser.add_argument("--drift-refresh-seconds", type=float, default=0.0,
                        help="TARGETING_DRIFT_REFRESH_SECONDS of the service (0: only when asked)")  # fmt: skip
    parser.add_argument("--data", type=Path, default=ROOT / "data/entries.parquet", help="the trained history")
    parser.add_argument("--workdir", type=Path, help="for the SQLite file and logs (default: a temp dir in /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - {"sqlite", "postgres"}:
        parser.error(f"unknown backends {sorted(unknown)}: sqlite, postgres")
    if not args.data.exists():
        raise SystemExit(f"{args.data} is missing: {SETUP_HINT}")
    tracking = os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{ROOT / 'mlruns/mlflow.db'}")
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "TARGETING_MODEL_POLL_SECONDS": "0",
           "TARGETING_DRIFT_REFRESH_SECONDS": str(args.drift_refresh_seconds), "OMP_NUM_THREADS": "1"}  # fmt: skip
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
        counts = frame["importer_id"].value_counts()
        ids = frame["entry_id"].to_numpy()[np.random.default_rng(9).choice(len(frame), args.repeat + 2, False)]
        facts = {"port": str(frame["port_of_entry"].value_counts().idxmax()), "busy_importer": str(counts.idxmax()),
                 "rare_importer": str(counts.index[-1]), "entry_ids": [str(i) for i in ids]}  # fmt: skip
        result["data"] = {"model": f"{scorer.ref.name} v{scorer.ref.version}", "templates": len(made),
                          "importers": len(counts), "busy_importer_decisions": int(counts.iloc[0]),
                          "rare_importer_decisions": int(counts.iloc[-1]),
                          **{k: v for k, v in facts.items() if k != "entry_ids"}}  # fmt: skip
        for kind in backends:
            result["backends"][kind] = bench_backend(kind, frame, made, facts, env, args)
    finally:
        if made_workdir and not args.keep:
            shutil.rmtree(args.workdir, ignore_errors=True)
    result["machine"]["load_average_1_5_15_at_end"] = list(os.getloadavg())
    result["config"] = {"repeat": args.repeat, "no_index_repeat": args.no_index_repeat, "depth": args.depth,
                        "drift_refresh_seconds": args.drift_refresh_seconds, "chunk": CHUNK, "days": DAYS,
                        "wall_seconds": round(time.perf_counter() - began, 1)}  # fmt: skip
    m = result["machine"]
    print(f"\nThe desk with {args.decisions:,} decisions: {m['cores']} cores ({m['cpu']}), load average "
          f"{m['load_average_1_5_15_at_start'][0]:.2f} at start, {m['load_average_1_5_15_at_end'][0]:.2f} at end; "
          f"{result['data']['model']}; {args.repeat} requests per page after 2 warm-ups\n")  # fmt: skip
    print(tables(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json} in {result['config']['wall_seconds']:,.0f} s")


if __name__ == "__main__":
    main()
