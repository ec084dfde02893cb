"""The queue's side of bench/desk.py: timing pages over HTTP, the exact SQL of each queue query and its plan, and
the queue without the desk's indexes."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from decisions import store
from decisions.store import desk
from service.settings import Settings
from service.web.pages import queue_filter

# the indexes migration 0003 creates (decisions/migrations/versions/0003_reviewer_desk.py)
DESK_INDEXES = (
    "ix_decisions_decided_at",
    "ix_decisions_score",
    *(f"ix_decisions_{c}_score" for c in store.QUEUE_FILTERS),
)
NO_INDEX_CASES = ("first page", "importer (busy)", "violation=undervaluation", "3 days, 30 days ago")
ROW = re.compile(r'<tr class="band-')


def link(page: str, rel: str) -> str:
    found = re.search(rf'href="([^"]+)" rel="{rel}"', page)
    if found is None:
        raise SystemExit(f"no rel={rel} link on the page")
    return html.unescape(found.group(1))


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
    return {
        "url": str(httpx.URL(urls[0]).raw_path.decode()),
        "n": len(ms),
        "ms": stats(ms),
        "rows": len(ROW.findall(last.text)),
        "bytes": len(last.content),
        "page": last.text,
    }


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


def without_indexes(
    engine: Engine, client: httpx.Client, urls: dict[str, str], sql: dict[str, tuple[str, Any]], repeat: int
) -> tuple[dict[str, Any], dict[str, float]]:
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
