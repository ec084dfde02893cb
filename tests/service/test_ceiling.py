"""POST /v1/_ceiling, the bare endpoint bench/http_load.py measures scoring against: absent from the service,
mounted by the benchmark's own app (bench/ceiling.py), never in the schema, behind the scorer key like /v1/score."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from decisions.keys import Role
from tests.live import LiveServer, service_settings

pytestmark = pytest.mark.slow
BODY = {"entries": [{"entry_id": "CEILING-1"}]}


def test_the_ceiling_is_absent_by_default(live: LiveServer) -> None:
    with live.client(Role.SCORER) as scorer:
        assert scorer.post("/v1/_ceiling", params={"size": 1460}, json=BODY).status_code == 404
    assert "/v1/_ceiling" not in httpx.get(f"{live.url}/openapi.json").json()["paths"]


def _bench_ceiling() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ceiling", Path(__file__).resolve().parents[2] / "bench/ceiling.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_mounts_it_out_of_the_schema_behind_the_scorer_key(
    database_url: str, mlflow_store: str, api_keys: dict[Role, str], tmp_path: Path
) -> None:
    settings = service_settings(database_url, mlflow_store, tmp_path / "cache")
    with LiveServer(settings, api_keys, extend=_bench_ceiling().with_ceiling) as server:
        with server.client(Role.SCORER) as scorer:
            for size in (1460, 134_697):
                answer = scorer.post("/v1/_ceiling", params={"size": size}, json=BODY)
                assert answer.status_code == 200, answer.text
                assert len(answer.content) == size and answer.headers["content-type"] == "application/json"
                assert set(json.loads(answer.content)) == {"pad"}
            assert scorer.post("/v1/_ceiling", params={"size": 5}, json=BODY).status_code == 422
        with server.client(None) as anonymous:
            assert anonymous.post("/v1/_ceiling", params={"size": 1460}, json=BODY).status_code == 401
        with server.client(Role.REVIEWER) as reviewer:
            assert reviewer.post("/v1/_ceiling", params={"size": 1460}, json=BODY).status_code == 403
        assert "/v1/_ceiling" not in httpx.get(f"{server.url}/openapi.json").json()["paths"]
