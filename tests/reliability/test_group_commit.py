"""A worker killed while a group commit is pending (service/batcher.py): concurrent requests whose decisions wait
in one transaction, held back by a lock on the decisions table, when SIGKILL comes. None of them was answered,
and none of their decisions is in the database afterwards: no request answered 200 without its row."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import psycopg
import pytest

from decisions.keys import Role
from tests.live import make_keys, migrated
from tests.pg import postgres_database
from tests.reliability.process import ServiceProcess
from tests.service.entries import entry_json

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
REQUESTS = 8


@pytest.fixture
def pg_url() -> Iterator[str]:
    for url in postgres_database():
        yield migrated(url)


def _metric(service: ServiceProcess, key: str, name: str) -> float:
    text = httpx.get(f"{service.url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=5).text
    return sum(float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " "))


def test_a_worker_killed_with_a_group_commit_pending_answered_none_and_recorded_none(
    pg_url: str, mlflow_store: str, history: pd.DataFrame, tmp_path: Path
) -> None:
    key = make_keys(pg_url)[Role.SCORER]
    env = {"DATABASE_URL": pg_url, "MLFLOW_TRACKING_URI": mlflow_store, "TARGETING_MODEL_CACHE": str(tmp_path / "c")}
    service = ServiceProcess(env, tmp_path / "service.log").start()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=service.url, headers=headers, timeout=60) as client:  # one commit before
        assert client.post("/v1/score", json={"entries": [entry_json(history, 1)]}).status_code == 200
    entries = [entry_json(history, 3000 + i) for i in range(REQUESTS)]
    ids = [e["entry_id"] for e in entries]
    blocker = psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql"))
    try:
        blocker.execute("LOCK TABLE decisions IN EXCLUSIVE MODE")  # reads go on, the group's insert waits

        def send(entry: dict[str, object]) -> int | str:
            try:
                with httpx.Client(base_url=service.url, headers=headers, timeout=60) as client:
                    return client.post("/v1/score", json={"entries": [entry]}).status_code
            except httpx.HTTPError as exc:
                return type(exc).__name__

        with ThreadPoolExecutor(REQUESTS) as pool:
            answers = [pool.submit(send, e) for e in entries]
            deadline = time.monotonic() + 30
            # every request admitted, decided and waiting for its commit (the first group is blocked in its insert)
            while _metric(service, key, "targeting_requests_in_flight") < REQUESTS and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)
            groups = _metric(service, key, "targeting_group_commit_requests_sum")
            assert groups >= 2, "the blocked group did not form"  # the request before, and at least one now
            assert not any(a.done() for a in answers), [a.result() for a in answers if a.done()]
            service.kill()
            results = [a.result() for a in answers]
    finally:
        blocker.rollback()
        blocker.close()
    assert not any(r == 200 for r in results), results  # nobody was told their decision was recorded
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as conn:
        found = conn.execute("SELECT entry_id FROM decisions WHERE entry_id = ANY(%s)", [ids]).fetchall()
    assert found == []  # and nothing was: the killed transaction left no row
    service.start()  # the next process decides them afresh, each once
    try:
        with httpx.Client(base_url=service.url, headers=headers, timeout=60) as client:
            again = [client.post("/v1/score", json={"entries": [e]}).json()["decisions"][0] for e in entries]
        assert [d["replayed"] for d in again] == [False] * REQUESTS
    finally:
        service.stop()
