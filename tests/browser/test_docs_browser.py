"""The API's page on a closed network: /docs renders from what the service serves, and nothing else is asked for
(a request to any other host is refused, as on a network that reaches only the service). There is no /redoc:
ReDoc's page fetches its logo from the web."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.browser.conftest import shot
from tests.live import LiveServer

pytestmark = pytest.mark.browser


def _offline(page: Page, live: LiveServer) -> tuple[list[str], list[str]]:
    """Cut the page off from everything but the service; the requests it made elsewhere, and its console errors."""
    elsewhere: list[str] = []
    errors: list[str] = []

    def only_the_service(route: Route) -> None:
        if route.request.url.startswith(live.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    page.route("**/*", only_the_service)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return elsewhere, errors


def test_docs_render_every_operation_with_nothing_fetched_from_elsewhere(
    live: LiveServer, page: Page, database_url: str
) -> None:
    elsewhere, errors = _offline(page, live)
    page.goto(f"{live.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("shipment-targeting")
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    paths: list[Any] = operations.evaluate_all("ps => ps.map(p => p.getAttribute('data-path'))")
    schema = page.request.get(f"{live.url}/openapi.json").json()
    assert set(paths) == set(schema["paths"]), paths
    # the example request of the scoring operation is shown, from the document
    scoring = page.locator(".opblock-post", has=page.locator("[data-path='/v1/score']"))
    scoring.locator(".opblock-summary").click()
    expect(scoring.locator(".body-param__example")).to_contain_text('"entries"')
    shot(page, "docs", database_url.split(":", 1)[0].split("+", 1)[0])
    assert elsewhere == [] and errors == []
    assert page.request.get(f"{live.url}/redoc").status == 404
