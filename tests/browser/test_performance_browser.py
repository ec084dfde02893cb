"""The measured-success page as a reviewer reads it: Debian's Chromium against the service on real HTTP, over a
month of known decisions and outcomes (tests/service/test_performance_api.py's); a screenshot of the page goes
to $DESK_SCREENSHOTS (default: artifacts/screenshots)."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from playwright.sync_api import Page, expect

from decisions.keys import Role
from tests.browser.conftest import shot, sign_in
from tests.browser.test_desk_browser import CONTRAST
from tests.live import LiveServer
from tests.service.test_performance_api import seed_month

pytestmark = pytest.mark.browser


def test_a_reviewer_reads_the_figures_of_a_month(
    live: LiveServer, page: Page, history: pd.DataFrame, database_url: str
) -> None:
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    seed_month(live, history, datetime(2002, 3, 1, tzinfo=UTC))
    sign_in(page, live.url, live.keys[Role.REVIEWER])

    # from the desk's navigation to the page, and to the seeded month through its form
    page.get_by_role("navigation", name="Desk").get_by_role("link", name="Measured success").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Measured success")
    expect(page.get_by_role("link", name="Measured success")).to_have_attribute("aria-current", "page")
    page.get_by_label("Decided from (included)").fill("2002-03-01")
    page.get_by_label("up to (excluded)").fill("2002-04-01")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{live.url}/desk/performance?from=2002-03-01&to=2002-04-01")

    expect(page.locator("#entries")).to_have_text("39")
    expect(page.locator("#model-hit-rate")).to_have_text("75.0 %")
    expect(page.locator("#random-hit-rate")).to_have_text("10.0 %")
    expect(page.locator("#lift")).to_have_text("7.50×")
    expect(page.locator("#compliance")).to_have_text("86.3 %")
    expect(page.locator("#released-share")).to_have_text("48.7 %")
    expect(page.locator("#median-delay")).to_have_text("8.0 h")
    sources = page.locator("#sources tbody tr[data-source]")
    assert sources.evaluate_all("rs => rs.map(r => r.dataset.source)") == ["model", "rule", "random", "officer", "none"]
    model = page.locator('#sources tr[data-source="model"] td')
    assert model.all_inner_texts()[:4] == ["7", "7", "4", "3"]
    expect(model.nth(4)).to_contain_text("75.0 %")
    expect(model.nth(5)).to_have_text("$300")
    expect(page.locator('#strata tr[data-stratum="86"]')).to_contain_text("not sampled")
    expect(page.locator("#unsampled")).to_contain_text("86")
    expect(page.locator("#unsampled")).to_contain_text("89.7 %")  # 35 of the 39 entries have a stratum sampled
    assert page.evaluate(CONTRAST) == [], page.url
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "performance", backend)

    # a window that ends before it starts is refused, on the field at fault
    page.get_by_label("Decided from (included)").fill("2002-05-01")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#e-from")).to_contain_text("must be before to")
    expect(page.locator("#f-from")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#entries")).to_have_count(0)
