"""prototype"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.live import LiveServer, make_keys, migrated, service_settings
from tests.pg import postgres_database
from service.keys import Role

TALLY: dict = collections.defaultdict(lambda: {"ops": set(), "examples": 0, "failures": collections.Counter()})


def _database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield migrated(f"sqlite:///{tmp / 'fuzzed.db'}")
    else:
        for url in postgres_database():
            yield migrated(url)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fuzzed(request, mlflow_store, tmp_path_factory) -> Iterator[LiveServer]:
    for url in _database(request.param, tmp_path_factory.mktemp("fuzzed-db")):
        s = service_settings(url, mlflow_store, tmp_path_factory.mktemp("model-cache"))
        with LiveServer(s, make_keys(url)) as server:
            server.kind = request.param
            yield server


@pytest.fixture
def api_schema(fuzzed):
    config = SchemathesisConfig.from_dict({
        "seed": 20250314,
        "headers": {"Authorization": f"Bearer {fuzzed.keys[Role.ADMIN]}"},
        "cache": {"enabled": False},
    })
    return schemathesis.openapi.from_url(fuzzed.url + "/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, derandomize=True, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_schema(case, fuzzed):
    t = TALLY[fuzzed.kind]
    t["ops"].add(case.operation.label)
    t["examples"] += 1
    try:
        case.call_and_validate(checks=[not_a_server_error, status_code_conformance, response_schema_conformance])
    except Exception:
        t["failures"][case.operation.label] += 1
        raise


def test_zz_report():
    for k, t in TALLY.items():
        print(k, len(t["ops"]), t["examples"], dict(t["failures"]))
