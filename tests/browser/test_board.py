"""The deals board in a real browser: a seller drags a deal to the next stage on a laptop,
and on a phone (no drag events on a touch screen) moves one with the card's form."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from kasatka.deals.actions import create_deal, win_deal
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import Deal, DealStageChange, Nudge
from kasatka.deals.nudging import nudge_stuck_deals
from kasatka.engine.clock import now as clock_now
from kasatka.sales.models import LossKind, LossReason
from tests import builders

from .conftest import assert_fits_the_screen, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pipeline(shop, alice):
    """The default pipeline with a few of Alice's deals at its first stages."""
    pipeline = ensure_default_pipeline(shop)
    stages = list(pipeline.stages.order_by("position"))
    anna = builders.contact(shop, email="anna@example.com", owner=alice)
    ivan = builders.contact(shop, email="ivan@example.com", first_name="Иван",
                            patronymic="Петрович", last_name="Сидоров", owner=alice)
    create_deal(anna, "Кухня «Лофт»", Decimal(180000), stages[0])
    create_deal(ivan, "Шкаф-купе", Decimal(95000), stages[1])
    create_deal(anna, "Стол из дуба", Decimal(60000), stages[2])
    # An invoice sent two weeks ago and never paid: stuck, with a nudge proposed.
    create_deal(ivan, "Гардеробная", Decimal(240000), stages[3],
                at=clock_now() - timedelta(days=14))
    nudge_stuck_deals(clock_now())
    LossReason.objects.create(business=shop, name="Дорого", kind=LossKind.OBJECTIVE)
    return pipeline, stages


def test_a_seller_drags_a_deal_to_the_next_stage(laptop, alice, pipeline):
    _pipeline, stages = pipeline
    deal = Deal.objects.get(title="Кухня «Лофт»")
    sign_in(laptop, "alice", then="/deals/board/")
    card = laptop.locator(f"#deal-{deal.pk}")
    first, second = laptop.locator(f"#col-{stages[0].pk}"), laptop.locator(f"#col-{stages[1].pk}")
    assert first.locator(f"#deal-{deal.pk}").count() == 1
    assert second.locator(".deal").count() == 1
    screenshot(laptop, "board-before")

    card.drag_to(second.locator(".cards-list"))

    # The server's card comes back into the new column, and the heads are recounted.
    laptop.locator(f"#col-{stages[1].pk} #deal-{deal.pk}:not(.busy)").wait_for()
    laptop.locator(f"#col-head-{stages[1].pk}[data-count='2']").wait_for()
    assert first.locator(".deal").count() == 0
    assert laptop.locator(f"#col-head-{stages[0].pk}").get_attribute("data-count") == "0"
    assert laptop.locator("#board-msg").is_visible()
    deal.refresh_from_db()
    assert deal.stage == stages[1]
    change = DealStageChange.objects.filter(deal=deal).last()
    assert (change.from_stage, change.to_stage, change.by.username) == (
        stages[0], stages[1], "alice"
    )
    screenshot(laptop, "board-dragged")

    # Closed meanwhile (on another screen): the drop is refused, the card goes back.
    table = Deal.objects.get(title="Стол из дуба")
    win_deal(table)
    laptop.locator(f"#deal-{table.pk}").drag_to(laptop.locator(f"#col-{stages[3].pk}"))
    laptop.locator("#board-msg.error").wait_for()
    laptop.locator(f"#col-{stages[2].pk} #deal-{table.pk}:not(.busy)").wait_for()
    assert laptop.locator(f"#col-{stages[3].pk} #deal-{table.pk}").count() == 0

    # Dropped on "lost", it asks why; cancelling leaves the deal where it was.
    other = Deal.objects.get(title="Шкаф-купе")
    laptop.locator(f"#deal-{other.pk}").drag_to(laptop.locator("#col-lost"))
    dialog = laptop.locator("#lose-dialog")
    dialog.wait_for(state="visible")
    dialog.locator("[data-cancel]").click()
    dialog.wait_for(state="hidden")
    other.refresh_from_db()
    assert other.is_open and laptop.locator(f"#col-{stages[1].pk} #deal-{other.pk}").count() == 1
    # Again, with a reason: the card leaves the board and "lost" counts it.
    laptop.locator(f"#deal-{other.pk}").drag_to(laptop.locator("#col-lost"))
    dialog.wait_for(state="visible")
    dialog.locator("select[name=loss_reason]").select_option(label="Дорого")
    dialog.locator("button[type=submit]").click()
    laptop.locator("#col-head-lost[data-count='1']").wait_for()
    assert laptop.locator(f"#deal-{other.pk}").count() == 0
    other.refresh_from_db()
    assert other.status == "lost" and other.loss_reason.name == "Дорого"

    # The stuck deal is marked, and its nudge opens on the card, editable.
    stuck = Deal.objects.get(title="Гардеробная")
    card = laptop.locator(f"#deal-{stuck.pk}")
    assert card.get_attribute("data-stuck") == "1" and card.locator(".stuck-badge").count() == 1
    card.locator("details.nudge summary").click()
    card.locator("textarea[name=text]").fill("Иван Петрович, счёт в силе?")
    screenshot(laptop, "board-nudge")
    card.locator("button[value=call]").click()
    laptop.wait_for_load_state("networkidle")
    assert "/deals/board/" in laptop.url
    nudge = Nudge.objects.get(deal=stuck)
    assert (nudge.state, nudge.mode) == ("thrown", "call")
    assert nudge.text == "Иван Петрович, счёт в силе?"


def test_on_a_phone_the_board_fits_and_the_card_form_moves_a_deal(page, alice, pipeline):
    _pipeline, stages = pipeline
    deal = Deal.objects.get(title="Шкаф-купе")
    sign_in(page, "alice", then="/deals/board/")
    assert_fits_the_screen(page)  # the columns scroll in their own box
    columns = page.locator(".columns")
    assert columns.evaluate("el => el.scrollWidth > el.clientWidth")
    form = page.locator(f"#deal-{deal.pk} form[data-move-form]")
    form.locator("select[name=to]").select_option(str(stages[2].pk))
    form.locator("button").click()
    page.locator(f"#col-{stages[2].pk} #deal-{deal.pk}:not(.busy)").wait_for()
    deal.refresh_from_db()
    assert deal.stage == stages[2]
    assert DealStageChange.objects.filter(deal=deal, to_stage=stages[2]).exists()
    assert_fits_the_screen(page)
    screenshot(page, "board-phone")
