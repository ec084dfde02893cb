"""The exploration budget over real HTTP, on SQLite and PostgreSQL: picks recorded as `explore` with the chance the
policy gave them, about as many as those chances add up to, and their outcomes read back with that chance."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from decisions import store
from decisions.keys import Role
from service.web.auth import SESSION_COOKIE
from tests.live import LiveServer, cookie_of, sign_in
from tests.service.entries import entry_json
from training.fromdb import history_from_db

pytestmark = pytest.mark.slow
TARGETING = str(Path(sys.executable).parent / "targeting")
EXPLORE_ONLY = {  # the model releases nearly everything; a third of entries are explored, none drawn at random
    "probability": {"document_review": 0.99, "non_intrusive_exam": 0.995, "physical_exam": 0.999},
    "exploration": {"rate": 0.0, "budget": 0.3},
}


def test_the_exploration_budget_picks_where_the_model_knows_least_at_its_recorded_chance(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame
) -> None:
    before = client.get("/v1/policy").json()
    assert client.put("/v1/policy", json={"policy": EXPLORE_ONLY, "by": "explore test"}).status_code == 201
    try:
        decided, entries_sent = [], [entry_json(history, i) for i in range(9000, 9300)]
        for start in range(0, len(entries_sent), 50):
            batch = entries_sent[start : start + 50]
            decided += client.post("/v1/score", json={"entries": batch}).json()["decisions"]
    finally:
        client.put("/v1/policy", json={"policy": before["policy"], "by": "explore test", "note": "restore"})
    released = [d for d in decided if d["selection"] in (None, "explore")]
    picked = [d for d in released if d["selection"] == "explore"]
    assert len(released) > 250 and picked and all(d["action"] == "physical_exam" for d in picked)
    chances = [d["selection_probability"] for d in released]
    assert len(set(chances)) > 10 and all(0 < c <= 1 for c in chances)  # each entry its own chance
    expected, sd = sum(chances), math.sqrt(sum(c * (1 - c) for c in chances))
    assert abs(len(picked) - expected) <= 4 * sd

    engine = store.make_engine(live.settings.database_url)
    with Session(engine) as session:
        ids = [d["entry_id"] for d in decided]
        gaps = session.scalars(select(store.Decision.knowledge_gap).where(store.Decision.entry_id.in_(ids))).all()
    engine.dispose()
    assert len(gaps) == len(decided) and all(g is not None and 0 < g < 0.5 for g in gaps)

    first = picked[0]
    made = sign_in(live, live.keys[Role.REVIEWER])
    cookie = {"cookie": f"{SESSION_COOKIE}={cookie_of(made, SESSION_COOKIE)}"}
    with httpx.Client(base_url=live.url, headers=cookie) as desk:
        page = desk.get(f"/desk/entries/{first['entry_id']}")
        queue = desk.get("/desk/queue", params={"action": "physical_exam"})
    assert '<option value="explore" selected>' in page.text  # the outcome form offers why it was inspected
    assert "exploration</span>" in queue.text
    filed = next(e for e in entries_sent if e["entry_id"] == first["entry_id"])["filed_at"]
    inspected = (pd.Timestamp(filed) + timedelta(days=3)).isoformat()
    outcome = {"entry_id": first["entry_id"], "violation_types": ["undervaluation"], "revenue_recovered": 1e7,
               "inspected_at": inspected, "selected_by": "explore"}  # fmt: skip
    assert client.post("/v1/outcomes", json=outcome).status_code == 201
    row = history_from_db(live.settings.database_url).set_index("entry_id").loc[first["entry_id"]]
    assert (row["violation"], row["selection"]) == (1.0, "explore")
    assert row["selection_probability"] == pytest.approx(first["selection_probability"])


def test_policy_tune_moves_the_budget_toward_the_arm_that_recovers_more(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame
) -> None:
    """One exploration pick found $10 million (the test above): a step moves the budget up, within its bounds, and the
    weights carry over to the next step; a policy without tuning is refused in one line."""
    before = client.get("/v1/policy").json()
    tuning = {"min_budget": 0.01, "max_budget": 0.5, "rate": 2.0}
    tuned = {**EXPLORE_ONLY, "exploration": {**EXPLORE_ONLY["exploration"], "tuning": tuning}}
    assert client.put("/v1/policy", json={"policy": tuned, "by": "tune test"}).status_code == 201
    env = {**os.environ, "DATABASE_URL": live.settings.database_url}
    try:
        steps = [subprocess.run([TARGETING, "policy", "tune", "--days", "1"], capture_output=True, text=True, env=env)]
        first = client.get("/v1/policy").json()
        steps.append(
            subprocess.run([TARGETING, "policy", "tune", "--days", "1"], capture_output=True, text=True, env=env)
        )
        second = client.get("/v1/policy").json()
        client.put("/v1/policy", json={"policy": EXPLORE_ONLY, "by": "tune test"})
        refused = subprocess.run([TARGETING, "policy", "tune"], capture_output=True, text=True, env=env)
    finally:
        client.put("/v1/policy", json={"policy": before["policy"], "by": "tune test", "note": "restore"})
    assert all(s.returncode == 0 for s in steps), [s.stderr for s in steps]
    assert "exploration picks $" in steps[0].stdout and "budget 30.0000% -> " in steps[0].stdout
    budgets = [p["policy"]["exploration"]["budget"] for p in (first, second)]
    assert 0.3 < budgets[0] < budgets[1] <= 0.5 and second["version"] == first["version"] + 1
    assert second["policy"]["exploration"]["tuning"]["weights"] != first["policy"]["exploration"]["tuning"]["weights"]
    assert refused.returncode == 2 and "has no exploration.tuning" in refused.stderr
