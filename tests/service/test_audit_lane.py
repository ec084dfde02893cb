"""The post-release audit lane over real HTTP, on SQLite and PostgreSQL: entries released at once and queued
for audit, the desk's audit queue, and audit outcomes that train like any other label."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pandas as pd
import pytest

from decisions.keys import Role
from service.web.auth import SESSION_COOKIE
from tests.live import LiveServer, cookie_of, sign_in
from tests.service.entries import entry_json
from training.fromdb import history_from_db

pytestmark = pytest.mark.slow
AUDIT_ALL = {  # every score between 0.0001 and 0.99 lands in the audit lane
    "probability": {"post_release_audit": 0.0001, "document_review": 0.99, "non_intrusive_exam": 0.995,
                    "physical_exam": 0.999},
    "exploration": {"rate": 0.0},
}  # fmt: skip


def test_the_audit_lane_releases_queues_and_learns_from_its_audits(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame
) -> None:
    before = client.get("/v1/policy").json()
    assert client.put("/v1/policy", json={"policy": AUDIT_ALL, "by": "audit test"}).status_code == 201
    try:
        entries = [entry_json(history, i) for i in range(7000, 7003)]
        decided = client.post("/v1/score", json={"entries": entries}).json()["decisions"]
    finally:
        client.put("/v1/policy", json={"policy": before["policy"], "by": "audit test", "note": "restore"})
    lane = [(d["action"], d["risk_band"], d["selection"], d["selection_probability"]) for d in decided]
    assert lane == [("post_release_audit", "moderate", "model", 1.0)] * 3

    audited = entries[0]
    outcome = {"entry_id": audited["entry_id"], "violation_types": ["misclassification"], "revenue_recovered": 310.0,
               "inspected_at": (pd.Timestamp(audited["filed_at"]) + timedelta(days=60)).isoformat(),
               "selected_by": "audit", "note": "post-clearance audit"}  # fmt: skip
    recorded = client.post("/v1/outcomes", json=outcome)
    assert recorded.status_code == 201 and recorded.json()["selected_by"] == "audit"

    made = sign_in(live, live.keys[Role.REVIEWER])
    cookie = {"cookie": f"{SESSION_COOKIE}={cookie_of(made, SESSION_COOKIE)}"}
    with httpx.Client(base_url=live.url, headers=cookie) as desk:
        queue = desk.get("/desk/queue", params={"action": "post_release_audit"})
    assert queue.status_code == 200
    assert all(e["entry_id"] in queue.text for e in entries)
    assert 'aria-current="page">Audit queue' in queue.text

    frame = history_from_db(live.settings.database_url).set_index("entry_id")
    row = frame.loc[audited["entry_id"]]
    assert (row["violation"], row["selection"], row["selection_probability"]) == (1.0, "audit", 1.0)
    assert pd.isna(frame.loc[entries[1]["entry_id"], "violation"])  # an entry not yet audited is no label
