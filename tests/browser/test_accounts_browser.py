"""Account pages as a reviewer uses them, in Debian's Chromium against the service on real HTTP: from a queue row
to the importer's page, from an entry to its manufacturer's, and the list of importers over their bond.
Screenshots of the account page and the list go to $DESK_SCREENSHOTS."""

from __future__ import annotations

import uuid
from datetime import timedelta
from urllib.parse import quote

import pandas as pd
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from decisions import store
from decisions.keys import Role
from tests.browser.conftest import shot, sign_in
from tests.browser.test_desk_browser import _no_sideways_scroll, _readable
from tests.live import LiveServer
from tests.service.entries import entry_json

pytestmark = pytest.mark.browser


def test_a_reviewer_reads_an_account_from_the_queue_and_lists_accounts_over_their_bond(
    live: LiveServer, page: Page, history: pd.DataFrame, database_url: str
) -> None:
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    importer, mid = f"IMP-PAGE-{uuid.uuid4().hex[:8]}", f"XXPAGE{uuid.uuid4().hex[:9].upper()}"
    entries = [entry_json(history, i) | {"importer_id": importer, "manufacturer_id": mid} for i in range(940, 944)]
    with live.client(Role.ADMIN) as api:
        assert api.post("/v1/score", json={"entries": entries}).status_code == 200
        inspected = (pd.Timestamp(entries[0]["filed_at"]) + timedelta(days=1)).isoformat()
        outcome = {"entry_id": entries[0]["entry_id"], "inspected_at": inspected, "revenue_recovered": 800.0,
                   "violation_types": ["undervaluation"], "selected_by": "officer", "note": ""}  # fmt: skip
        assert api.post("/v1/outcomes", json=outcome).status_code == 201
        assert api.put(f"/v1/accounts/importer/{importer}/bond", json={"amount_usd": 0.5}).status_code == 200
        account = api.get(f"/v1/accounts/importer/{importer}").json()
    with Session(store.make_engine(live.settings.database_url)) as session:
        store.set_watchlisted(session, "importers", importer, "transshipment through a third country", "tests")
        session.commit()

    sign_in(page, live.url, live.keys[Role.REVIEWER], f"/desk/queue?importer={quote(importer)}")
    page.locator("a.account-link").first.click()
    expect(page).to_have_url(f"{live.url}/desk/accounts/importer/{importer}")
    expect(page.locator("#risk")).to_have_text(f"{account['risk']['rate']:.3f}")
    expect(page.locator("#inspections")).to_have_text("1, 1 violations found")
    expect(page.locator("#types")).to_have_text("undervaluation 1")
    expect(page.locator("#recovered")).to_have_text("$800.00")
    expect(page.locator("#watchlist")).to_contain_text("transshipment through a third country")
    expect(page.locator("#bond")).to_contain_text("above the bond")
    assert len(page.locator("#trend polyline").get_attribute("points").split()) == 4  # type: ignore[union-attr]
    expect(page.locator("#decisions tbody tr")).to_have_count(4)
    _readable(page)
    _no_sideways_scroll(page)
    shot(page, "account", backend)

    page.get_by_role("link", name="Accounts", exact=True).click()
    page.get_by_label("only importers whose exposure exceeds their bond").check()
    page.get_by_role("button", name="Show").click()
    row = page.locator("#accounts tbody tr", has=page.get_by_role("link", name=importer))
    expect(row).to_have_count(1)
    rates = [float(r) for r in page.locator("#accounts td[data-rate]").evaluate_all("l => l.map(e => e.dataset.rate)")]
    assert rates == sorted(rates, reverse=True)
    _readable(page)
    shot(page, "accounts", backend)

    page.goto(f"{live.url}/desk/entries/{quote(entries[1]['entry_id'], safe='')}")
    page.get_by_role("link", name=f"manufacturer {mid}").click()
    expect(page.locator("#account-id")).to_have_text(mid)
    expect(page.locator("#bond")).to_have_count(0)  # bonds are importers'
