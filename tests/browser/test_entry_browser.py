"""What a reviewer reads on the queue and on an entry's page, in Debian's Chromium at 1280 px: patterns named only
where the lane warrants one, the entry as filed in people's units, and the chart whole."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from service.keys import Role
from service.patterns import NAMEABLE
from tests.browser.conftest import sign_in
from tests.live import LiveServer
from tests.service.entries import entry_json

pytestmark = pytest.mark.browser


def _score(live: LiveServer, entries: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    with live.client(Role.SCORER) as api:
        answer = api.post("/v1/score", json={"entries": entries})
    assert answer.status_code == 200, answer.text
    return {d["entry_id"]: d for d in answer.json()["decisions"]}


def test_released_entries_name_no_pattern_unless_the_reviewer_asks(live: LiveServer, page: Page,
                                                                   history: pd.DataFrame) -> None:  # fmt: skip
    importer = f"IMP-PATTERN-{datetime.now():%H%M%S%f}"
    decided = _score(live, [entry_json(history, i) | {"importer_id": importer} for i in range(1000, 1040)])
    released = [d for d in decided.values() if d["action"] == "release"]
    assert released and all(d["likely_violation"] is None for d in released)
    sign_in(page, live.url, live.keys[Role.REVIEWER], f"/desk/queue?importer={importer}")

    # the queue: no released row names a pattern; the filter offers only the patterns the desk can name
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(len(decided))
    for row in rows.all():
        if row.locator("td").nth(2).inner_text().startswith("release"):
            assert row.locator("td").nth(4).inner_text() == "—"
    options = page.locator("#f-violation option").evaluate_all("os => os.map(o => o.value)")
    assert options == ["", *NAMEABLE]

    # a released entry's page names none, and tells what its signals point to only when asked
    page.locator("a.entry-link", has_text=str(released[0]["entry_id"])).click()
    expect(page.locator("#likely")).to_contain_text("none named: the entry was released")
    signals = page.locator("#signals")
    if signals.count():  # an entry none of whose signals raise its score has nothing to show
        expect(signals.locator("summary")).to_be_visible()
        expect(signals).not_to_contain_text("log-odds", use_inner_text=True)  # closed
        signals.locator("summary").click()
        expect(signals).to_contain_text("log-odds from its signals", use_inner_text=True)


def test_the_entry_is_recorded_as_sent_and_shown_in_peoples_units(live: LiveServer, page: Page,
                                                                  history: pd.DataFrame) -> None:  # fmt: skip
    sent = entry_json(history, 1100) | {
        "hts_code": "7317.00.5503", "country_of_origin": "cn", "declared_value_usd": 3800, "quantity": 59,
        "quantity_unit": "KG", "gross_weight_kg": 61.5, "related_party": False, "adcvd_case_no": None,
        "entry_type": "01", "mode_of_transport": "11", "filed_at": "2025-03-14T09:30:00Z",
    }  # fmt: skip
    _score(live, [sent])
    with live.client(Role.REVIEWER) as api:
        recorded = api.get(f"/v1/decisions/{sent['entry_id']}").json()["entry"]
    assert recorded == sent  # exactly as sent: the dots, the lower case, the whole number

    sign_in(page, live.url, live.keys[Role.REVIEWER], f"/desk/entries/{sent['entry_id']}")
    fields = page.locator("dl.fields")
    shown = dict(zip(fields.locator("dt").all_inner_texts(), fields.locator("dd").all_inner_texts()))
    assert shown["HTS code"] == "7317.00.5503"
    assert shown["Country of origin"] == "CN"
    assert shown["Declared value (USD)"] == "$3,800.00"
    assert shown["Quantity"] == "59 KG"
    assert shown["Gross weight (kg)"] == "61.5 kg"
    assert shown["Related parties"] == "no"
    assert shown["AD/CVD case number"] == "—"
    assert shown["Entry type"] == "01 (formal)"
    assert shown["Mode of transport"] == "11 (vessel, container)"
    assert shown["Filed"] == "2025-03-14 09:30 UTC"
    assert not {"False", "True", "3800.0", "7317005503"} & set(shown.values())
    # the record itself, on request
    expect(page.locator("#as-sent pre")).not_to_be_visible()
    page.locator("#as-sent summary").click()
    expect(page.locator("#as-sent pre")).to_contain_text('"hts_code": "7317.00.5503"')
