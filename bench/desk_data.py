"""The million-decision databases bench/desk.py measures: decisions made from scored templates, inserted in
chunks into a SQLite file or a throwaway PostgreSQL database, and their sizes."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from serving import ADMIN_URL
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from decisions import migrate, store
from decisions.decide import PolicyInForce, decide, digest
from decisions.policy import Policy
from decisions.store import DecisionRecord
from features.history import HistoryProfiles
from features.pipeline import entry_payloads, prepare
from features.schema import Entry
from model.scoring import Scorer
from service.settings import Settings
from training.data import read_table, validate

MODEL = "shipment-risk"
DAYS = 90
CHUNK = 10_000


# ---- fill ------------------------------------------------------------------------------------------------------


def templates(scorer: Scorer, data: Path, frame: pd.DataFrame, count: int, folder: Path) -> list[DecisionRecord]:
    """Decisions of `count` generated entries by the champion, through the service's own `decide` (nothing
    written), on a scratch database holding the trained history's profiles and the default policy."""
    spec = scorer.pipeline.spec
    history = prepare(validate(read_table(data), spec), spec)
    engine = store.make_engine(f"sqlite:///{folder / 'templates.db'}")
    migrate.upgrade(engine)
    policy = Policy()
    picked = frame.sample(min(count, len(frame)), random_state=3)
    entries = [Entry.model_validate(p) for p in entry_payloads(picked)]
    out: list[DecisionRecord] = []
    with Session(engine) as session:
        store.replace_profiles(session, HistoryProfiles.from_frame(history, spec, pd.Timestamp.now(tz="UTC")).counts)
        version = store.add_policy(session, policy.model_dump(mode="json"), "bench", "desk templates").version
        session.commit()
        rules = PolicyInForce(version, policy, b"desk-bench-secret")
        top = Settings.model_fields["top_reasons"].default
        for at in range(0, len(entries), 500):
            decided, _ = decide(session, scorer, rules, entries[at : at + 500], "desk-templates", top, save=False)
            out += decided
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{folder / 'templates.db'}{suffix}").unlink(missing_ok=True)
    return out


def chunk_rows(
    frame: pd.DataFrame, start: int, stop_: int, made: list[DecisionRecord], now: datetime, rng: np.random.Generator
) -> list[DecisionRecord]:
    """Decision rows start..stop_-1: entry i's fields, template i's outcome, decided_at rising over DAYS days."""
    n, span = len(frame), timedelta(days=DAYS).total_seconds()
    offsets = (np.arange(start, stop_) + rng.random(stop_ - start)) / n * span
    first = now - timedelta(days=DAYS)
    rows = []
    for i, payload, offset in zip(range(start, stop_), entry_payloads(frame.iloc[start:stop_]), offsets):
        fields = Entry.model_validate(payload).model_dump(mode="json")
        rows.append(
            replace(
                made[i % len(made)],
                entry_id=fields["entry_id"],
                entry=fields,
                decided_at=first + timedelta(seconds=float(offset)),
                request_id=f"desk-bench-{i // 100}",
                entry_digest=digest(fields),
                importer_id=fields["importer_id"],
                manufacturer_id=fields["manufacturer_id"],
                shipper_id=fields["shipper_id"],
                seller_id=fields["seller_id"],
                port_of_entry=fields["port_of_entry"],
            )
        )
    return rows


def fill(engine: Engine, frame: pd.DataFrame, made: list[DecisionRecord]) -> dict[str, Any]:
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
    return {
        "rows": len(frame),
        "seconds": round(total, 1),
        "build_rows_seconds": round(built, 1),
        "insert_seconds": round(inserted, 1),
        "rows_per_s": round(len(frame) / total),
    }


def sizes(engine: Engine, path: Path | None) -> dict[str, Any]:
    """The database's size on disk (SQLite: file and WAL after a checkpoint; PostgreSQL: database, table, indexes)."""
    if path is not None:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        wal = Path(f"{path}-wal")
        total = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        return {"database_bytes": total}
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT pg_database_size(current_database()), pg_total_relation_size('decisions'), "
                "pg_indexes_size('decisions')"
            )
        ).one()
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


def picked(frame: pd.DataFrame, repeat: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the pages ask about (the busiest port and importer, the rarest importer, entries to open) and the
    facts of the data reported with the timings."""
    counts = frame["importer_id"].value_counts()
    ids = frame["entry_id"].to_numpy()[np.random.default_rng(9).choice(len(frame), repeat + 2, False)]
    facts = {
        "port": str(frame["port_of_entry"].value_counts().idxmax()),
        "busy_importer": str(counts.idxmax()),
        "rare_importer": str(counts.index[-1]),
        "entry_ids": [str(i) for i in ids],
    }
    data = {
        "importers": len(counts),
        "busy_importer_decisions": int(counts.iloc[0]),
        "rare_importer_decisions": int(counts.iloc[-1]),
        **{k: v for k, v in facts.items() if k != "entry_ids"},
    }
    return facts, data
