"""Debian's Chromium, driven by Playwright, for the pages the service serves; and where screenshots go."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

# where the browser tests leave their screenshots; named at the end of the run, so that CI's log says where
SHOTS = Path(os.environ.get("DESK_SCREENSHOTS", Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# headless, and nothing that reaches for the network on its own: this machine has none
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--metrics-recording-only",
    "--no-default-browser-check",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"no Chromium at {CHROMIUM}: `apt-get install chromium` (make test installs it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def shot(page: Page, name: str, backend: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}-{backend}.png"), full_page=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = sorted(SHOTS.glob("*.png")) if SHOTS.is_dir() else []
    if shots:
        terminalreporter.write_line(f"desk screenshots ({len(shots)}): {SHOTS}: {', '.join(p.name for p in shots)}")


def sign_in(page: Page, url: str, key: str, then: str = "/desk/queue") -> None:
    """Sign in to the desk through its form, landing on `then`."""
    page.goto(f"{url}/desk/sign-in?next={then}")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}{then}")
