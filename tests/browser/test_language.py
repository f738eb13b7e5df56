"""Switching the language in a real browser: the choice follows the user to another device."""

from __future__ import annotations

import pytest

from kasatka.accounts.models import User

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _nav(page) -> str:
    return page.locator("header nav").inner_text()


def test_a_seller_switches_to_english_and_it_follows_her(page, chromium, live_server, alice):
    sign_in(page, "alice")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "Сегодня" in _nav(page)

    with page.expect_navigation():
        page.select_option("#language", "en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Today" in _nav(page) and "Сегодня" not in _nav(page)
    assert page.get_by_role("button", name="Log out").is_visible()
    screenshot(page, "language-en")
    alice.refresh_from_db()
    assert alice.language == "en"

    # Another device, with a Russian browser: English from the first page after signing in.
    other = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="ru-RU")
    try:
        laptop = other.new_page()
        laptop.base_url = live_server.url
        sign_in(laptop, "alice")
        assert laptop.locator("html").get_attribute("lang") == "en"
        assert "Today" in _nav(laptop)
    finally:
        other.close()

    with page.expect_navigation():
        page.select_option("#language", "ru")
    assert "Сегодня" in _nav(page)
    assert User.objects.get(pk=alice.pk).language == "ru"
    screenshot(page, "language-ru")

