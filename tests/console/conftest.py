"""Browser fixtures: a real web process (uvicorn) on the test database, and headless Chromium driven
by Playwright. The browser is the system's (Debian's `chromium`); without one the browser tests fail
and say how to install it: they never skip."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.web import WebProcess, find_chromium, start_web

# The loopback servers the campaign, scan and workflow-run tests use.
from ..campaigns.conftest import dns_server, http_server  # noqa: F401
from ..scans.conftest import _site_server, site  # noqa: F401
from ..workflow_runs.conftest import loopback  # noqa: F401

SCREENS = Path(__file__).resolve().parents[2] / "bench" / "results" / "screens"
NO_BROWSER = (
    "No Chromium found for the browser tests (tests/console/test_browser.py). Install Debian's: "
    "`apt-get install -y chromium` (.ci/run does it when missing), or set RELAY_CHROMIUM=/path/to/chrome."
)


@pytest.fixture(scope="package")
def web_server(django_db_setup: None) -> Iterator[WebProcess]:
    web = start_web(graceful_shutdown=1)
    yield web
    web.stop()


# Package scope, not session: Playwright's sync API keeps an event loop running on this thread while
# it is started, and every later test that calls asyncio.run() would fail ("cannot be called from a
# running event loop"). It stops once the console's tests are done.
@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    path = find_chromium()
    if path is None:
        pytest.fail(NO_BROWSER, pytrace=False)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop on this thread; the tests' own ORM calls stay synchronous.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=path, headless=True)
    except Exception as exc:
        playwright.stop()
        pytest.fail(f"Chromium at {path} did not start: {exc}\n{NO_BROWSER}", pytrace=False)
    yield browser
    browser.close()
    playwright.stop()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(chromium: Any, web_server: WebProcess) -> Iterator[Any]:
    from playwright.sync_api import expect

    context = chromium.new_context(base_url=web_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    expect.set_options(timeout=60_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page: Any) -> Any:
    SCREENS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = SCREENS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
