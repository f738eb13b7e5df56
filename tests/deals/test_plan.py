"""The seller's daily plan: stuck deals per stage, nudges to throw, calls, and the revenue
they should bring, checked against figures computed by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from kasatka.accounts.models import method_settings
from kasatka.deals.actions import lose_deal, win_deal
from kasatka.deals.models import Deal, DealStatus, Nudge, NudgeState
from kasatka.deals.nudging import nudge_stuck_deals, throw
from kasatka.deals.plan import daily_plan, nudge_conversion, team_plan
from kasatka.sales.models import LossKind, LossReason
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")


def msk(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=MSK)


@pytest.fixture
def book(shop, clock, make_deal, alice, bob):
    """Deals made on Monday 2 March; the ones at "price" and "invoice" are stuck on Wednesday.

    | seller | stage   | amount  | stuck on Wednesday |
    | alice  | price   | 100 000 | yes                |
    | alice  | invoice | 200 000 | yes                |
    | alice  | invoice | 100 000 | yes                |
    | bob    | invoice | 300 000 | yes                |
    | bob    | price   |  50 000 | no (made Wednesday)|
    | bob    | invoice | 999 999 | won: not open      |
    """
    clock.set(msk(2))
    boris = builders.contact(shop, email="boris@example.com", first_name="Борис",
                             patronymic="Ильич", last_name="Орлов", owner=bob)
    deals = {
        "a_price": make_deal("price", "100000"),
        "a_inv1": make_deal("invoice", "200000"),
        "a_inv2": make_deal("invoice", "100000"),
        "b_inv": make_deal("invoice", "300000", contact=boris),
    }
    won = make_deal("invoice", "999999", contact=boris)
    win_deal(won, clock.now())
    clock.set(msk(4, 8))
    deals["b_price"] = make_deal("price", "50000", contact=boris)
    clock.set(msk(4, 9))
    assert nudge_stuck_deals(clock.now()) == 4
    return deals


def test_the_expected_revenue_is_nudges_times_conversion_times_average(
    shop, clock, book, alice, bob, stages
):
    plan = daily_plan(shop, alice)
    # No nudge has settled yet: the method's 30 %.
    assert (plan.conversion.rate, plan.conversion.measured) == (Decimal("0.30"), False)
    by_stage = {line.stage.name: line for line in plan.lines}
    assert set(by_stage) == {"Прайс отправлен", "Счёт выставлен"}
    price, invoice = by_stage["Прайс отправлен"], by_stage["Счёт выставлен"]
    # Averages of the open deals at the stage, whoever's: price (100 000 + 50 000) / 2,
    # invoice (200 000 + 100 000 + 300 000) / 3; the won deal is not open.
    assert price.average_amount == Decimal("75000.00")
    assert invoice.average_amount == Decimal("200000.00")
    assert (price.stuck, price.nudges_today) == (1, 1)
    assert (invoice.stuck, invoice.nudges_today, invoice.stuck_amount) == (
        2, 2, Decimal("300000.00")
    )
    # 1 × 0.30 × 75 000 + 2 × 0.30 × 200 000 = 22 500 + 120 000 = 142 500
    assert price.expected_revenue == Decimal("22500.00")
    assert invoice.expected_revenue == Decimal("120000.00")
    assert plan.expected_revenue == Decimal("142500.00")
    assert plan.nudges_count == 3 and len(plan.nudges) == 3
    assert {n.deal_id for n in plan.nudges} == {
        book["a_price"].pk, book["a_inv1"].pk, book["a_inv2"].pk,
    }

    # The head of sales sees Bob too (1 × 0.30 × 200 000 = 60 000) and the team's total.
    team = team_plan(shop)
    assert [p.seller for p in team.sellers] == [alice, bob]
    assert team.sellers[1].expected_revenue == Decimal("60000.00")
    assert team.total.expected_revenue == Decimal("202500.00")
    assert team.total.stuck == 4 and team.total.nudges_count == 4


def test_the_business_own_conversion_replaces_the_default_once_measured(
    shop, clock, book, alice, bob
):
    settings = method_settings(shop)
    settings.nudge_min_sample = 4
    settings.save()
    # Alice throws her three, Bob his one; Alice's two invoices are paid, Bob's deal lost.
    for nudge in Nudge.objects.filter(state=NudgeState.PROPOSED):
        throw(nudge, nudge.seller)
    clock.set(msk(5))
    win_deal(Deal.objects.get(pk=book["a_inv1"].pk), clock.now())
    win_deal(Deal.objects.get(pk=book["a_inv2"].pk), clock.now())
    reason = LossReason.objects.create(business=shop, name="Дорого", kind=LossKind.OBJECTIVE)
    lose_deal(Deal.objects.get(pk=book["b_inv"].pk), reason, clock.now())
    # Settled: the three closed deals' nudges (a_price is open and only a day old) → 3 < 4.
    assert nudge_conversion(shop).measured is False
    # A month later a_price's nudge has settled too: 2 orders of 4 nudges.
    clock.set(msk(5) + timedelta(days=31))
    conversion = nudge_conversion(shop)
    assert (conversion.settled, conversion.converted) == (4, 2)
    assert (conversion.rate, conversion.measured) == (Decimal("0.5000"), True)
    # Stuck again at price after the month: 1 nudge × 0.5 × 75 000 (a_price and b_price).
    nudge_stuck_deals(clock.now())
    plan = daily_plan(shop, alice)
    assert [(line.stage.name, line.nudges_today) for line in plan.lines] == [
        ("Прайс отправлен", 1)
    ]
    assert plan.expected_revenue == Decimal("37500.00")


def test_calls_and_tasks_due_today_are_in_the_plan(shop, clock, book, alice):
    from kasatka.deals.nudging import NudgeMode

    nudge = Nudge.objects.get(deal=book["a_price"], state=NudgeState.PROPOSED)
    throw(nudge, alice, NudgeMode.CALL)
    plan = daily_plan(shop, alice)
    assert plan.calls_count == 1 and plan.calls[0].script == nudge.text
    # Tomorrow's call is not today's.
    later = daily_plan(shop, alice, day=msk(3).date())
    assert later.calls_count == 0 and later.nudges_count == 0


def test_the_plan_takes_a_fixed_number_of_queries(
    shop, clock, book, alice, make_deal, django_assert_num_queries
):
    daily_plan(shop, alice)  # settings and calendar rows exist from here on
    with django_assert_num_queries(12) as small:
        daily_plan(shop, alice)
    for i in range(30):
        make_deal("invoice", str(1000 + i), title=f"Сделка {i}", at=msk(2))
    nudge_stuck_deals(msk(4, 10))
    with django_assert_num_queries(len(small.captured_queries)):
        plan = daily_plan(shop, alice)
    assert plan.nudges_count == 33
    with django_assert_num_queries(len(small.captured_queries)):
        team_plan(shop)


def test_the_plan_command_prints_the_plan(shop, clock, book, alice, capsys):
    call_command("plan", "--business", shop.slug, "--seller", alice.username)
    out = capsys.readouterr().out
    assert "142" in out and "500" in out  # the expected revenue, locale-formatted
    assert "Счёт выставлен" in out and "Прайс отправлен" in out
    assert book["a_inv1"].title in out


def test_a_closed_deal_leaves_the_plan(shop, clock, book, alice):
    deal = Deal.objects.get(pk=book["a_price"].pk)
    win_deal(deal, clock.now())
    assert deal.status == DealStatus.WON
    plan = daily_plan(shop, alice)
    assert [line.stage.name for line in plan.lines] == ["Счёт выставлен"]
    assert Nudge.objects.get(deal=deal).state == NudgeState.CANCELLED
