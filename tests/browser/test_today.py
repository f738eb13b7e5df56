"""Throwing a nudge from Today on a phone, in a real browser (issue 8)."""

from __future__ import annotations

import pytest

from kasatka.deals.models import Nudge, NudgeMode, NudgeState
from kasatka.deals.nudging import nudge_stuck_deals
from tests import builders
from tests.web.test_today import msk, stuck_deal

from .conftest import assert_fits_the_screen, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EDITED = "Анна Сергеевна, добрый день! Счёт на кухню «Лофт» в силе или что-то изменилось?"


def test_a_seller_throws_a_nudge_from_today(page, shop, alice, clock):
    # An invoice sent on Monday; on Wednesday the deal is stuck and nudge #1 is proposed.
    clock.set(msk(2))
    anna = builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)
    deal = stuck_deal(anna, "Кухня «Лофт»", "120000", clock, stage="invoice")
    clock.set(msk(4))
    assert nudge_stuck_deals(clock.now()) == 1
    nudge = Nudge.objects.get(deal=deal)

    sign_in(page, "alice")  # Today is her home page
    card = page.locator(f"article[data-nudge='{nudge.pk}']")
    assert card.is_visible()
    assert "Кухня «Лофт»" in card.inner_text()
    text = card.get_by_role("textbox")  # found by its label: a real <label for>
    assert text.input_value() == nudge.text
    text.fill(EDITED)
    assert_fits_the_screen(page)
    screenshot(page, "today-phone")

    # One click; htmx swaps the card for the "thrown" line, without reloading the page.
    page.evaluate("window.kasatkaNoReload = true")
    card.locator("button[name=mode][value=message]").click()
    thrown = page.locator(f"article[data-nudge='{nudge.pk}'][data-state='thrown']")
    thrown.wait_for()
    assert page.evaluate("window.kasatkaNoReload === true")
    assert EDITED in thrown.inner_text()
    assert page.locator(f"article[data-nudge='{nudge.pk}'] textarea").count() == 0

    nudge.refresh_from_db()
    assert (nudge.state, nudge.mode, nudge.text, nudge.thrown_by_id) == (
        NudgeState.THROWN, NudgeMode.MESSAGE, EDITED, alice.pk
    )
    assert nudge.enrollment is not None  # on its way through the engine's nudge chain
    assert_fits_the_screen(page)
    screenshot(page, "today-thrown")

    # A reload shows the day without it: thrown, it is off the list.
    page.reload()
    assert page.locator(f"article[data-nudge='{nudge.pk}']").count() == 0
