"""Outcomes close the loop: recorded once per scored entry, counted at once in the account profiles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from decisions.keys import Role
from tests.live import LiveServer
from tests.service.entries import entry_json


def _inputs(decision: dict) -> dict[str, float | None]:  # type: ignore[type-arg]
    return {c["feature"]: c["input"] for c in decision["contributions"]}


def test_an_outcome_is_recorded_once_and_the_next_entry_sees_it(live: LiveServer, history: pd.DataFrame) -> None:
    first, second = entry_json(history, 300), entry_json(history, 301)
    second |= {"importer_id": first["importer_id"]}
    with live.client(Role.SCORER) as scorer, live.client(Role.REVIEWER) as reviewer:
        assert scorer.post("/v1/score", json={"entries": [first]}).status_code == 200
        before = _inputs(reviewer.get(f"/v1/decisions/{first['entry_id']}").json())
        filed = datetime.fromisoformat(first["filed_at"])
        outcome = {
            "entry_id": first["entry_id"],
            "inspected_at": (filed + timedelta(days=2)).isoformat(),
            "violation_types": ["undervaluation"],
            "revenue_recovered": 4250.0,
            "selected_by": "model",
            "note": "invoice price 12% of market",
        }
        assert scorer.post("/v1/outcomes", json=outcome).status_code == 403
        made = reviewer.post("/v1/outcomes", json=outcome)
        assert made.status_code == 201, made.text
        assert made.json()["violation"] is True and made.json()["recorded_by_key"].startswith("test-reviewer")
        again = reviewer.post("/v1/outcomes", json=outcome)
        assert again.status_code == 200 and again.json()["replayed"] is True
        changed = reviewer.post("/v1/outcomes", json=outcome | {"violation_types": []})
        assert changed.status_code == 409 and "already has a different outcome" in changed.json()["detail"]

        assert scorer.post("/v1/score", json={"entries": [second]}).status_code == 200
        after = _inputs(reviewer.get(f"/v1/decisions/{second['entry_id']}").json())
        # the importer's next entry counts the first entry, its inspection and its violation
        assert after["importer_id_prior_entries"] == before["importer_id_prior_entries"] + 1
        assert after["importer_id_prior_inspections"] == before["importer_id_prior_inspections"] + 1
        assert after["importer_id_prior_violations"] == before["importer_id_prior_violations"] + 1
        record = reviewer.get(f"/v1/decisions/{first['entry_id']}").json()
        assert record["outcome"]["violation_types"] == ["undervaluation"]
        assert record["outcome"]["revenue_recovered"] == 4250.0


def test_outcomes_that_cannot_be_are_refused(live: LiveServer, history: pd.DataFrame) -> None:
    entry = entry_json(history, 302)
    filed = datetime.fromisoformat(entry["filed_at"])
    base = {
        "entry_id": entry["entry_id"],
        "inspected_at": (filed + timedelta(days=1)).isoformat(),
        "violation_types": [],
        "selected_by": "random",
    }
    with live.client(Role.SCORER) as scorer, live.client(Role.REVIEWER) as reviewer:
        assert reviewer.post("/v1/outcomes", json=base).status_code == 404  # not scored yet
        scorer.post("/v1/score", json={"entries": [entry]})
        cases = {
            "before filing": base | {"inspected_at": (filed - timedelta(days=1)).isoformat()},
            "in the future": base | {"inspected_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
            "unknown type": base | {"violation_types": ["smuggling"]},
            "listed twice": base | {"violation_types": ["counterfeit", "counterfeit"]},
            "negative revenue": base | {"revenue_recovered": -1},
            "unknown reason": base | {"selected_by": "hunch"},
            "extra field": base | {"officer": "x"},
        }
        for case, body in cases.items():
            answer = reviewer.post("/v1/outcomes", json=body)
            assert answer.status_code == 422, (case, answer.text)
        assert reviewer.get(f"/v1/decisions/{entry['entry_id']}").json()["outcome"] is None
