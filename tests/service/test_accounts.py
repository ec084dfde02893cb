"""Accounts over real HTTP, on SQLite and PostgreSQL: one account's profile, the list by risk, bonds."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy.orm import Session

from decisions import store
from decisions.keys import Role
from features.pipeline import PRIOR_STRENGTH
from tests.live import LiveServer
from tests.service.entries import entry_json

pytestmark = pytest.mark.slow


def _account_entries(history: pd.DataFrame, n: int) -> tuple[str, str, list[dict[str, Any]]]:
    """`n` entries of the history under a new importer and a new manufacturer, so the accounts are the test's."""
    importer, mid = f"IMP-{uuid.uuid4().hex[:10]}", f"XXTEST{uuid.uuid4().hex[:9].upper()}"
    entries = [entry_json(history, i) | {"importer_id": importer, "manufacturer_id": mid} for i in range(300, 300 + n)]
    return importer, mid, entries


def _outcome(entry: dict[str, Any], types: list[str], recovered: float) -> dict[str, Any]:
    inspected = pd.Timestamp(entry["filed_at"]) + timedelta(days=2)
    return {"entry_id": entry["entry_id"], "inspected_at": inspected.isoformat(), "violation_types": types,
            "revenue_recovered": recovered, "selected_by": "officer", "note": "account test"}  # fmt: skip


def test_an_account_shows_its_entries_outcomes_risk_and_decisions(
    live: LiveServer, client: httpx.Client, history: pd.DataFrame
) -> None:
    importer, mid, entries = _account_entries(history, 5)
    decided = client.post("/v1/score", json={"entries": entries}).json()["decisions"]
    assert client.post("/v1/outcomes", json=_outcome(entries[0], ["undervaluation"], 1200.0)).status_code == 201
    assert client.post("/v1/outcomes", json=_outcome(entries[1], [], 0.0)).status_code == 201
    waiver = {"action": "release", "reason": "contract on file", "by": "officer 7"}
    assert client.post(f"/v1/decisions/{entries[2]['entry_id']}/waivers", json=waiver).status_code == 201
    with Session(store.make_engine(live.settings.database_url)) as session:
        store.set_watchlisted(session, "importers", importer, "prior seizure of counterfeit goods", "tests")
        session.commit()
    assert client.put(f"/v1/accounts/importer/{importer}/bond", json={"amount_usd": 0.01}).status_code == 200

    with live.client(Role.REVIEWER) as reviewer:
        answer = reviewer.get(f"/v1/accounts/importer/{importer}", params={"limit": 2})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    scores = [d["score"] for d in decided]
    assert (body["kind"], body["id"], body["entries"], body["decided"]) == ("importer", importer, 5, 5)
    assert body["violation_types"] == {"undervaluation": 1} and body["revenue_recovered"] == 1200.0
    assert body["revenue_at_stake"] == pytest.approx(sum(d["expected_revenue"] for d in decided))
    assert body["watchlisted"] == "prior seizure of counterfeit goods"
    assert body["bond"]["amount_usd"] == 0.01 and body["exposure_over_bond"] is True
    assert [s for _, s in body["scores"]] == pytest.approx(scores)
    assert [(w["entry_id"], w["reason"]) for w in body["waivers"]] == [(entries[2]["entry_id"], "contract on file")]
    risk = body["risk"]
    mean = sum(scores) / 5
    assert (risk["inspections"], risk["violations"], risk["prior"]) == (2, 1, pytest.approx(mean))
    assert risk["rate"] == pytest.approx((1 + PRIOR_STRENGTH * mean) / (2 + PRIOR_STRENGTH))
    assert risk["low"] < risk["rate"] < risk["high"]

    pages, before = [], None
    with live.client(Role.REVIEWER) as reviewer:
        while True:
            page = reviewer.get(
                f"/v1/accounts/importer/{importer}", params={"limit": 2} | ({"before": before} if before else {})
            ).json()
            pages.append([d["entry_id"] for d in page["decisions"]])
            before = page["next"]
            if before is None:
                break
    newest_first = [e["entry_id"] for e in reversed(entries)]
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]

    maker = client.get(f"/v1/accounts/manufacturer/{mid}").json()
    assert (maker["decided"], maker["risk"]["violations"], maker["bond"]) == (5, 1, None)


def test_accounts_refuse_what_they_cannot_answer(live: LiveServer, client: httpx.Client) -> None:
    assert client.get("/v1/accounts/importer/NEVER-SEEN-1").status_code == 404
    assert client.get("/v1/accounts/carrier/MAEU").status_code == 422
    assert client.get("/v1/accounts", params={"after": "not a cursor"}).status_code == 422
    assert client.get("/v1/accounts", params={"order": "name"}).status_code == 422
    assert client.put("/v1/accounts/importer/X1/bond", json={"amount_usd": -5}).status_code == 422
    assert client.delete("/v1/accounts/importer/NO-BOND-1/bond").status_code == 404
    with live.client(None) as anonymous:
        assert anonymous.get("/v1/accounts").status_code == 401
    with live.client(Role.SCORER) as scorer:
        assert scorer.get("/v1/accounts").status_code == 403
    with live.client(Role.REVIEWER) as reviewer:
        assert reviewer.put("/v1/accounts/importer/X1/bond", json={"amount_usd": 5}).status_code == 403


def test_the_list_pages_accounts_riskiest_first_and_filters_by_bond(
    client: httpx.Client, history: pd.DataFrame
) -> None:
    importer, _, entries = _account_entries(history, 3)
    decided = client.post("/v1/score", json={"entries": entries}).json()["decisions"]
    full = client.get("/v1/accounts", params={"kind": "importer", "limit": 500}).json()
    rates = [a["risk"]["rate"] for a in full["accounts"]]
    assert rates == sorted(rates, reverse=True) and importer in {a["id"] for a in full["accounts"]}

    walked, after = [], None
    while True:
        page = client.get("/v1/accounts", params={"limit": 7} | ({"after": after} if after else {})).json()
        walked += [a["id"] for a in page["accounts"]]
        after = page["next"]
        if after is None:
            break
    assert walked == [a["id"] for a in full["accounts"]]

    exposure = sum(d["expected_revenue"] for d in decided)
    client.put(f"/v1/accounts/importer/{importer}/bond", json={"amount_usd": exposure * 2})
    over = client.get("/v1/accounts", params={"over_bond": True, "limit": 500}).json()["accounts"]
    assert importer not in {a["id"] for a in over}
    client.put(f"/v1/accounts/importer/{importer}/bond", json={"amount_usd": exposure / 2})
    over = client.get("/v1/accounts", params={"over_bond": True, "limit": 500}).json()["accounts"]
    mine = next(a for a in over if a["id"] == importer)
    assert (mine["bond_usd"], mine["exposure_usd"]) == (exposure / 2, pytest.approx(exposure))
    assert all(a["exposure_usd"] > a["bond_usd"] for a in over)
    assert client.delete(f"/v1/accounts/importer/{importer}/bond").status_code == 204
