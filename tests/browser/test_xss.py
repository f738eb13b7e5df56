"""In a real browser, no page runs the script hidden in a client's name, deal or reply."""

from __future__ import annotations

import pytest

from tests.web.test_xss import EVIL, hostile_world, pages

from .conftest import screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_no_page_runs_a_hostile_name(laptop, shop, alice, owner, clock, smtp):
    ids = hostile_world(shop, alice, clock)
    dialogs: list[str] = []
    laptop.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(laptop, "olga")
    for url in pages(ids):
        laptop.goto(laptop.base_url + url)
        laptop.wait_for_load_state("networkidle")
        assert not dialogs, f"{url} ran a script: {dialogs}"
    laptop.goto(laptop.base_url + f"/contacts/{ids['contact']}/")
    assert EVIL in laptop.locator("main").inner_text()  # shown to the reader, as text
    screenshot(laptop, "xss-contact-card")
