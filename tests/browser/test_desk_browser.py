"""The desk as a reviewer uses it: Debian's Chromium, driven by Playwright, against the service on real HTTP.

Sign in, filter the queue, open an entry with the keyboard, check the waterfall against the decision, record
an outcome and see it, read the model page; at 1280 px and at a laptop's 1366 x 768. Screenshots of the queue,
an entry and the model page go to $DESK_SCREENSHOTS (default: artifacts/screenshots)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from decisions.keys import Role
from features.schema import EXAMPLE_ENTRIES
from model.scoring import Scorer
from tests.browser.conftest import shot as _shot
from tests.live import LiveServer
from tests.service.entries import entry_json

pytestmark = pytest.mark.browser


def _no_sideways_scroll(page: Page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


def _every_field_is_labelled(page: Page) -> None:
    fields = "input:not([type=hidden]), select, textarea"
    unlabelled = page.evaluate(f"""() => Array.from(document.querySelectorAll("{fields}"))
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label")).map(e => e.name)""")
    assert unlabelled == [], page.url


# WCAG's contrast ratio of every piece of HTML text against the first opaque background behind it
CONTRAST = """() => {
  const channel = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const luminance = c => { const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(channel);
                           return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const behind = el => { for (let e = el; e; e = e.parentElement) { const c = getComputedStyle(e).backgroundColor;
                           const m = c.match(/[\\d.]+/g); if (m && (m.length < 4 || +m[3] > 0.5)) return c; }
                         return "rgb(255, 255, 255)"; };
  const low = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el instanceof SVGElement || ![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const style = getComputedStyle(el);
    if (style.display === "none" || style.visibility === "hidden" || el.getClientRects().length === 0) continue;
    const a = luminance(style.color), b = luminance(behind(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return low;
}"""


def _readable(page: Page) -> None:
    assert page.evaluate(CONTRAST) == [], page.url


def test_a_reviewer_signs_in_filters_opens_an_entry_and_records_an_outcome(
    live: LiveServer, page: Page, history: pd.DataFrame, scorer: Scorer, database_url: str
) -> None:
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    importer = f"IMP-BROWSER-{datetime.now():%H%M%S%f}"
    entries = [entry_json(history, i) | {"importer_id": importer} for i in range(900, 930)]
    with live.client(Role.SCORER) as api:
        answer = api.post("/v1/score", json={"entries": entries})
        assert answer.status_code == 200, answer.text
    decided = {d["entry_id"]: d for d in answer.json()["decisions"]}

    # sign in: the queue sends a stranger to the sign-in form and back
    page.goto(f"{live.url}/desk/queue")
    expect(page).to_have_url(f"{live.url}/desk/sign-in?next=/desk/queue")
    _every_field_is_labelled(page)
    page.get_by_label("API key").fill(live.keys[Role.REVIEWER])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live.url}/desk/queue")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Queue")

    # filter the queue to the importer: every row is theirs, highest score first
    page.get_by_label("Importer").fill(importer)
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(len(entries))
    assert set(rows.locator("td:nth-child(6)").all_inner_texts()) == {importer}
    scores = [float(s) for s in rows.locator("td.score").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    _every_field_is_labelled(page)
    _no_sideways_scroll(page)
    _readable(page)
    _shot(page, "queue", backend)

    # the keyboard: j moves to the first entry, Enter opens it
    page.locator("body").press("j")
    first = page.locator("a.entry-link").first
    expect(first).to_be_focused()
    entry_id = first.inner_text()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_contain_text(entry_id)
    decision = decided[entry_id]

    # the chart: one bar per listed contribution; from the base value they add up to the margin, which the
    # model's calibration turns into the score shown
    bars = page.locator("#waterfall rect.bar")
    kinds = bars.evaluate_all("rs => rs.map(r => r.dataset.kind)")
    values = [float(v) for v in bars.evaluate_all("rs => rs.map(r => r.dataset.value)")]
    listed = page.locator("table.contributions tr.listed")
    steps = [v for k, v in zip(kinds, values) if k in ("contribution", "rest")]
    assert kinds[0] == "base" and kinds[-1] == "total" and len(steps) == listed.count() > 0
    listed_values = [float(v) for v in listed.evaluate_all("rs => rs.map(r => r.dataset.value)")]
    assert listed_values == steps
    assert values[0] + sum(steps) == pytest.approx(values[-1], abs=1e-6)
    assert values[-1] == pytest.approx(decision["raw_score"], abs=1e-6)
    shown = float(page.locator("#score").get_attribute("data-score") or "nan")
    assert shown == pytest.approx(float(scorer.model.calibration.probability(values[-1])), abs=1e-6)
    assert shown == pytest.approx(decision["score"], abs=1e-6)
    for reason in decision["reasons"]:
        expect(page.locator("ol.reasons")).to_contain_text(reason["sentence"])
    _every_field_is_labelled(page)
    _no_sideways_scroll(page)
    _readable(page)
    _shot(page, "entry", backend)

    # record an outcome and see it on the page
    filed = datetime.fromisoformat(decided[entry_id]["decided_at"]) - timedelta(days=400)  # any time after filing
    filed = max(filed, datetime.fromisoformat(next(e for e in entries if e["entry_id"] == entry_id)["filed_at"]))
    page.get_by_label("Inspection ended (UTC)").fill((filed + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("undervaluation").check()
    page.get_by_label("Revenue recovered (USD)").fill("980.25")
    page.get_by_label("Why it was inspected").select_option("officer")
    page.get_by_label("Note").fill("invoice found at 15 % of the market price")
    page.get_by_role("button", name="Record outcome").click()
    expect(page.get_by_role("status")).to_have_text("Outcome recorded.")
    expect(page.locator("#outcome-recorded")).to_contain_text("violation: undervaluation")
    expect(page.locator("#outcome-recorded")).to_contain_text("$980.25")
    expect(page.locator("#outcome-form")).to_have_count(0)
    with live.client(Role.REVIEWER) as api:
        assert api.get(f"/v1/decisions/{entry_id}").json()["outcome"]["violation_types"] == ["undervaluation"]

    # the queue marks it; the model page shows champion, history and drift (recomputed now, not in 5 minutes)
    with live.client(Role.REVIEWER) as api:
        assert api.get("/v1/monitoring/drift", params={"refresh": True}).status_code == 200
    page.go_back()
    page.goto(f"{live.url}/desk/queue?importer={importer}")
    expect(page.locator("table.queue tbody tr", has_text=entry_id)).to_contain_text("violation found")
    page.get_by_role("link", name="Model & drift").click()
    expect(page.get_by_role("heading", name="Champion: version 1")).to_be_visible()
    expect(page.get_by_role("heading", name="Drift", exact=True)).to_be_visible()
    expect(page.locator("table.drift tbody tr")).to_have_count(len(scorer.pipeline.feature_names) + 1)
    _no_sideways_scroll(page)
    _readable(page)
    _shot(page, "model", backend)

    # a laptop screen: nothing runs off the side
    page.set_viewport_size({"width": 1366, "height": 768})
    for path in ("/desk/queue", f"/desk/entries/{entry_id}", "/desk/model"):
        page.goto(live.url + path)
        _no_sideways_scroll(page)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live.url}/desk/sign-in")
    page.goto(f"{live.url}/desk/queue")
    expect(page).to_have_url(f"{live.url}/desk/sign-in?next=/desk/queue")


def test_long_feature_names_are_drawn_whole_inside_the_chart(live: LiveServer, page: Page) -> None:
    # steel nails from China without their AD/CVD case number: long reason labels
    entry = {**EXAMPLE_ENTRIES[0], "entry_id": f"NAILS-{datetime.now():%H%M%S%f}", "adcvd_case_no": None}
    with live.client(Role.SCORER) as api:
        assert api.post("/v1/score", json={"entries": [entry]}).status_code == 200
    page.goto(f"{live.url}/desk/sign-in?next=/desk/entries/{entry['entry_id']}")
    page.get_by_label("API key").fill(live.keys[Role.REVIEWER])
    page.get_by_role("button", name="Sign in").click()
    labels = page.locator("#waterfall text.name").evaluate_all(
        "ts => ts.map(t => [t.querySelector('title').textContent, [...t.querySelectorAll('tspan')].map(s => "
        "s.textContent)])"
    )
    assert any(len(lines) == 2 for _, lines in labels), labels  # the longest names wrap onto a second line
    for label, lines in labels:  # and are drawn whole, the full name in the tooltip
        assert " ".join(lines) == label or (len(label) > 80 and lines[-1].endswith("…")), (label, lines)
    names = [" ".join(lines) for _, lines in labels]
    outside = page.locator("#waterfall text").evaluate_all(
        "ts => ts.filter(t => t.getBBox().x < 0 || t.getBBox().x + t.getBBox().width > "
        "t.ownerSVGElement.viewBox.baseVal.width + 0.5).map(t => t.textContent)"
    )
    assert outside == [], names


def test_the_pages_load_nothing_from_elsewhere(live: LiveServer, page: Page) -> None:
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    failed: list[Any] = []
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" else None)
    page.goto(f"{live.url}/desk/sign-in")
    page.get_by_label("API key").fill(live.keys[Role.ADMIN])
    page.get_by_role("button", name="Sign in").click()
    for path in ("/desk/queue", "/desk/model"):
        page.goto(live.url + path)
    assert requested and all(u.startswith(live.url) for u in requested), requested
    assert failed == []  # no script, style or image refused by the content security policy


def test_a_waiver_posted_from_the_page_of_an_id_with_dot_segments_lands_on_that_entry(
    live: LiveServer, page: Page, history: pd.DataFrame
) -> None:
    # `P/../Q` read as a path would be Q's page: every link, form and redirect must keep it one segment
    tag = f"{datetime.now():%H%M%S%f}"
    importer = f"IMP-DOTS-{tag}"
    tricky, other = f"P{tag}/../Q{tag}", f"Q{tag}"
    entries = [
        entry_json(history, 940) | {"entry_id": tricky, "importer_id": importer},
        entry_json(history, 941) | {"entry_id": other, "importer_id": importer},
    ]
    with live.client(Role.SCORER) as api:
        assert api.post("/v1/score", json={"entries": entries}).status_code == 200

    # signed out, the page of the tricky id sends the reviewer through sign-in and back to that same page
    page.goto(f"{live.url}/desk/entries/{quote(tricky, safe='')}")
    page.get_by_label("API key").fill(live.keys[Role.REVIEWER])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Entry {tricky}")

    # from the queue, by its link, then the waiver form
    page.goto(f"{live.url}/desk/queue?importer={importer}")
    page.locator("a.entry-link", has_text=tricky).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Entry {tricky}")
    page.get_by_label("New action").select_option("release")
    page.get_by_label("Reason (required)").fill("CF-28 answer documents the price")
    page.get_by_label("Officer").fill("officer.j.doe")
    page.get_by_role("button", name="Record waiver").click()
    expect(page.get_by_role("status")).to_contain_text("Waiver recorded")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Entry {tricky}")
    with live.client(Role.REVIEWER) as api:
        waived = api.get(f"/v1/decisions/{quote(tricky, safe='')}").json()
        untouched = api.get(f"/v1/decisions/{other}").json()
    assert waived["entry_id"] == tricky and [w["reason"] for w in waived["waivers"]] == [
        "CF-28 answer documents the price"
    ]
    assert untouched["waivers"] == []
