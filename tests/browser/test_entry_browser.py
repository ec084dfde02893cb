"""What a reviewer reads on the queue and on an entry's page, in Debian's Chromium at 1280 px: patterns named only
where the lane warrants one, the entry as filed in people's units, and the chart whole."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from playwright.sync_api import Page, Route, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from decisions.keys import Role
from decisions.patterns import NAMEABLE
from tests.browser.conftest import sign_in
from tests.live import LiveServer
from tests.service.entries import entry_json

pytestmark = pytest.mark.browser


def _score(live: LiveServer, entries: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    with live.client(Role.SCORER) as api:
        answer = api.post("/v1/score", json={"entries": entries})
    assert answer.status_code == 200, answer.text
    return {d["entry_id"]: d for d in answer.json()["decisions"]}


def test_released_entries_name_no_pattern_unless_the_reviewer_asks(
    live: LiveServer, page: Page, history: pd.DataFrame
) -> None:
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


def test_the_entry_is_recorded_as_sent_and_shown_in_peoples_units(
    live: LiveServer, page: Page, history: pd.DataFrame
) -> None:
    sent = entry_json(history, 1100) | {
        "hts_code": "7317.00.5503",
        "country_of_origin": "cn",
        "declared_value_usd": 3800,
        "quantity": 59,
        "quantity_unit": "KG",
        "gross_weight_kg": 61.5,
        "related_party": False,
        "adcvd_case_no": None,
        "entry_type": "01",
        "mode_of_transport": "11",
        "filed_at": "2025-03-14T09:30:00Z",
    }
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


# elements drawn on more than one line: an inline element broken over lines, or a box taller than a line
WRAPPED = """els => els.filter(e => {
  const style = getComputedStyle(e), line = parseFloat(style.lineHeight) || parseFloat(style.fontSize) * 1.45;
  return e.getClientRects().length > 1 || e.getBoundingClientRect().height > line * 1.6;
}).map(e => e.textContent)"""


def test_the_queue_at_1280_px_keeps_badges_and_ids_on_one_line_and_answers_keys_at_once(
    live: LiveServer, page: Page, history: pd.DataFrame
) -> None:
    importer = f"IMP-LAYOUT-WITH-A-LONG-HYPHENATED-NAME-{datetime.now():%H%M%S%f}"
    entries = [
        entry_json(history, i) | {"importer_id": importer, "entry_id": f"ABC-{i}-{datetime.now():%H%M%S%f}-X"}
        for i in range(1200, 1215)
    ]
    decided = _score(live, entries)
    sign_in(page, live.url, live.keys[Role.REVIEWER], f"/desk/queue?importer={importer}")
    assert page.evaluate("window.innerWidth") == 1280
    assert page.locator("table.queue .band").evaluate_all(WRAPPED) == []
    assert page.locator("table.queue .id").evaluate_all(WRAPPED) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.locator("table.queue span.id").first.get_attribute("title") == importer  # whole, on hover
    # no outcome or waiver on this page: no empty Review column
    assert "Review" not in page.locator("table.queue thead").inner_text()

    # j, j, Enter as soon as the first row shows, the desk's script slow to arrive: the second entry opens
    order = page.locator("a.entry-link").all_inner_texts()
    held: list[Route] = []
    page.route("**/desk/static/desk.js", lambda route: held.append(route))
    page.goto(f"{live.url}/desk/queue?importer={importer}", wait_until="commit")
    try:  # a page that shows its rows before its script has them answer no key
        page.wait_for_selector("a.entry-link", state="visible", timeout=1500)
        keys_before_script = True
    except PlaywrightTimeout:
        keys_before_script = False
    if keys_before_script:
        page.keyboard.press("j")
        page.keyboard.press("j")
        page.keyboard.press("Enter")
    assert len(held) == 1
    page.unroute("**/desk/static/desk.js")  # lets the held script through; the entry's page loads it as usual
    if not keys_before_script:
        page.wait_for_selector("a.entry-link", state="visible")
        page.keyboard.press("j")
        page.keyboard.press("j")
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Entry {order[1]}")
    assert set(order) == set(decided)


def test_the_entry_page_shows_the_calibration_step_the_axis_and_an_empty_officer(
    live: LiveServer, page: Page, history: pd.DataFrame
) -> None:
    entry = entry_json(history, 1300)
    decision = _score(live, [entry])[entry["entry_id"]]
    sign_in(page, live.url, live.keys[Role.REVIEWER], f"/desk/entries/{entry['entry_id']}")
    step = page.locator("#calibration")
    expect(step).to_contain_text(f"{float(decision['raw_score']):.3f}".replace("-", "−"))  # type: ignore[arg-type]
    expect(step).to_contain_text(f"maps it to the score {float(decision['score']):.3f}")  # type: ignore[arg-type]
    expect(page.locator("#wf-axis")).to_contain_text("log-odds")
    expect(page.get_by_label("Officer")).to_have_value("")  # who waives is typed by the officer, not the key's name
    assert (
        page.locator("#waterfall text.name tspan").evaluate_all(
            "ts => ts.filter(t => t.textContent.endsWith('…')).length"
        )
        == 0
    )
