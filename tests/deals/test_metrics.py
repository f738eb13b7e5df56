"""Nudge metrics by seller, stage and template, on a small book computed by hand."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kasatka.deals.actions import win_deal
from kasatka.deals.metrics import nudge_metrics
from kasatka.deals.models import Answer, Deal, Nudge, NudgeState
from kasatka.deals.nudging import nudge_stuck_deals, throw
from kasatka.deals.replies import record_answer
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")


def msk(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=MSK)


@pytest.fixture
def figures(shop, clock, make_deal, alice, bob, stages):
    """Five stuck deals, each nudged once on Wednesday 4 March:

    | deal | seller | stage   | answer | then              |
    | a1   | alice  | invoice | yes    | won on 6 March    |
    | a2   | alice  | invoice | no     | (lost by the "no")|
    | a3   | alice  | price   | date   |                   |
    | a4   | alice  | price   | —      |                   |
    | b1   | bob    | invoice | yes    | won on 20 April (past the 30 settle days) |
    """
    clock.set(msk(2))
    boris = builders.contact(shop, email="boris@example.com", owner=bob)
    deals = {
        "a1": make_deal("invoice", "100"), "a2": make_deal("invoice", "100"),
        "a3": make_deal("price", "100"), "a4": make_deal("price", "100"),
        "b1": make_deal("invoice", "100", contact=boris),
    }
    clock.set(msk(4))
    nudge_stuck_deals(clock.now())
    for nudge in Nudge.objects.filter(state=NudgeState.PROPOSED):
        throw(nudge, nudge.seller)
    clock.set(msk(5))
    for key, answer in (("a1", Answer.YES), ("a2", Answer.NO), ("b1", Answer.YES)):
        record_answer(Deal.objects.get(pk=deals[key].pk), answer, None)
    record_answer(Deal.objects.get(pk=deals["a3"].pk), Answer.DATE, None, date(2026, 3, 20))
    clock.set(msk(6))
    win_deal(Deal.objects.get(pk=deals["a1"].pk), clock.now())
    clock.set(msk(4) + timedelta(days=47))
    win_deal(Deal.objects.get(pk=deals["b1"].pk), clock.now())
    return deals


def test_by_seller(shop, figures, alice, bob):
    rows = {row.key: row for row in nudge_metrics(shop, "seller")}
    a, b = rows[alice.pk], rows[bob.pk]
    assert a.label == "Алиса Петрова"
    # Alice: 4 thrown, 3 answered (yes, no, date), 1 order (a1 won two days later).
    assert (a.thrown, a.answered, a.yes, a.no, a.date, a.other, a.orders) == (4, 3, 1, 1, 1, 0, 1)
    assert a.answer_rate == Decimal("0.7500") and a.conversion == Decimal("0.2500")
    assert a.share(a.yes, a.answered) == Decimal("0.3333")
    # Bob: 1 thrown, answered yes, but the order came after the 30 days: not the nudge's.
    assert (b.thrown, b.answered, b.yes, b.orders) == (1, 1, 1, 0)


def test_by_stage_and_template(shop, figures, stages):
    rows = {row.key: row for row in nudge_metrics(shop, "stage")}
    invoice, price = rows[stages["invoice"].pk], rows[stages["price"].pk]
    assert (invoice.thrown, invoice.yes, invoice.no, invoice.orders) == (3, 2, 1, 1)
    assert (price.thrown, price.date, price.answered) == (2, 1, 1)
    assert invoice.label == "Продажи: Счёт выставлен"
    by_template = nudge_metrics(shop, "template")
    # Every first nudge used its stage's first Russian template: two templates in all.
    assert sorted(row.thrown for row in by_template) == [2, 3]


def test_the_period_filters_by_the_throw_time(shop, figures):
    assert nudge_metrics(shop, "seller", since=msk(5)) == []
    assert sum(r.thrown for r in nudge_metrics(shop, "seller", until=msk(5))) == 5


def test_an_unknown_grouping_is_refused(shop):
    with pytest.raises(ValueError):
        nudge_metrics(shop, "colour")
