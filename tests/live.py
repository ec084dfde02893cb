"""A trained model in a temporary MLflow store, and the service on real HTTP over SQLite and PostgreSQL:
fixtures shared by tests/service and tests/reliability (imported by tests/conftest.py)."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session

from decisions import keys, migrate, store
from decisions.keys import Role
from model.scoring import Scorer
from service.app import create_app
from service.settings import Settings
from service.web.auth import SIGN_IN_COOKIE
from tests.pg import postgres_database
from training.train import train


@pytest.fixture(scope="session")
def mlflow_store(history_file: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A registry holding shipment-risk@champion, trained on the shared history."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"
    train(history_file, uri=uri)
    return uri


@pytest.fixture(scope="session")
def scorer(mlflow_store: str, tmp_path_factory: pytest.TempPathFactory) -> Scorer:
    return Scorer.load(mlflow_store, "shipment-risk", "champion", tmp_path_factory.mktemp("model-cache"))


def migrated(url: str) -> str:
    engine = store.make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def make_keys(url: str) -> dict[Role, str]:
    """One key of each role, in the service database at `url`."""
    engine = store.make_engine(url)
    with Session(engine) as session:
        made = {role: keys.create(session, f"test-{role.value}-{uuid.uuid4().hex[:8]}", role, "tests") for role in Role}
        session.commit()
    engine.dispose()
    return made


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def own_database(kind: str, folder: Path) -> Iterator[str]:
    """An empty database for one test or fixture: SQLite in `folder`, or a throwaway PostgreSQL database."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'targeting.db'}"
    else:
        yield from postgres_database()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The shared service database, migrated, on each backend."""
    for url in own_database(request.param, tmp_path_factory.mktemp("db")):
        yield migrated(url)


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own, on each backend."""
    yield from own_database(request.param, tmp_path)


@pytest.fixture(scope="session")
def api_keys(database_url: str) -> dict[Role, str]:
    return make_keys(database_url)


def service_settings(database_url: str, mlflow_store: str, cache: Path, **more: object) -> Settings:
    """Settings as a test service runs them: its own model cache, no alias polling, no key cache."""
    return Settings.model_validate(
        {
            "database_url": database_url,
            "mlflow_tracking_uri": mlflow_store,
            "model_cache": cache,
            "model_poll_seconds": 0,
            "key_cache_seconds": 0,
        }
        | more
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server_process(command: list[str | Path], ready: str, log: Path, **popen: Any) -> Iterator[subprocess.Popen[bytes]]:
    """A server started as its own process (its output in `log`), once `ready` (a URL) answers 200; stopped after.
    A server that exits or is not ready in two minutes fails with the end of its log."""
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, **popen)
    try:
        for _ in range(240):
            if server.poll() is not None:
                raise AssertionError(f"{command[:3]} exited: {log.read_text()[-3000:]}")
            try:
                if httpx.get(ready, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        else:
            raise AssertionError(f"{command[:3]} did not start: {log.read_text()[-3000:]}")
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


class LiveServer:
    """uvicorn serving an app on a free loopback port, in a thread of the test process."""

    def __init__(
        self,
        settings: Settings,
        api_keys: dict[Role, str] | None = None,
        extend: Callable[[FastAPI], FastAPI] | None = None,
    ) -> None:
        self.port = _free_port()
        self.settings = settings
        self.keys = api_keys or {}
        app = create_app(settings)
        config = uvicorn.Config(extend(app) if extend else app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, role: Role | None = Role.ADMIN, **kwargs: object) -> httpx.Client:
        """An HTTP client carrying a key of `role` (None: no key)."""
        headers = {"Authorization": f"Bearer {self.keys[role]}"} if role is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60, **kwargs)  # type: ignore[arg-type]

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture(scope="session")
def live(
    database_url: str, mlflow_store: str, api_keys: dict[Role, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    settings = service_settings(database_url, mlflow_store, tmp_path_factory.mktemp("model-cache"))
    with LiveServer(settings, api_keys) as server:
        yield server


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def cookie_of(response: httpx.Response, name: str) -> str:
    """A cookie's value from Set-Cookie (httpx keeps Secure cookies away from http://, as a browser would not
    for 127.0.0.1, so the tests carry them by hand)."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError(f"no {name} cookie in {response.headers.get_list('set-cookie')}")


def sign_in(live: LiveServer, key: str) -> httpx.Response:
    with httpx.Client(base_url=live.url) as anon:
        form = anon.get("/desk/sign-in")
        token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        return anon.post(
            "/desk/sign-in",
            data={"key": key, "csrf": token, "next": "/desk/queue"},
            headers={"cookie": f"{SIGN_IN_COOKIE}={cookie_of(form, SIGN_IN_COOKIE)}"},
        )


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    """A client with an admin key (which may do everything)."""
    with live.client() as c:
        yield c
