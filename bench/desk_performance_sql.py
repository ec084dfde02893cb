"""The in-process side of bench/desk_performance.py: the store's queries for a window timed without HTTP, their
plans."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from desk_queue import stats
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from decisions.store import performance as measured


def in_process(engine: Engine, days: int, repeat: int) -> dict[str, Any]:
    """The figures of the last `days` whole UTC days, today included, from the daily counts (`repeat` times);
    and the same window one microsecond inside its bounds, which passes over the decisions (twice); and plans."""
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    start, tick = end - timedelta(days=days), timedelta(microseconds=1)
    out: dict[str, Any] = {}
    with Session(engine) as session:
        calls = {
            "performance, whole days (the daily counts)": (lambda: measured.performance(session, start, end), repeat),
            "performance, inside the days (a pass over the decisions)": (
                lambda: measured.performance(session, start + tick, end - tick),
                2,
            ),
        }
        for name, (call, times) in calls.items():
            ms = []
            for _ in range(times):
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
