"""The Python client (client/shipment_targeting_client) against the live service over real HTTP, its typed
answers against the committed OpenAPI document, and the document against the app."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, get_type_hints

import pandas as pd
import pytest
import shipment_targeting_client as sdk
from fastapi import FastAPI
from shipment_targeting_client import ApiError, TargetingClient

from decisions.keys import Role
from service.app import create_app
from service.settings import Settings
from tests.live import LiveServer, service_settings
from tests.service.entries import entry_json

DOCUMENT = Path(__file__).parents[2] / "openapi.json"
SCHEMAS = json.loads(DOCUMENT.read_text())["components"]["schemas"]


def test_the_committed_document_is_the_apps() -> None:
    served = create_app(Settings()).openapi()
    assert json.loads(DOCUMENT.read_text()) == served, (
        "openapi.json is stale: run `targeting openapi --out openapi.json`"
    )
    ids = [op["operationId"] for ops in served["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)) and "score_entries" in ids and not any("_v1_" in i for i in ids)


@pytest.mark.parametrize(
    ("typed", "schema"),
    [
        (sdk.Decision, "DecisionOut"),
        (sdk.DecisionRecord, "DecisionRecord"),
        (sdk.Reason, "Reason"),
        (sdk.ModelRef, "ModelInfoRef"),
        (sdk.Outcome, "OutcomeOut"),
        (sdk.Waiver, "WaiverOut"),
        (sdk.PolicyVersion, "PolicyOut"),
    ],
)
def test_typed_answers_follow_the_document(typed: Any, schema: str) -> None:
    properties, required = set(SCHEMAS[schema]["properties"]), set(SCHEMAS[schema].get("required", []))
    assert set(get_type_hints(typed)) == properties
    assert set(typed.__required_keys__) == required


def test_the_client_scores_reads_records_waives_and_reads_the_policy(live: LiveServer, history: pd.DataFrame) -> None:
    entry = entry_json(history, 40)
    with TargetingClient(live.url, live.keys[Role.ADMIN]) as api:
        (decision,) = api.score_entries([entry])
        assert decision["entry_id"] == entry["entry_id"] and not decision.get("replayed")
        assert 0 < decision["score"] < 1 and decision["reasons"] and decision["model"]["name"] == "shipment-risk"
        (again,) = api.score_entries([entry])  # what a retry does: answered from the record
        assert again["replayed"] and again["score"] == decision["score"]

        record = api.read_decision(entry["entry_id"])
        assert record["entry"]["entry_id"] == entry["entry_id"] and len(record["contributions"]) > 10

        found = api.record_outcome(entry["entry_id"], "2025-06-01T10:00:00Z", ["undervaluation"], "random", 120.0)
        assert found["violation"] and not found.get("replayed")
        assert api.record_outcome(entry["entry_id"], "2025-06-01T10:00:00Z", ["undervaluation"], "random", 120.0)[
            "replayed"
        ]

        waiver = api.waive_decision(entry["entry_id"], "release", "contract on file, price explained", "officer.t")
        assert waiver["action"] == "release" and waiver["waived_by"] == "officer.t"
        assert api.read_decision(entry["entry_id"])["effective_action"] == "release"

        policy = api.read_policy()
        assert policy["version"] >= 1 and policy["policy"]["probability"]["physical_exam"] > 0


def test_refusals_raise_with_the_services_detail(live: LiveServer, history: pd.DataFrame) -> None:
    with TargetingClient(live.url, live.keys[Role.SCORER], retries=0) as api:
        with pytest.raises(ApiError) as missing:
            api.read_decision("NO-SUCH-ENTRY/1")
        assert missing.value.status in (403, 404)
        with pytest.raises(ApiError) as bad:
            api.score_entries([{**entry_json(history, 41), "hts_code": "12"}])
        assert bad.value.status == 422 and "hts_code" in json.dumps(bad.value.detail)
    with TargetingClient(live.url, "tgt_not-a-key", retries=0) as stranger, pytest.raises(ApiError) as refused:
        stranger.read_policy()
    assert refused.value.status == 401


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _busy(budget: list[int], seen: list[str]) -> Callable[[FastAPI], Any]:
    """The service answering scoring requests 503 with Retry-After, as a worker at its bound does, while
    `budget[0]` lasts."""

    def extend(app: FastAPI) -> Any:
        async def busy(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["path"] == "/v1/score":
                seen.append("score")
                if budget[0] > 0:
                    budget[0] -= 1
                    headers = [(b"retry-after", b"0"), (b"content-type", b"application/json")]
                    await send({"type": "http.response.start", "status": 503, "headers": headers})
                    await send({"type": "http.response.body", "body": b'{"detail": "busy"}'})
                    return
            await app(scope, receive, send)

        return busy

    return extend


def test_a_busy_service_is_retried_after_retry_after(
    database_url: str, mlflow_store: str, api_keys: dict[Role, str], history: pd.DataFrame, tmp_path: Path
) -> None:
    budget, seen = [2], []
    settings = service_settings(database_url, mlflow_store, tmp_path / "cache")
    with LiveServer(settings, api_keys, extend=_busy(budget, seen)) as server:
        entry = entry_json(history, 42)
        with TargetingClient(server.url, api_keys[Role.SCORER], retries=2) as api:
            (decision,) = api.score_entries([entry])
        assert len(seen) == 3 and decision["entry_id"] == entry["entry_id"]

        budget[0], seen[:] = 2, []
        with (
            TargetingClient(server.url, api_keys[Role.SCORER], retries=1) as impatient,
            pytest.raises(ApiError) as gave_up,
        ):
            impatient.score_entries([entry_json(history, 43)])
        assert gave_up.value.status == 503 and gave_up.value.detail == "busy" and len(seen) == 2
