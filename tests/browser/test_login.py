"""Signing in, in a real browser: the first of the UI's browser tests (issue 8)."""

from __future__ import annotations

import pytest

from kasatka.accounts.models import Role, User

from .conftest import assert_fits_the_screen, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def seller(shop):
    return User.objects.create_user(
        "alice", password="pw-Kasatka-1", business=shop, role=Role.SELLER,
        first_name="Алиса", last_name="Петрова",
    )


def test_a_seller_signs_in_on_a_phone_and_sees_her_day(page, seller):
    page.goto(page.base_url + "/")
    assert "/login/" in page.url  # not signed in: the login page
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "pw-Kasatka-1")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login/" not in page.url
    assert page.locator("nav").count() >= 1
    assert "Алиса Петрова" in page.content()  # her name in the header
    assert_fits_the_screen(page)  # the menu scrolls in its strip, the page does not
    shot = screenshot(page, "login-phone")
    assert shot.stat().st_size > 5_000  # a page was drawn, not a blank


def test_a_wrong_password_keeps_her_out_with_a_message(page, seller):
    page.goto(page.base_url + "/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login/" in page.url
    assert page.locator(".errornote, .errorlist, .error").count() >= 1
    screenshot(page, "login-refused")
