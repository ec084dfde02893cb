"""The in-process side of bench/desk_performance.py: the store's queries for a window timed without HTTP, their
plans, and the same queries as they would run with the columns and index proposed for a migration."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from desk_queue import stats
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from decisions.store import performance as measured

# what a migration could give the window's queries: the stratum and "first decision of its entry" as columns,
# with an index that covers the GROUP BY; measured on a narrow side table standing in for those columns
SIDE = {
    "sqlite": "CREATE TABLE decision_window AS SELECT d.id, d.decided_at, d.selection, d.action, "
    "json_extract(d.entry, '$.entry_type') AS entry_type, NOT EXISTS (SELECT 1 FROM decisions p "
    "WHERE p.entry_id = d.entry_id AND p.id < d.id) AS first_decision FROM decisions d",
    "postgresql": "CREATE TABLE decision_window AS SELECT d.id, d.decided_at, d.selection, d.action, "
    "d.entry->>'entry_type' AS entry_type, NOT EXISTS (SELECT 1 FROM decisions p "
    "WHERE p.entry_id = d.entry_id AND p.id < d.id) AS first_decision FROM decisions d",
}
SIDE_INDEXES = (
    "CREATE INDEX ix_window ON decision_window (decided_at, first_decision, selection, action, entry_type)",
    "CREATE UNIQUE INDEX ix_window_id ON decision_window (id, entry_type)",  # the outcomes' join, by decision id
)
SIDE_QUERIES = {
    "decided groups": "SELECT selection, action, entry_type, count(*) FROM decision_window "
    "WHERE decided_at >= :a AND decided_at < :b AND first_decision GROUP BY selection, action, entry_type",
    "outcome groups": "SELECT o.selected_by, d.selection, d.action, w.entry_type, count(*), "
    "sum(CASE WHEN o.violation THEN 1 ELSE 0 END), sum(o.revenue_recovered) FROM outcomes o "
    "JOIN decisions d ON d.id = o.decision_id JOIN decision_window w ON w.id = d.id "
    "WHERE d.decided_at >= :a AND d.decided_at < :b GROUP BY o.selected_by, d.selection, d.action, w.entry_type",
}


def in_process(engine: Engine, days: int, repeat: int) -> dict[str, Any]:
    """Each store query for the last `days` days, timed in process, and its plan."""
    end = datetime.now(UTC)
    start = end - timedelta(days=days)
    out: dict[str, Any] = {}
    with Session(engine) as session:
        counts = measured.outcome_groups(session, start, end, "entry_type")
        n = sum(o.outcomes for o in counts)
        calls = {
            "decided_groups": lambda: measured.decided_groups(session, start, end, "entry_type"),
            "outcome_groups": lambda: measured.outcome_groups(session, start, end, "entry_type"),
            "median_seconds_to_outcome": lambda: measured.median_seconds_to_outcome(session, start, end, n),
            "performance (all three and the statistics)": lambda: measured.performance(session, start, end),
        }
        for name, call in calls.items():
            ms = []
            for _ in range(repeat):
                began = time.perf_counter()
                call()
                ms.append((time.perf_counter() - began) * 1000)
            out[name] = stats(ms)
        figures = measured.performance(session, start, end)
    out["figures"] = {
        "entries": figures.total.entries,
        "outcomes": figures.total.outcomes,
        "model_hit_rate": figures.source("model").hit_rate.__dict__ if figures.source("model").hit_rate else None,
        "random_hit_rate": figures.source("random").hit_rate.__dict__ if figures.source("random").hit_rate else None,
        "lift": figures.lift.__dict__ if figures.lift else None,
        "compliance": figures.compliance.estimate,
        "released_share": figures.released_share,
    }
    out["plans"] = plans(engine, start, end)
    return out


def plans(engine: Engine, start: datetime, end: datetime) -> dict[str, list[str]]:
    """EXPLAIN of the two GROUP BY queries, as compiled for the engine's dialect."""
    out = {}
    with Session(engine) as session:
        for name, build in (("decided_groups", measured.decided_query), ("outcome_groups", measured.outcome_query)):
            sql = build(start, end, "entry_type").compile(engine, compile_kwargs={"literal_binds": True})
            prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
            out[name] = [" ".join(str(c) for c in row) for row in session.execute(text(prefix + str(sql)))]
    return out


def proposed_schema(engine: Engine, days: int, repeat: int) -> dict[str, Any]:
    """The two GROUP BY queries as they would run with the proposed columns and index (see SIDE), in process."""
    began = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE IF EXISTS decision_window")
        conn.exec_driver_sql(SIDE[engine.dialect.name])
        for index in SIDE_INDEXES:
            conn.exec_driver_sql(index)
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ANALYZE decision_window")
    out: dict[str, Any] = {"build_seconds": round(time.perf_counter() - began, 1)}
    end = datetime.now(UTC)
    window = {"a": end - timedelta(days=days), "b": end}
    with Session(engine) as session:
        for name, sql in SIDE_QUERIES.items():
            ms = []
            for _ in range(repeat):
                began = time.perf_counter()
                session.execute(text(sql), window).all()
                ms.append((time.perf_counter() - began) * 1000)
            out[name] = stats(ms)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE decision_window")
    print(f"  proposed schema, in process: {json.dumps(out)}", flush=True)
    return out
