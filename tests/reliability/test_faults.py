"""Faults, each a test that fails if its guarantee breaks: the database going away mid-traffic, SIGKILL
under load, two workers racing on one entry id, the registry unreachable, a damaged model artifact."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psycopg
import pytest
from fastapi.testclient import TestClient
from mlflow import MlflowClient
from sqlalchemy import text

from decisions import store
from decisions.keys import Role
from model.scoring import ModelUnavailable
from service.app import create_app
from service.web.auth import SESSION_COOKIE
from tests.live import LiveServer, _free_port, cookie_of, make_keys, migrated, service_settings, sign_in
from tests.pg import PG_ADMIN, postgres_database
from tests.reliability.process import ServiceProcess
from tests.service.entries import entry_json

pytestmark = pytest.mark.postgres
UNAVAILABLE = "the decisions database is unavailable; nothing was decided"


@pytest.fixture
def pg_url() -> Iterator[str]:
    for url in postgres_database():
        yield migrated(url)


def _rows(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = store.make_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(sql), params)]
    engine.dispose()
    return rows


def _decided(url: str, entry_ids: list[str]) -> dict[str, int]:
    rows = _rows(
        url, "SELECT entry_id, count(*) FROM decisions WHERE entry_id = ANY(:ids) GROUP BY entry_id", ids=entry_ids
    )
    return {e: n for e, n in rows}


def _set_connections(database: str, allowed: bool) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:  # and cut the connections the service holds
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [database])


def _process_env(url: str, mlflow_store: str, cache: Path) -> dict[str, str]:
    return {"DATABASE_URL": url, "MLFLOW_TRACKING_URI": mlflow_store, "TARGETING_MODEL_CACHE": str(cache)}


def test_the_database_goes_away_mid_traffic_and_comes_back(
    pg_url: str, mlflow_store: str, history: pd.DataFrame, tmp_path: Path
) -> None:
    settings = service_settings(pg_url, mlflow_store, tmp_path / "cache")
    answers: list[tuple[dict[str, Any], int, dict[str, Any]]] = []
    stop = threading.Event()

    def traffic(client: httpx.Client) -> None:
        i = 0
        while not stop.is_set():
            entry = entry_json(history, 1000 + i % 5000)
            answer = client.post("/v1/score", json={"entries": [entry]})
            answers.append((entry, answer.status_code, answer.json()))
            i += 1

    def wait_for(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    database = pg_url.rsplit("/", 1)[1]
    with LiveServer(settings, make_keys(pg_url)) as live, live.client(Role.SCORER) as client:
        worker = threading.Thread(target=traffic, args=(client,))
        worker.start()
        try:
            wait_for(lambda: sum(s == 200 for _, s, _ in answers) >= 10, "no traffic before the outage")
            _set_connections(database, False)
            outage = len(answers)
            wait_for(lambda: sum(s == 503 for _, s, _ in answers[outage:]) >= 5, "no 503 during the outage")
            _set_connections(database, True)
            back = len(answers)
            wait_for(lambda: sum(s == 200 for _, s, _ in answers[back:]) >= 10, "no recovery without a restart")
        finally:
            _set_connections(database, True)
            stop.set()
            worker.join(timeout=60)
        ready = httpx.get(f"{live.url}/readyz").json()
        assert ready["checks"]["database"] == "ok"

        assert {s for _, s, _ in answers} <= {200, 503}
        assert all(body == {"detail": UNAVAILABLE} for _, s, body in answers if s == 503)
        ok = [e["entry_id"] for e, s, _ in answers if s == 200]
        assert _decided(pg_url, ok) == dict.fromkeys(ok, 1)  # every 200 has its one record
        # a refused entry sent again is decided once, whatever the outage left behind
        failed = [e for e, s, _ in answers if s == 503][:10]
        for entry in failed:
            assert client.post("/v1/score", json={"entries": [entry]}).status_code == 200
        ids = [e["entry_id"] for e in failed]
        assert _decided(pg_url, ids) == dict.fromkeys(ids, 1)


def test_monitoring_and_the_desk_say_so_while_the_database_is_away(
    pg_url: str, mlflow_store: str, tmp_path: Path
) -> None:
    # key lookups are not cached (key_cache_seconds 0): every scrape asks the database, until it cannot answer
    settings = service_settings(pg_url, mlflow_store, tmp_path / "cache")
    database = pg_url.rsplit("/", 1)[1]
    api_keys = make_keys(pg_url)
    with LiveServer(settings, api_keys) as live:
        signed_in = sign_in(live, api_keys[Role.REVIEWER])
        desk = {"cookie": f"{SESSION_COOKIE}={cookie_of(signed_in, SESSION_COOKIE)}"}
        scrape = {"Authorization": f"Bearer {api_keys[Role.SCORER]}"}
        stranger = {"Authorization": f"Bearer {api_keys[Role.ADMIN]}"}  # never used before the outage
        assert httpx.get(f"{live.url}/metrics", headers=scrape).status_code == 200
        assert httpx.get(f"{live.url}/desk/queue", headers=desk).status_code == 200
        _set_connections(database, False)
        try:
            scraped = httpx.get(f"{live.url}/metrics", headers=scrape)
            assert scraped.status_code == 200, scraped.text  # a key the database accepted before still scrapes
            assert 'targeting_requests_total{method="GET",route="/metrics",status="200"}' in scraped.text
            refused = httpx.get(f"{live.url}/metrics", headers=stranger)
            assert refused.status_code == 503 and refused.json() == {"detail": UNAVAILABLE}  # unknown: not let in
            page = httpx.get(f"{live.url}/desk/queue", headers=desk)
            assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
            assert "the decisions database is unavailable" in page.text and 'href="/desk/queue"' in page.text
            assert httpx.get(f"{live.url}/v1/model", headers=scrape).status_code == 503  # other routes need it
        finally:
            _set_connections(database, True)
        assert httpx.get(f"{live.url}/desk/queue", headers=desk).status_code == 200


def test_sigkill_under_load_loses_no_answered_decision_and_leaves_no_partial_batch(
    pg_url: str, mlflow_store: str, history: pd.DataFrame, tmp_path: Path
) -> None:
    key = make_keys(pg_url)[Role.SCORER]
    env = _process_env(pg_url, mlflow_store, tmp_path / "cache")
    service = ServiceProcess(env, tmp_path / "service.log").start()
    answered: list[list[str]] = []
    sent: list[list[str]] = []
    stop = threading.Event()

    def load(worker: int) -> None:
        with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
            i = 0
            while not stop.is_set():
                batch = [entry_json(history, (worker * 1000 + i * 5 + j) % len(history)) for j in range(5)]
                ids = [e["entry_id"] for e in batch]
                sent.append(ids)
                try:
                    if client.post("/v1/score", json={"entries": batch}).status_code == 200:
                        answered.append(ids)
                except httpx.HTTPError:  # the server died under this request
                    return
                i += 1

    try:
        with ThreadPoolExecutor(4) as pool:
            for w in range(4):
                pool.submit(load, w)
            deadline = time.monotonic() + 60
            while len(answered) < 10 and time.monotonic() < deadline:
                time.sleep(0.05)
            service.kill()
            stop.set()
        assert len(answered) >= 10
        service.start()  # a new process on the same database: what did the killed one leave?
        every = [i for ids in sent for i in ids]
        decided = _decided(pg_url, every)
        assert all(decided.get(i) == 1 for ids in answered for i in ids)  # every 200 has its decision
        for ids in sent:  # a batch is recorded whole or not at all
            assert {decided.get(i, 0) for i in ids} in ({0}, {1}), ids
        requests = _rows(pg_url, "SELECT request_id, count(*) FROM decisions GROUP BY request_id")
        assert {n for _, n in requests} == {5}
        with httpx.Client(base_url=service.url, headers={"Authorization": f"Bearer {key}"}) as client:
            assert client.post("/v1/score", json={"entries": [entry_json(history, 7)]}).status_code == 200
    finally:
        service.stop()


def test_two_workers_racing_on_one_entry_store_one_decision_and_both_get_it(
    pg_url: str, mlflow_store: str, history: pd.DataFrame, tmp_path: Path
) -> None:
    key = make_keys(pg_url)[Role.SCORER]
    env = _process_env(pg_url, mlflow_store, tmp_path / "cache")
    first = ServiceProcess(env, tmp_path / "a.log").start()
    second = ServiceProcess(env, tmp_path / "b.log").start()
    try:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(headers=headers, timeout=60) as client:
            entries = [entry_json(history, 2000 + i) for i in range(20)]
            for entry in entries:
                barrier = threading.Barrier(2)

                def send(url: str, entry: dict[str, Any] = entry, barrier: threading.Barrier = barrier) -> Any:
                    barrier.wait()
                    return client.post(f"{url}/v1/score", json={"entries": [entry]})

                with ThreadPoolExecutor(2) as pool:
                    a, b = pool.map(send, [first.url, second.url])
                assert a.status_code == b.status_code == 200, (a.text, b.text)
                da, db = a.json()["decisions"][0], b.json()["decisions"][0]
                same = ("score", "action", "decided_at", "request_id", "reasons")
                assert {k: da[k] for k in same} == {k: db[k] for k in same}
                assert sorted([da["replayed"], db["replayed"]]) == [False, True]
        ids = [e["entry_id"] for e in entries]
        assert _decided(pg_url, ids) == dict.fromkeys(ids, 1)
    finally:
        first.stop()
        second.stop()


def test_the_registry_unreachable_at_start_serves_the_cached_version(
    mlflow_store: str, history: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = migrated(f"sqlite:///{tmp_path / 'targeting.db'}")
    api_keys = make_keys(database_url)
    cache = tmp_path / "cache"
    with LiveServer(service_settings(database_url, mlflow_store, cache), api_keys) as live, live.client() as client:
        assert client.get("/v1/model").json()["source"] == "registry"
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    dead = f"http://127.0.0.1:{_dead_port()}"
    with LiveServer(service_settings(database_url, dead, cache), api_keys) as live, live.client() as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["model"].startswith("shipment-risk v1 from local cache (registry unreachable")
        decided = client.post("/v1/score", json={"entries": [entry_json(history, 11)]}).json()["decisions"][0]
        assert decided["model"]["version"] == 1
        failed = client.post("/v1/model/reload")  # the registry is still away: keep serving, say why
        assert failed.status_code == 502 and "still serving version 1" in failed.json()["detail"]

    booster = next((cache / "shipment-risk" / "1").rglob("booster.txt"))
    booster.write_bytes(booster.read_bytes()[:-100] + b"tampered")
    app = create_app(service_settings(database_url, dead, cache))
    with (
        pytest.raises(ModelUnavailable, match=r"cached copy is refused: model file .*booster.txt is corrupt"),
        TestClient(app),
    ):
        pass


def _dead_port() -> int:
    return _free_port()  # nothing listens there once the probe socket is closed


@pytest.mark.parametrize("damaged", ["artifacts/booster.txt", "code/model/artifact.py"])
def test_a_damaged_artifact_is_refused_with_a_clear_message(mlflow_store: str, tmp_path: Path, damaged: str) -> None:
    """The booster, or the model's own code, which MLflow would run on loading."""
    database_url = migrated(f"sqlite:///{tmp_path / 'targeting.db'}")

    client = MlflowClient(mlflow_store, mlflow_store)
    source = Path(client.get_model_version_download_uri("shipment-risk", "1").removeprefix("file://"))
    booster = source / damaged
    original = booster.read_bytes()
    try:
        booster.write_bytes(original[: len(original) // 2])
        app = create_app(service_settings(database_url, mlflow_store, tmp_path / "fresh-cache"))
        with (
            pytest.raises(ModelUnavailable, match="version 1 cannot be loaded, its artifact is damaged"),
            TestClient(app),
        ):
            pass
    finally:
        booster.write_bytes(original)
