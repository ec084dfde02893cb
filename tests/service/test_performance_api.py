"""GET /v1/performance over real HTTP, on SQLite and PostgreSQL: a month of known decisions and outcomes in, exact
counts, hit rates, lift, compliance estimate and median delay out; keys and bad windows refused; the headline
figures in /metrics."""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from decisions import store
from decisions.keys import Role
from service.monitoring import PerformanceMonitor
from service.observe import Metrics
from tests.live import LiveServer
from tests.service.entries import entry_json

MARCH = (datetime(2001, 3, 1, tzinfo=UTC), datetime(2001, 4, 1, tzinfo=UTC))


def template(live: LiveServer, history: pd.DataFrame) -> store.DecisionRecord:
    """A real decision of the service, to copy into known ones."""
    entry = entry_json(history, 5)
    with live.client(Role.SCORER) as scorer:
        assert scorer.post("/v1/score", json={"entries": [entry]}).status_code == 200
    engine = store.make_engine(live.settings.database_url)
    with Session(engine) as session:
        record = store.as_record(store.decisions_of_entry(session, entry["entry_id"])[0])
    engine.dispose()
    return record


def seed_month(live: LiveServer, history: pd.DataFrame, start: datetime) -> str:
    """Decisions and outcomes in the month from `start`, with the figures `expected` gives; their ids' prefix.

    First decisions in the window (39): 7 by the model (physical exam, type 01; one of them decided again later
    in the window, which must not count twice), 4 of them with an outcome and 3 violations ($100 each); 10 random
    picks (physical exam; 5 of type 01 with 1 violation, 5 of type 11 with none), each with an outcome; 20
    released (12 of type 01, 6 of 11, 2 of 86), one of type 01 inspected on an officer's referral (a violation,
    $50); 2 by a rule (document review, type 86), no outcome. Outside: an entry first decided the month before
    (and again inside), and one decided at the window's end. Outcomes end 1, 2, ... 15 hours after the decision."""
    base, prefix = template(live, history), f"PERF{uuid.uuid4().hex[:8]}"
    rows: list[tuple[str, str | None, str, str, datetime]] = []  # id, selection, action, entry type, decided_at
    at = [start + timedelta(hours=3 * i + 1) for i in range(60)]
    rows += [(f"{prefix}-M{i}", "model", "physical_exam", "01", at[i]) for i in range(7)]
    rows += [(f"{prefix}-X{i}", "random", "physical_exam", "01" if i < 5 else "11", at[10 + i]) for i in range(10)]
    types = ["01"] * 12 + ["11"] * 6 + ["86"] * 2
    rows += [(f"{prefix}-R{i}", None, "release", t, at[20 + i]) for i, t in enumerate(types)]
    rows += [(f"{prefix}-U{i}", "rule", "document_review", "86", at[40 + i]) for i in range(2)]
    rows += [(f"{prefix}-B0", "model", "physical_exam", "01", start - timedelta(days=10))]
    rows += [(f"{prefix}-E0", "random", "physical_exam", "11", start + timedelta(days=31))]  # the end: excluded
    again = [(f"{prefix}-M0", "release", at[50]), (f"{prefix}-B0", "release", at[51])]
    records = [
        replace(
            base,
            entry_id=e,
            entry={**base.entry, "entry_id": e, "entry_type": t, "declared_value_usd": 500.0},  # valid as type 86 too
            selection=s,
            action=a,
            decided_at=d,
            request_id="perf-test",
        )
        for e, s, a, t, d in rows
    ]
    records += [
        replace(
            base,
            entry_id=e,
            entry={**base.entry, "entry_id": e},
            action=a,
            selection=None,
            decided_at=d,
            model_version=base.model_version + 100,
        )  # fmt: skip
        for e, a, d in again
    ]
    inspected = (
        [(f"{prefix}-M{i}", "model", i < 3) for i in range(4)]
        + [(f"{prefix}-X{i}", "random", i == 0) for i in range(10)]
        + [(f"{prefix}-R0", "officer", True)]
    )
    engine = store.make_engine(live.settings.database_url)
    with Session(engine) as session:
        store.add_decisions(session, records)
        for hours, (entry_id, selected_by, violation) in enumerate(inspected, start=1):
            first = store.decisions_of_entry(session, entry_id)[-1]
            store.add_outcome(session, outcome(first, selected_by, violation, hours))
        store.rollups.recount_days(session)  # written around the service: counted as a migration counts them
        session.commit()
    engine.dispose()
    return prefix


def outcome(decision: store.Decision, selected_by: str, violation: bool, hours: int) -> store.Outcome:
    revenue = (50.0 if selected_by == "officer" else 100.0) if violation else 0.0
    return store.Outcome(
        entry_id=decision.entry_id,
        decision_id=decision.id,
        inspected_at=decision.decided_at + timedelta(hours=hours),
        violation=violation,
        violation_types=["undervaluation"] if violation else [],
        revenue_recovered=revenue,
        selected_by=selected_by,
        note="",
        digest=uuid.uuid4().hex,
        recorded_at=decision.decided_at + timedelta(days=2),
        recorded_by_key="tests",
        decided_at=decision.decided_at,
    )


def _rows(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {i[key]: i for i in items}


@pytest.fixture(scope="module")
def march(live: LiveServer, history: pd.DataFrame) -> str:
    return seed_month(live, history, MARCH[0])


def test_known_decisions_give_exact_figures(live: LiveServer, march: str) -> None:
    with live.client(Role.REVIEWER) as reviewer:
        answer = reviewer.get("/v1/performance", params={"from": "2001-03-01", "to": "2001-04-01"})
    assert answer.status_code == 200, answer.text
    p = answer.json()
    assert p["from"].startswith("2001-03-01T00:00:00") and p["to"].startswith("2001-04-01T00:00:00")
    assert p["total"]["entries"] == 39 and p["total"]["outcomes"] == 15 and p["total"]["violations"] == 5
    assert [s["source"] for s in p["sources"]] == ["model", "rule", "random", "officer", "none"]
    sources = _rows(p["sources"], "source")
    counts = {s: [sources[s][k] for k in ("entries", "inspections", "outcomes", "violations")] for s in sources}
    assert counts == {
        "model": [7, 7, 4, 3],
        "rule": [2, 2, 0, 0],
        "random": [10, 10, 10, 1],
        "officer": [1, 1, 1, 1],
        "none": [19, 0, 0, 0],
    }
    assert sources["model"]["revenue_recovered"] == 300.0 and sources["officer"]["revenue_recovered"] == 50.0
    model, chance = sources["model"]["hit_rate"], sources["random"]["hit_rate"]
    assert model["estimate"] == 0.75 and chance["estimate"] == 0.1 and sources["rule"]["hit_rate"] is None
    assert chance["low"] == pytest.approx(0.01787, abs=1e-4) and chance["high"] == pytest.approx(0.40415, abs=1e-4)
    assert p["lift"]["estimate"] == pytest.approx(7.5)
    katz = math.sqrt(0.25 / 3 + 0.9 / 1)
    assert p["lift"]["low"] == pytest.approx(7.5 * math.exp(-1.959963984540054 * katz))
    lanes = _rows(p["lanes"], "lane")
    assert [lane["lane"] for lane in p["lanes"]] == ["release", "document_review", "physical_exam"]
    assert lanes["physical_exam"]["entries"] == 17 and lanes["release"]["entries"] == 20
    assert lanes["release"]["inspections"] == 1
    cells = {(c["source"], c["lane"]): c["entries"] for c in p["cells"]}
    assert cells == {("model", "physical_exam"): 7, ("rule", "document_review"): 2, ("random", "physical_exam"): 10,
                     ("officer", "release"): 1, ("none", "release"): 19}  # fmt: skip
    assert p["released_without_intervention"] == 19 and p["released_share"] == pytest.approx(19 / 39)
    assert p["median_seconds_to_outcome"] == pytest.approx(8 * 3600, abs=1)


def test_the_compliance_estimate_weights_the_random_sample_by_stratum(live: LiveServer, march: str) -> None:
    with live.client(Role.REVIEWER) as reviewer:
        c = reviewer.get("/v1/performance?from=2001-03-01&to=2001-04-01").json()["compliance"]
    assert c["stratified_by"] == "entry_type"
    strata = {s["stratum"]: (s["entries"], s["sampled"], s["violations"]) for s in c["strata"]}
    assert strata == {"01": (24, 5, 1), "11": (11, 5, 0), "86": (4, 0, 0)}
    assert c["unsampled"] == ["86"] and c["represented_share"] == pytest.approx(35 / 39)
    assert c["estimate"] == pytest.approx(1 - 24 / 35 * 0.2)
    variance = (24 / 35) ** 2 * 0.2 * 0.8 / 5 * (1 - 5 / 24)
    assert c["standard_error"] == pytest.approx(math.sqrt(variance))
    assert c["low"] < c["estimate"] < c["high"] <= 1
    assert next(s for s in c["strata"] if s["stratum"] == "86")["compliance"] is None


def test_an_empty_window_has_counts_of_zero_and_no_rates(live: LiveServer) -> None:
    with live.client(Role.REVIEWER) as reviewer:
        p = reviewer.get("/v1/performance?from=1990-01-01&to=1990-02-01").json()
    assert p["total"]["entries"] == 0 and p["sources"] == [] and p["lift"] is None
    assert p["released_share"] is None and p["median_seconds_to_outcome"] is None
    assert p["compliance"]["estimate"] is None and p["compliance"]["strata"] == []


def test_a_key_is_needed_and_a_window_must_make_sense(live: LiveServer) -> None:
    with live.client(None) as anon:
        assert anon.get("/v1/performance").status_code == 401
    with live.client(Role.SCORER) as scorer:
        assert scorer.get("/v1/performance").status_code == 403
    with live.client(Role.REVIEWER) as reviewer:
        backwards = reviewer.get("/v1/performance?from=2001-04-01&to=2001-03-01")
        assert backwards.status_code == 422
        assert backwards.json()["detail"][0]["field"] == "from" and "before" in backwards.json()["detail"][0]["reason"]
        empty = reviewer.get("/v1/performance?from=2001-03-01&to=2001-03-01")
        assert empty.status_code == 422
        garbled = reviewer.get("/v1/performance?from=yesterday")
        assert garbled.status_code == 422 and garbled.json()["detail"][0]["field"] == "query.from"
        assert reviewer.get("/v1/performance?to=2001-13-45").status_code == 422
        default = reviewer.get("/v1/performance")
        assert default.status_code == 200
        window = datetime.fromisoformat(default.json()["to"]) - datetime.fromisoformat(default.json()["from"])
        assert window == timedelta(days=30)


def test_metrics_carry_the_headline_figures(live: LiveServer, march: str) -> None:
    with live.client(Role.REVIEWER) as reviewer:
        scrape, deadline = "", time.monotonic() + 120
        while 'targeting_performance_hit_rate{source="model"}' not in scrape and time.monotonic() < deadline:
            scrape = reviewer.get("/metrics").text  # the first scrape starts the figures' computation
            time.sleep(0.1)
    for name in ("targeting_performance_compliance", "targeting_performance_lift", "targeting_performance_entries"):
        assert f"# TYPE {name} gauge" in scrape
    assert 'targeting_performance_hit_rate{source="model"}' in scrape
    # the figures themselves, over the seeded month as the last 31 days of a clock set to its end
    engine = store.make_engine(live.settings.database_url)
    metrics = Metrics()
    monitor = PerformanceMonitor(lambda: sessionmaker(engine), metrics, days=31, clock=lambda: MARCH[1])
    assert not [line for line in metrics.exposition().decode().splitlines() if line.startswith("targeting_perf")]
    deadline = time.monotonic() + 120  # the first scrape found no figures and started their computation
    while monitor.refreshing and time.monotonic() < deadline:
        time.sleep(0.05)
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.exposition().decode().splitlines()
        if line.startswith("targeting_performance")
    }
    engine.dispose()
    assert values == pytest.approx(
        {
            'targeting_performance_hit_rate{source="model"}': 0.75,
            'targeting_performance_hit_rate{source="random"}': 0.1,
            "targeting_performance_lift": 7.5,
            "targeting_performance_compliance": 1 - 24 / 35 * 0.2,
            "targeting_performance_released_share": 19 / 39,
            "targeting_performance_entries": 39,
        }
    )


def test_the_daily_counts_kept_on_write_are_those_the_records_give(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame
) -> None:
    """Scoring and outcomes over HTTP keep the daily counts as a recount from the decisions and outcomes finds
    them, and a window of whole days reads them as a window inside the days reads the decisions."""
    entries = [entry_json(history, i) for i in range(7100, 7130)]
    decided = client.post("/v1/score", json={"entries": entries}).json()["decisions"]
    for d, e in list(zip(decided, entries))[:6]:
        found = ["undervaluation"] if d["score"] > 0.1 else []
        body = {"entry_id": d["entry_id"], "violation_types": found, "inspected_at": e["filed_at"],
                "revenue_recovered": 10.0, "selected_by": "officer", "note": ""}  # fmt: skip
        assert client.post("/v1/outcomes", json=body).status_code == 201
    engine = store.make_engine(live.settings.database_url)
    with Session(engine) as session:
        kept = _daily_rows(session)
        store.rollups.recount_days(session)
        assert _daily_rows(session) == kept
        session.rollback()
    engine.dispose()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    whole = client.get(
        "/v1/performance", params={"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()}
    )
    tick = timedelta(microseconds=1)
    inside = {"from": (today + tick).isoformat(), "to": (today + timedelta(days=1) - tick).isoformat()}
    inside = client.get("/v1/performance", params=inside)
    assert whole.status_code == inside.status_code == 200
    figures = [{k: v for k, v in r.json().items() if k not in ("from", "to")} for r in (whole, inside)]
    assert figures[0] == figures[1] and figures[0]["total"]["entries"] >= 30


def _daily_rows(session: Session) -> tuple[list[Any], list[Any]]:
    decided = session.execute(select(store.rollups.DecidedDay)).scalars()
    outcomes = session.execute(select(store.rollups.OutcomeDay)).scalars()
    key = ("day", "selection", "action", "entry_type", "port_of_entry", "entries")
    okey = ("day", "selected_by", "selection", "action", "entry_type", "port_of_entry", "outcomes", "violations")
    return (
        sorted(tuple(getattr(r, k) for k in key) for r in decided),
        sorted((*(getattr(r, k) for k in okey), round(r.revenue_recovered, 6)) for r in outcomes),
    )
