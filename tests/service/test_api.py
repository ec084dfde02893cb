"""The scoring API over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pandas as pd
import pytest

from features.spec import BUILTIN_SPEC
from model.scoring import Scorer
from tests.service.entries import entry_json

pytestmark = pytest.mark.slow
ACTIONS = {"release", "document_review", "non_intrusive_exam", "physical_exam"}


def test_score_a_batch_and_read_every_decision_back(
    client: httpx.Client, history: pd.DataFrame, scorer: Scorer
) -> None:
    entries = [entry_json(history, i) for i in range(1000, 1020)]
    answer = client.post("/v1/score", json={"entries": entries}, headers={"X-Request-ID": "req-batch-1"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Request-ID"] == "req-batch-1"
    body = answer.json()
    assert body["request_id"] == "req-batch-1"
    assert [d["entry_id"] for d in body["decisions"]] == [e["entry_id"] for e in entries]
    for sent, d in zip(entries, body["decisions"]):
        assert 0 <= d["score"] <= 1 and d["action"] in ACTIONS and not d["replayed"]
        assert d["model"] == {"name": "shipment-risk", "version": 1, "alias": "champion"}
        assert d["score"] == pytest.approx(float(scorer.model.calibration.probability(d["raw_score"])), abs=1e-12)
        assert 1 <= len(d["reasons"]) <= 5 and all(r["sentence"] for r in d["reasons"])
        assert d["ranking"] == "probability" and d["expected_revenue"] >= 0  # the model has a revenue part
        sizes = [abs(r["contribution"]) for r in d["reasons"]]
        assert sizes == sorted(sizes, reverse=True)

        record = client.get(f"/v1/decisions/{sent['entry_id']}")
        assert record.status_code == 200
        r = record.json()
        assert {k: r[k] for k in ("score", "action", "decided_at", "raw_score", "request_id")} == {
            k: d[k] for k in ("score", "action", "decided_at", "raw_score", "request_id")
        }
        assert r["entry"]["hts_code"] == sent["hts_code"] and r["entry"]["importer_id"] == sent["importer_id"]
        assert [c["feature"] for c in r["contributions"]] == scorer.pipeline.feature_names
        total = r["base_value"] + sum(c["contribution"] for c in r["contributions"])
        assert total == pytest.approx(r["raw_score"], abs=1e-6)  # SHAP adds up in margin space


def test_scoring_again_returns_the_same_decision(client: httpx.Client, history: pd.DataFrame) -> None:
    entry = entry_json(history, 2000)
    first = client.post("/v1/score", json={"entries": [entry]}).json()["decisions"][0]
    again = client.post("/v1/score", json={"entries": [entry]}).json()["decisions"][0]
    assert again["replayed"] is True and first["replayed"] is False
    assert {k: again[k] for k in first if k != "replayed"} == {k: first[k] for k in first if k != "replayed"}
    assert client.get(f"/v1/decisions/{entry['entry_id']}").json()["earlier"] == []  # still one record

    changed = {**entry, "declared_value_usd": entry["declared_value_usd"] + 1}
    conflict = client.post("/v1/score", json={"entries": [changed]})
    assert conflict.status_code == 409 and entry["entry_id"] in conflict.json()["detail"]
    assert client.get(f"/v1/decisions/{entry['entry_id']}").json()["score"] == first["score"]


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"hts_code": "6109.10"}, 422, "entries[1].hts_code"),
        ({"country_of_origin": "XX"}, 422, "entries[1].country_of_origin"),
        ({"declared_value_usd": -5}, 422, "entries[1].declared_value_usd"),
        ({"filed_at": "2999-01-01T00:00:00Z"}, 422, "entries[1].filed_at"),
        ({"quantity": "many"}, 422, "entries[1].quantity"),
        ({"entry_type": None}, 422, "entries[1].entry_type"),
    ],
)
def test_a_bad_field_names_its_path_and_nothing_is_recorded(
    client: httpx.Client, history: pd.DataFrame, change: dict, status: int, field: str
) -> None:
    good, bad = entry_json(history, 3000), {**entry_json(history, 3001), **change}
    answer = client.post("/v1/score", json={"entries": [good, bad]})
    assert answer.status_code == status
    assert field in [e["field"] for e in answer.json()["detail"]]
    assert all(e["reason"] for e in answer.json()["detail"])
    assert client.get(f"/v1/decisions/{good['entry_id']}").status_code == 404  # the valid one is not recorded either


def test_missing_field_oversize_batch_malformed_json_and_odd_bodies(
    client: httpx.Client, history: pd.DataFrame, live
) -> None:  # noqa: ANN001
    entry = entry_json(history, 3100)
    del entry["hts_code"]
    missing = client.post("/v1/score", json={"entries": [entry]})
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "entries[0].hts_code"

    many = [entry_json(history, 3200)] * (live.settings.max_batch + 1)
    assert client.post("/v1/score", json={"entries": many}).status_code == 413

    broken = client.post("/v1/score", content=b'{"entries": [', headers={"content-type": "application/json"})
    assert broken.status_code == 400 and "JSON" in broken.json()["detail"]

    for body in ([], {"entries": []}, {"entries": "x"}, {"entries": [None]}, {"entries": [1, 2]}, "null", {}):
        odd = client.post("/v1/score", content=json.dumps(body), headers={"content-type": "application/json"})
        assert odd.status_code == 422, (body, odd.text)

    same = entry_json(history, 3300)
    twice = client.post("/v1/score", json={"entries": [same, same]})
    assert twice.status_code == 422 and "more than once" in twice.json()["detail"][0]["reason"]
    assert client.get(f"/v1/decisions/{same['entry_id']}").status_code == 404


def test_unknown_decision_is_404(client: httpx.Client) -> None:
    answer = client.get("/v1/decisions/NOPE0000000-0")
    assert answer.status_code == 404 and "NOPE0000000-0" in answer.json()["detail"]


def test_operations_endpoints(client: httpx.Client, scorer: Scorer) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"model": "shipment-risk v1 from registry", "database": "ok"}
    model = client.get("/v1/model").json()
    assert (model["name"], model["version"], model["alias"]) == ("shipment-risk", 1, "champion")
    assert model["features"] == scorer.pipeline.feature_names
    assert model["metrics"]["precision_at_5pct"] == scorer.metrics["precision_at_5pct"]
    assert len(model["trained_on"]["data_sha256"]) == 64


def test_the_documented_example_scores_as_is(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    request_schema = spec["components"]["schemas"]["ScoreRequest"]
    example = request_schema["examples"][0]
    answer = client.post("/v1/score", json=example)
    assert answer.status_code == 200, answer.text
    entry_schema = spec["components"]["schemas"]["Entry"]
    documented = {name for name, prop in entry_schema["properties"].items() if prop.get("description")}
    assert documented == set(entry_schema["properties"])  # every field is described
    shown = {name for entry in example["entries"] for name in entry}
    assert shown == set(entry_schema["properties"])  # the example shows every field
    assert client.get("/docs").status_code == 200


ENTITIES = [BUILTIN_SPEC.entity_name(e) for e in BUILTIN_SPEC.entities]


def test_registered_model_loaded_by_mlflow_gives_the_service_scores(
    client: httpx.Client, history: pd.DataFrame, mlflow_store: str
) -> None:
    import mlflow

    entries = [entry_json(history, i) for i in range(4000, 4010)]
    decisions = client.post("/v1/score", json={"entries": entries}).json()["decisions"]
    mlflow.set_tracking_uri(mlflow_store)
    mlflow.set_registry_uri(mlflow_store)
    model = mlflow.pyfunc.load_model("models:/shipment-risk@champion")
    scores = []
    for entry in entries:  # one at a time: each account's history as the decision saw it, in the profile columns
        inputs = {
            c["feature"]: c["input"] for c in client.get(f"/v1/decisions/{entry['entry_id']}").json()["contributions"]
        }
        profile = {
            f"{name}__{count}": inputs[f"{name}_prior_{count}"]
            for name in ENTITIES
            for count in ("entries", "inspections", "violations")
            if inputs[f"{name}_prior_{count}"] is not None
        }
        scores.append(model.predict(pd.DataFrame([entry | profile]).astype({"quantity": float}))["score"].iloc[0])
    assert np.allclose(scores, [d["score"] for d in decisions], rtol=0, atol=1e-12)


def test_a_waiver_overrides_the_action_and_keeps_the_decision(client: httpx.Client, history: pd.DataFrame) -> None:
    entry = entry_json(history, 7000)
    decided = client.post("/v1/score", json={"entries": [entry]}).json()["decisions"][0]
    url = f"/v1/decisions/{entry['entry_id']}"
    for bad in (
        {"action": "release", "reason": "", "by": "officer.a"},
        {"action": "release", "by": "officer.a"},
        {"action": "wave through", "reason": "documents checked", "by": "officer.a"},
    ):
        refused = client.post(f"{url}/waivers", json=bad)
        assert refused.status_code == 422, bad
    assert client.get(url).json()["waivers"] == []  # nothing recorded for a refused waiver
    body = {"action": "physical_exam", "reason": "tip-off from the field office about this importer", "by": "officer.b"}
    waived = client.post(f"{url}/waivers", json=body)
    assert waived.status_code == 201 and waived.json()["waived_by"] == "officer.b"
    record = client.get(url).json()
    assert record["effective_action"] == "physical_exam" and record["action"] == decided["action"]
    kept = ("score", "decided_at", "reasons")
    assert {k: record[k] for k in kept} == {k: decided[k] for k in kept}
    assert [w["reason"] for w in record["waivers"]] == [body["reason"]]
    assert client.post("/v1/decisions/NOPE0000001-0/waivers", json=body).status_code == 404
