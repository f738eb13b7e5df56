"""A real browser for the UI tests: Debian's chromium, headless, driven by Playwright.

Chromium comes from the project's set-up (`scripts/install.sh --test` installs the Debian
package); Playwright's own browser downloads are not used. Without chromium the browser
tests are skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls (making
# users, reading results) are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing: run scripts/install.sh --test")
        pytest.skip("chromium is not installed (scripts/install.sh --test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


PASSWORD = "pw-Kasatka-1"


def _page(chromium: Any, live_server: Any, width: int, height: int) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": width, "height": height}, locale="ru-RU")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.base_url = live_server.url  # type: ignore[attr-defined]
    # Every page is checked against the Content Security Policy: a blocked inline script
    # or handler shows up as a console error and fails the test at teardown.
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text)
        if msg.type == "error" and "Content Security Policy" in msg.text
        else None,
    )
    yield page
    context.close()
    assert not violations, f"CSP violations: {violations}"


@pytest.fixture
def page(chromium: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser page on a phone-sized screen (390 × 844), in Russian."""
    yield from _page(chromium, live_server, 390, 844)


@pytest.fixture
def small_phone(chromium: Any, live_server: Any) -> Iterator[Any]:
    """The narrowest screen the UI is built for (360 × 740), in Russian."""
    yield from _page(chromium, live_server, 360, 740)


@pytest.fixture
def laptop(chromium: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser page on a laptop screen (1280 × 800), in Russian."""
    yield from _page(chromium, live_server, 1280, 800)


def sign_in(page: Any, username: str, password: str = PASSWORD, then: str = "/") -> None:
    """Through the real login form, then open `then`."""
    page.goto(page.base_url + "/login/?next=" + then)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("#login button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login/" not in page.url, f"{username} could not sign in"


def assert_fits_the_screen(page: Any) -> None:
    """No sideways scrolling of the whole page (a wide table may scroll in its own box)."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    if overflow > 1:
        culprits = page.evaluate("""() => {
            const width = document.documentElement.clientWidth;
            return Array.from(document.querySelectorAll('body *'))
              .filter(el => el.getBoundingClientRect().right > width + 1)
              .filter(el => !el.closest('.table-wrap'))
              .slice(-3).map(el => el.outerHTML.slice(0, 120));
        }""")
        raise AssertionError(f"the page is {overflow}px wider than the screen: {culprits}")


def screenshot(page: Any, name: str) -> Path:
    """Keep what the browser showed under test-artifacts/ (ignored by git)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
