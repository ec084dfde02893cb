"""Engines on the decisions database: pooling, SQLite's pragmas and its one writer at a time, and a ping."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def make_engine(
    url: str, sqlite_synchronous: str = "NORMAL", pool_size: int | None = None, pool_timeout: float | None = None
) -> Engine:
    """An engine for SQLite (file folder created, WAL journal) or PostgreSQL; `pool_size` connections at most
    (none beyond it), each waited for at most `pool_timeout` seconds, when given.

    SQLite's `synchronous`: NORMAL (with WAL) keeps every committed decision through a crash of the
    service, but not necessarily through a power cut of the machine, and commits in ~0.1 ms here; FULL
    keeps them through that too at ~3.7 ms per commit (an fsync). PostgreSQL follows the server's settings."""
    if sqlite_synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"sqlite synchronous must be NORMAL or FULL, not {sqlite_synchronous!r}")
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # orjson: a decision's contributions serialise ten times faster than with the standard library
    pool: dict[str, Any] = {}
    if ":memory:" not in url:  # an in-memory SQLite database lives in one connection: no pool to size
        pool |= {"pool_size": pool_size, "max_overflow": 0} if pool_size is not None else {}
        pool |= {"pool_timeout": pool_timeout} if pool_timeout is not None else {}
    engine = create_engine(url, pool_pre_ping=True, json_serializer=_json, json_deserializer=orjson.loads, **pool)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
            cursor.close()

        _one_writer_at_a_time(engine)
    return engine


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
SQLITE_BUSY_SECONDS = 5.0  # as PRAGMA busy_timeout above


def _one_writer_at_a_time(engine: Engine) -> None:
    """SQLite lets one transaction write at a time, and makes the others poll for the lock with growing sleeps
    (its busy handler), so under concurrent writes a few wait seconds while newcomers get in first. The threads of
    this process take turns on a lock instead, held from a transaction's first write to its end, and a writer
    waits only for the ones before it (bench/overload.py, 64 connections: p99 of the 200s about 1 s without the
    lock, under 0.2 s with it)."""
    lock = threading.Lock()
    held = "targeting_writer"

    @event.listens_for(engine, "before_cursor_execute")
    def _take(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if conn.info.get(held) or not statement.lstrip()[:7].upper().startswith(WRITES):
            return
        if not lock.acquire(timeout=SQLITE_BUSY_SECONDS):
            raise OperationalError(statement, parameters, sqlite3.OperationalError("database is locked"))
        conn.info[held] = True

    def _give(info: dict[str, Any]) -> None:
        if info.pop(held, False):
            lock.release()

    event.listen(engine, "commit", lambda conn: _give(conn.info))
    event.listen(engine, "rollback", lambda conn: _give(conn.info))
    # a connection handed back without either (a session closed mid-transaction) gives the turn back too
    event.listen(engine.pool, "checkin", lambda dbapi_connection, record: _give(record.info))


def ping(session: Session) -> None:
    session.execute(text("SELECT 1"))
