from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session

from decisions import store
from decisions.actions import BANDS, Action
from decisions.policy import Capacity, Exploration, Objective, Policy, ProbabilityThresholds, Thresholds, draw
from service.settings import Settings
from tests.service.entries import entry_json

TARGETING = str(Path(sys.executable).parent / "targeting")
NO_SAMPLE = Exploration(rate=0.0)


def test_probability_thresholds_choose_the_action() -> None:
    policy = Policy(exploration=NO_SAMPLE)
    assert [policy.decide(s, None).action for s in (0.01, 0.05, 0.2, 0.4, 0.9)] == [
        Action.RELEASE,
        Action.DOCUMENT_REVIEW,
        Action.NON_INTRUSIVE_EXAM,
        Action.PHYSICAL_EXAM,
        Action.PHYSICAL_EXAM,
    ]
    assert policy.decide(0.9, 1e6).objective is Objective.PROBABILITY  # ranks by probability unless told otherwise


def test_expected_revenue_objective_and_its_fallback() -> None:
    policy = Policy(objective=Objective.EXPECTED_REVENUE, exploration=NO_SAMPLE)
    likely_but_cheap = policy.decide(0.9, 10.0)
    assert (likely_but_cheap.action, likely_but_cheap.objective) == (Action.RELEASE, Objective.EXPECTED_REVENUE)
    assert policy.decide(0.02, 8000.0).action is Action.PHYSICAL_EXAM
    fallback = policy.decide(0.9, None)  # a model without a revenue part
    assert (fallback.action, fallback.objective) == (Action.PHYSICAL_EXAM, Objective.PROBABILITY)


def test_random_sample_marks_its_picks_and_their_probability() -> None:
    policy = Policy(exploration=Exploration(rate=0.01, rates={"86": 0.002}))
    released = policy.decide(0.001, None, "01", u=0.5)
    assert (released.action, released.selection, released.selection_probability) == (Action.RELEASE, None, 0.01)
    picked = policy.decide(0.001, None, "01", u=0.005)
    assert (picked.action, picked.selection, picked.selection_probability) == (Action.PHYSICAL_EXAM, "random", 0.01)
    assert policy.decide(0.001, None, "86", u=0.005).selection is None  # that stratum samples at 0.2 %
    by_model = policy.decide(0.3, None, "01", u=0.5)
    assert (by_model.action, by_model.selection, by_model.selection_probability) == (
        Action.NON_INTRUSIVE_EXAM,
        "model",
        1.0,
    )
    both = policy.decide(0.3, None, "01", u=0.005)  # stays marked random, so the sample remains unbiased
    assert (both.action, both.selection) == (Action.PHYSICAL_EXAM, "random")


def test_the_post_release_audit_lane_sits_below_document_review() -> None:
    policy = Policy(probability={"post_release_audit": 0.02}, exploration=NO_SAMPLE)
    decided = [policy.decide(s, None) for s in (0.01, 0.02, 0.049, 0.05)]
    assert [d.action for d in decided] == [
        Action.RELEASE,
        Action.POST_RELEASE_AUDIT,
        Action.POST_RELEASE_AUDIT,
        Action.DOCUMENT_REVIEW,
    ]
    assert (decided[1].selection, decided[1].selection_probability, BANDS[decided[1].action]) == (
        "model",
        1.0,
        "moderate",
    )
    assert Policy(exploration=NO_SAMPLE).decide(0.03, None).action is Action.RELEASE  # no audit lane unless set
    floor = Policy(exploration=NO_SAMPLE).decide(0.001, None, floor=Action.POST_RELEASE_AUDIT)  # a rule's minimum
    assert (floor.action, floor.selection) == (Action.POST_RELEASE_AUDIT, "rule")
    with pytest.raises(ValidationError, match="must rise"):
        ProbabilityThresholds(post_release_audit=0.1)  # above document review's 0.05
    shares = Capacity(physical_exam=0.01, non_intrusive_exam=0.02, document_review=0.03, post_release_audit=0.04)
    lanes = shares.thresholds(np.linspace(0, 1, 100_001))
    assert (lanes.post_release_audit, lanes.document_review) == (pytest.approx(0.90), pytest.approx(0.94))
    assert Capacity().thresholds(np.linspace(0, 1, 1001)).post_release_audit is None


def test_the_draw_is_reproducible_stratified_and_keyed_by_the_secret() -> None:
    ids = [f"E{i:08d}" for i in range(100_000)]
    strata = np.where(np.arange(100_000) % 3 == 0, "86", "01")
    exploration = Exploration(rate=0.01, rates={"86": 0.002})
    u = np.array([draw(b"a secret of sixteen+", i) for i in ids])
    assert u.tolist() == [draw(b"a secret of sixteen+", i) for i in ids]
    picked = u < np.array([exploration.rate_for(s) for s in strata])
    for stratum, rate in (("01", 0.01), ("86", 0.002)):
        share = picked[strata == stratum].mean()
        assert abs(share - rate) < 4 * np.sqrt(rate * (1 - rate) / (strata == stratum).sum()), (stratum, share)
    other = np.array([draw(b"another secret!!!!", i) for i in ids[:2000]])
    assert np.corrcoef(u[:2000], other)[0, 1] < 0.1  # without the secret the draw says nothing


def test_policy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGETING_POLICY__OBJECTIVE", "expected_revenue")
    monkeypatch.setenv("TARGETING_POLICY__EXPECTED_REVENUE__PHYSICAL_EXAM", "20000")
    policy = Settings().policy
    assert policy.objective is Objective.EXPECTED_REVENUE and policy.expected_revenue.physical_exam == 20000
    assert policy.expected_revenue.document_review == 50  # the rest keep their defaults
    monkeypatch.setenv("TARGETING_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="TARGETING_SAMPLE_SECRET"):
        Settings()
    monkeypatch.setenv("TARGETING_SAMPLE_SECRET", "a-real-secret-of-the-agency")
    assert Settings().environment == "production"


def test_thresholds_and_policy_files_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must rise"):
        Thresholds(document_review=0.5, non_intrusive_exam=0.2, physical_exam=0.9)
    with pytest.raises(ValidationError, match="less than 1"):
        ProbabilityThresholds(physical_exam=1.5)
    bad = tmp_path / "policy.yaml"
    bad.write_text("objective: probability\nexploration: {rate: 0.01, colour: red}\n")
    out = subprocess.run(
        [TARGETING, "policy", "apply", str(bad)],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"},
    )
    assert out.returncode == 2 and out.stderr.startswith("error: ") and "exploration.colour" in out.stderr


@pytest.mark.slow
def test_decisions_record_the_policy_version_in_force(
    client: httpx.Client, live, history: pd.DataFrame, tmp_path: Path
) -> None:  # noqa: ANN001
    first = client.post("/v1/score", json={"entries": [entry_json(history, 6000)]}).json()["decisions"][0]
    before = client.get("/v1/policy").json()
    assert first["policy_version"] == before["version"]
    assert first["selection"] in (None, "model", "random") and 0 < first["selection_probability"] <= 1
    stricter = tmp_path / "strict.yaml"
    stricter.write_text(
        "probability: {document_review: 0.0001, non_intrusive_exam: 0.0002, physical_exam: 0.0003}\n"
        "exploration: {rate: 0.0}\n"
    )
    env = {**os.environ, "DATABASE_URL": live.settings.database_url}
    note = f"test {uuid.uuid4().hex[:6]}"
    applied = subprocess.run(
        [TARGETING, "policy", "apply", str(stricter), "--note", note], capture_output=True, text=True, env=env
    )
    assert applied.returncode == 0, applied.stderr
    now = client.get("/v1/policy").json()
    assert now["version"] == before["version"] + 1 and now["note"] == note
    later = client.post("/v1/score", json={"entries": [entry_json(history, 6001)]}).json()["decisions"][0]
    assert later["policy_version"] == now["version"]  # no restart needed
    assert (later["action"], later["selection"], later["selection_probability"]) == ("physical_exam", "model", 1.0)
    record = client.get(f"/v1/decisions/{first['entry_id']}").json()
    assert record["policy_version"] == before["version"]  # the earlier decision keeps its version
    engine = store.make_engine(live.settings.database_url)  # put the previous policy back for other tests
    with Session(engine) as session:
        store.add_policy(session, before["policy"], "test", "restore")
        session.commit()
    engine.dispose()


@pytest.mark.slow
def test_lanes_from_capacity_hold_their_shares_on_generated_traffic(scorer, history: pd.DataFrame) -> None:  # noqa: ANN001
    from features.history import point_in_time_counts
    from features.pipeline import prepare

    spec = scorer.pipeline.spec
    rows = prepare(history, spec)
    x = scorer.pipeline.transform(rows, point_in_time_counts(rows, spec)).to_numpy()
    scores = scorer.model.calibration.probability(scorer.model.booster.predict(x, raw_score=True))
    policy = Policy(lanes="capacity", exploration=NO_SAMPLE)
    order = np.random.default_rng(0).permutation(len(scores))  # traffic like the recent window's
    recent, later = scores[order[: len(scores) // 2]], scores[order[len(scores) // 2 :]]
    lanes = policy.capacity.thresholds(recent)  # the recent distribution sets the thresholds
    actions = pd.Series([policy.decide(s, None, lanes=lanes).action for s in later]).value_counts(normalize=True)
    for action, share in (
        (Action.PHYSICAL_EXAM, 0.01),
        (Action.NON_INTRUSIVE_EXAM, 0.03),
        (Action.DOCUMENT_REVIEW, 0.05),
    ):
        assert abs(actions.get(action, 0.0) - share) < 0.35 * share + 0.002, (action, actions.get(action))
    assert policy.decide(0.99, None).action is Action.PHYSICAL_EXAM  # no lanes yet: the fixed thresholds apply
    with pytest.raises(ValidationError, match="more than all entries"):
        Policy(lanes="capacity", capacity={"physical_exam": 0.5, "non_intrusive_exam": 0.4, "document_review": 0.2})


def test_rules_are_checked_when_the_policy_is_loaded() -> None:
    def rule(when: dict) -> dict:
        return {"rules": [{"name": "big", "when": when, "min_action": "document_review", "reason": "value above X"}]}

    with pytest.raises(ValidationError, match="unknown field 'declared_valeu_usd'"):
        Policy.model_validate(rule({"declared_valeu_usd": {">": 1}}))
    with pytest.raises(ValidationError, match="unknown operator '=>'"):
        Policy.model_validate(rule({"declared_value_usd": {"=>": 1}}))
    with pytest.raises(ValidationError, match="needs conditions"):
        Policy.model_validate({"rules": [{"name": "empty", "min_action": "release", "reason": "nothing at all"}]})


def test_a_rule_hit_sets_a_minimum_lane() -> None:
    policy = Policy.model_validate(
        {
            "exploration": {"rate": 0.0},
            "rules": [
                {
                    "name": "new-importer-high-value",
                    "when": {"importer_id_first_time": 1, "declared_value_usd": {">": 50000}},
                    "min_action": "non_intrusive_exam",
                    "reason": "first-time importer declaring over $50,000",
                },
                {
                    "name": "forced-labour",
                    "watchlist": "manufacturers",
                    "min_action": "physical_exam",
                    "reason": "manufacturer on the forced-labour entity list",
                },
            ],
        }
    )
    values = {"importer_id_first_time": 1.0, "declared_value_usd": 80000.0, "manufacturer_id": "CNXXX"}
    hits = [r.name for r in policy.rules if r.holds(values, set())]
    assert hits == ["new-importer-high-value"]
    outcome = policy.decide(0.001, None, floor=policy.rules[0].min_action)
    assert (outcome.action, outcome.selection, outcome.selection_probability) == (
        Action.NON_INTRUSIVE_EXAM,
        "rule",
        1.0,
    )
    assert [r.name for r in policy.rules if r.holds(values, {("manufacturers", "CNXXX")})] == [
        "new-importer-high-value",
        "forced-labour",
    ]
    assert not policy.rules[0].holds({**values, "declared_value_usd": 10.0}, set())


def test_a_rule_whose_sides_cannot_be_compared_does_not_hold_and_never_raises() -> None:
    # what a fuzzer's policy did to every score: a text operand against a number, a number `in` a text
    policy = Policy.model_validate(
        {
            "rules": [
                {
                    "name": "text-above",
                    "when": {"declared_value_usd": {">": "abc"}},
                    "min_action": "physical_exam",
                    "reason": "compares a number with text",
                },
                {
                    "name": "number-in-text",
                    "when": {"declared_value_usd": {"in": "1000"}},
                    "min_action": "physical_exam",
                    "reason": "looks for a number in text",
                },
                {
                    "name": "text-below-number",
                    "when": {"country_of_origin": {"<": 5}},
                    "min_action": "physical_exam",
                    "reason": "orders text against a number",
                },
                {
                    "name": "origin-in-list",
                    "when": {"country_of_origin": {"in": ["CN", "HK"]}},
                    "min_action": "document_review",
                    "reason": "origin on the list",
                },
            ]
        }
    )
    values = {"declared_value_usd": 1000.0, "country_of_origin": "CN"}
    assert [r.name for r in policy.rules if r.holds(values, set())] == ["origin-in-list"]


@pytest.mark.slow
def test_a_watchlisted_manufacturer_is_examined_with_the_rule_as_reason(
    client: httpx.Client,
    live,
    history: pd.DataFrame,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    before = client.get("/v1/policy").json()
    entry = entry_json(history, 6100)
    mid = entry["manufacturer_id"]
    env = {**os.environ, "DATABASE_URL": live.settings.database_url}
    add = [TARGETING, "watchlist", "add", "manufacturers", mid, "--reason", "UFLPA entity list"]
    assert subprocess.run(add, capture_output=True, text=True, env=env).returncode == 0
    policy = tmp_path / "rules.yaml"
    policy.write_text(
        "exploration: {rate: 0.0}\nrules:\n  - name: forced-labour\n    watchlist: manufacturers\n"
        "    min_action: physical_exam\n    reason: manufacturer on the forced-labour entity list\n"
    )
    assert subprocess.run([TARGETING, "policy", "apply", str(policy)], env=env, capture_output=True).returncode == 0
    decided = client.post("/v1/score", json={"entries": [entry]}).json()["decisions"][0]
    assert decided["action"] == "physical_exam" and decided["selection"] in ("rule", "model")
    rule = {
        "feature": "rule:forced-labour",
        "value": None,
        "contribution": 0.0,
        "effect": "rule",
        "sentence": "manufacturer on the forced-labour entity list",
    }
    assert decided["reasons"][0] == rule
    unlisted = next(i for i in range(6101, 7000) if history.loc[i, "manufacturer_id"] != mid)
    other = client.post("/v1/score", json={"entries": [entry_json(history, unlisted)]}).json()["decisions"][0]
    assert not any(r["feature"].startswith("rule:") for r in other["reasons"])
    engine = store.make_engine(live.settings.database_url)  # put things back for other tests
    with Session(engine) as session:
        store.add_policy(session, before["policy"], "test", "restore")
        store.remove_watchlisted(session, "manufacturers", mid)
        session.commit()
    engine.dispose()


@pytest.mark.slow
def test_the_admin_endpoint_sets_a_new_version(client: httpx.Client) -> None:
    before = client.get("/v1/policy").json()
    odd = {"policy": {"exploration": {"rate": 0.01, "colour": "red"}}, "by": "admin"}
    refused = client.put("/v1/policy", json=odd)
    assert refused.status_code == 422 and refused.json()["detail"][0]["field"] == "policy.exploration.colour"
    assert client.get("/v1/policy").json()["version"] == before["version"]  # nothing stored
    answer = client.put("/v1/policy", json={"policy": before["policy"], "by": "admin", "note": "same again"})
    assert answer.status_code == 201
    assert answer.json()["version"] == before["version"] + 1 and answer.json()["created_by"] == "admin"
    assert client.get("/v1/policy").json()["note"] == "same again"
