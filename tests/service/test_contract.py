"""The published OpenAPI document says what the service takes: every body the service refuses for a rule that
JSON Schema can express is refused by the document too (so clients and generated SDKs see the rule), and the
examples it accepts stay valid. Over real HTTP, with the document the service serves."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pandas as pd
import pytest

from decisions.keys import Role
from tests.live import LiveServer
from tests.service.entries import entry_json

pytestmark = pytest.mark.slow


def _valid(document: dict[str, Any], component: str, body: Any) -> bool:
    """Whether `body` is valid against a component schema of the served OpenAPI document."""
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{component}",
        "components": document["components"],
    }
    return bool(jsonschema_rs.validator_for(root).is_valid(body))


def _entry(history: pd.DataFrame, **changes: Any) -> dict[str, Any]:
    return {"entries": [entry_json(history, 4800) | changes]}


def _policy(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def body(now: dict[str, Any]) -> dict[str, Any]:
        policy = copy.deepcopy(now)
        change(policy)
        return {"policy": policy}

    return body


ENTRY_CASES = {
    "an unknown country code": {"country_of_origin": "XX"},
    "an HTS code of 3 digits": {"hts_code": "123"},
    "a NUL character": {"description": "steel \x00 nails"},
    "a description of spaces only": {"description": "   "},
    "a carrier of one letter and spaces": {"carrier": " M  "},
    "a de minimis entry over $800": {"entry_type": "86", "declared_value_usd": 801.0, "related_party": False},
    "related_party given as 0": {"related_party": 0},
    "a value given as true": {"declared_value_usd": True},
}


@pytest.mark.parametrize("case", list(ENTRY_CASES))
def test_an_entry_the_service_refuses_is_refused_by_the_document(
    live: LiveServer, history: pd.DataFrame, case: str
) -> None:
    document = httpx.get(f"{live.url}/openapi.json").json()
    good, bad = _entry(history), _entry(history, **ENTRY_CASES[case])
    assert _valid(document, "ScoreRequest", good)
    assert not _valid(document, "ScoreRequest", bad), case
    with live.client(Role.SCORER) as scorer:
        assert scorer.post("/v1/score", json=bad).status_code == 422


def test_every_other_body_the_service_refuses_is_refused_by_the_document(
    live: LiveServer, history: pd.DataFrame
) -> None:
    document = httpx.get(f"{live.url}/openapi.json").json()
    entry = entry_json(history, 4801)
    with live.client() as admin:
        assert admin.post("/v1/score", json={"entries": [entry]}).status_code == 200
        outcome = {
            "entry_id": entry["entry_id"],
            "inspected_at": entry["filed_at"],
            "violation_types": [],
            "selected_by": "model",
        }
        waiver = {"action": "release", "reason": "documents in order", "by": "officer.j.doe"}
        now = admin.get("/v1/policy").json()["policy"]
        cases: list[tuple[str, str, str, dict[str, Any]]] = [
            ("OutcomeIn", "POST", "/v1/outcomes", outcome | {"violation_types": ["counterfeit", "counterfeit"]}),
            ("OutcomeIn", "POST", "/v1/outcomes", outcome | {"revenue_recovered": False}),
            ("OutcomeIn", "POST", "/v1/outcomes", outcome | {"note": "seen \x00"}),
            ("WaiverIn", "POST", f"/v1/decisions/{entry['entry_id']}/waivers", waiver | {"reason": "  ab  "}),
            ("WaiverIn", "POST", f"/v1/decisions/{entry['entry_id']}/waivers", waiver | {"by": " "}),
            ("KeyIn", "POST", "/v1/keys", {"name": "   ", "role": "scorer"}),
            ("PolicyIn", "PUT", "/v1/policy", _policy(lambda p: p["capacity"].update(document_review=False))(now)),
            ("PolicyIn", "PUT", "/v1/policy", _policy(lambda p: p["exploration"].update(rates={"86": 1.5}))(now)),
            (
                "PolicyIn",
                "PUT",
                "/v1/policy",
                _policy(
                    lambda p: p.update(
                        rules=[
                            {
                                "name": "r",
                                "when": {"colour": "red"},
                                "min_action": "physical_exam",
                                "reason": "red goods",
                            }
                        ]
                    )
                )(now),
            ),
            (
                "PolicyIn",
                "PUT",
                "/v1/policy",
                _policy(
                    lambda p: p.update(
                        rules=[
                            {
                                "name": "r",
                                "when": {"declared_value_usd": {"~": 5}},
                                "min_action": "physical_exam",
                                "reason": "odd values",
                            }
                        ]
                    )
                )(now),
            ),
            (
                "PolicyIn",
                "PUT",
                "/v1/policy",
                _policy(
                    lambda p: p.update(
                        rules=[{"name": "r", "min_action": "physical_exam", "reason": "no condition at all"}]
                    )
                )(now),
            ),
        ]
        assert _valid(document, "OutcomeIn", outcome) and _valid(document, "WaiverIn", waiver)
        assert _valid(document, "PolicyIn", {"policy": now})
        for component, method, path, body in cases:
            assert not _valid(document, component, body), (path, body)
            answer = admin.request(method, path, json=body)
            assert answer.status_code == 422, (path, body, answer.text)


def test_a_wrong_method_is_answered_with_every_method_the_path_takes(client: httpx.Client) -> None:
    answer = client.delete("/v1/policy")
    assert answer.status_code == 405
    assert {m.strip() for m in answer.headers["allow"].split(",")} >= {"GET", "PUT"}
    assert client.put("/healthz").headers["allow"] == "GET"


def test_the_documents_example_and_the_readmes_curl_both_score_one_after_the_other(live: LiveServer) -> None:
    # the README's example, then the example request of /docs: different entries, so neither answers 409
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    curl = re.search(r"-X POST localhost:8000/v1/score .*? -d '(\{.*?\})'\n", readme, re.S)
    assert curl is not None
    with live.client(Role.SCORER) as api:
        document = api.get("/openapi.json").json()
        example = document["components"]["schemas"]["ScoreRequest"]["examples"][0]
        for body in (json.loads(curl.group(1)), example):
            answer = api.post("/v1/score", json=body)
            assert answer.status_code == 200, answer.text
    readme_ids = set(re.findall(r'"entry_id": "([^"]+)"', readme))
    assert readme_ids and readme_ids.isdisjoint(e["entry_id"] for e in example["entries"])
