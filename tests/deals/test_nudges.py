"""A stuck deal's life with an injected clock: stuck on the right business day, nudged with
growing gaps, then handed to the seller as a call (METHOD.md §5)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kasatka.accounts.calendar import BusinessCalendar
from kasatka.accounts.models import BusinessDay, method_settings
from kasatka.chains.models import ChainKind, Touch, TouchStatus
from kasatka.channels.call.models import CallTask
from kasatka.deals.actions import move_deal
from kasatka.deals.models import Deal, Nudge, NudgeMode, NudgeState, NudgeTemplate
from kasatka.deals.nudging import NudgeRefused, interval_days, nudge_stuck_deals, throw
from kasatka.engine.worker import EngineConfig, Worker

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")


def msk(day: int, hour: int = 10, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MSK)


def run_worker(clock) -> None:
    Worker(EngineConfig.from_settings(), clock=clock).run(once=True)


def proposed(deal: Deal) -> Nudge | None:
    return Nudge.objects.filter(deal=deal, state=NudgeState.PROPOSED).first()


def test_the_calendar_skips_weekends_and_russian_holidays(shop):
    calendar = BusinessCalendar(shop)
    friday = msk(6).date()  # Friday 6 March 2026; Monday 9 March is a public holiday
    assert not calendar.is_working_day(msk(9).date())
    assert calendar.add_working_days(friday, 1) == msk(10).date()
    assert calendar.add_working_days(friday, 2) == msk(11).date()
    # The business's own exceptions win: a working Monday, a day off on Tuesday.
    BusinessDay.objects.create(business=shop, date=msk(9).date(), is_working=True)
    BusinessDay.objects.create(business=shop, date=msk(10).date(), is_working=False)
    calendar = BusinessCalendar(shop)
    assert calendar.add_working_days(friday, 1) == msk(9).date()
    assert calendar.add_working_days(friday, 2) == msk(11).date()


def test_a_shop_open_at_weekends_counts_them(shop):
    shop.working_weekdays = "1234567"
    shop.holidays_country = ""
    shop.save()
    assert BusinessCalendar(shop).add_working_days(msk(6).date(), 1) == msk(7).date()


def test_an_invoice_sent_before_a_holiday_is_nudged_then_called(
    shop, clock, make_deal, stages, alice, smtp
):
    # The invoice goes out on Friday 6 March at 15:00 Moscow time; the stage waits 2 days.
    clock.set(msk(6, 15))
    deal = make_deal("invoice")
    assert stages["invoice"].wait_days == 2

    # Saturday, Sunday and the holiday Monday do not count: Tuesday is the first day,
    # Wednesday the second; on Tuesday evening the deal is not stuck yet.
    clock.set(msk(10, 23, 59))
    assert nudge_stuck_deals(clock.now()) == 0
    deal.refresh_from_db()
    assert deal.stuck_since is None and proposed(deal) is None

    clock.set(msk(11, 0, 1))
    assert nudge_stuck_deals(clock.now()) == 1
    deal.refresh_from_db()
    assert deal.stuck_since == msk(11, 0)
    first = proposed(deal)
    assert first is not None and first.number == 1 and first.seller == alice
    # The stage's first question, personalised: the name in the right form, the subject.
    assert first.template is not None and first.template.stage == stages["invoice"]
    assert first.text.startswith("Добрый день, Анна Сергеевна!")
    assert "«Кухня «Лофт»»" in first.text
    assert nudge_stuck_deals(clock.now()) == 0  # idempotent: one question at a time

    # Alice throws it at 10:00; it goes out through the engine.
    clock.set(msk(11, 10))
    throw(first, alice)
    run_worker(clock)
    touch = Touch.objects.get(contact=deal.contact)
    assert touch.enrollment.chain.kind == ChainKind.NUDGE
    assert (touch.status, touch.channel, touch.body) == ("sent", "email", first.text)
    assert touch.subject == "Кухня «Лофт»"
    assert smtp.messages[0]["Subject"] == "Кухня «Лофт»"

    # No answer: the second nudge after 2 working days (Friday 13), the third after 4
    # more (Thursday 19), then 8 more (Tuesday 31): growing gaps.
    settings = method_settings(shop)
    assert [interval_days(settings, n) for n in (1, 2, 3)] == [2, 4, 8]
    expected_days = [msk(13, 0), msk(19, 0), msk(31, 0)]
    previous = first
    for number, day in enumerate(expected_days[:2], start=2):
        clock.set(day - timedelta(minutes=1))
        nudge_stuck_deals(clock.now())
        assert proposed(deal) is None
        clock.set(day + timedelta(minutes=1))
        nudge_stuck_deals(clock.now())
        nudge = proposed(deal)
        assert nudge is not None and nudge.number == number
        previous.refresh_from_db()
        assert previous.state == NudgeState.UNANSWERED
        # Each nudge uses the stage's next question: never the same words twice running.
        assert nudge.text != previous.text
        clock.set(day.replace(hour=11))
        throw(nudge, alice)
        run_worker(clock)
        previous = nudge
    assert Touch.objects.filter(contact=deal.contact, status=TouchStatus.SENT).count() == 3

    # Three unanswered nudges (nudge_max): the fourth time it becomes a call for Alice.
    clock.set(expected_days[2] - timedelta(minutes=1))
    nudge_stuck_deals(clock.now())
    assert not CallTask.objects.filter(contact=deal.contact, nudge__isnull=False).exists()
    clock.set(expected_days[2] + timedelta(minutes=1))
    nudge_stuck_deals(clock.now())
    call = CallTask.objects.get(contact=deal.contact, nudge__isnull=False)
    assert call.assignee == alice and call.phone == "+79161234567"
    assert "3" in call.reason and "Кухня «Лофт»" in call.reason
    nudge = Nudge.objects.get(call_task=call)
    assert (nudge.mode, nudge.state, nudge.number) == (NudgeMode.CALL, NudgeState.THROWN, 4)
    assert proposed(deal) is None
    # Kasatka stops asking on its own: the deal is Alice's to move.
    clock.advance(timedelta(days=60))
    assert nudge_stuck_deals(clock.now()) == 0
    assert CallTask.objects.filter(contact=deal.contact, nudge__isnull=False).count() == 1


def test_the_figures_are_the_business_settings(shop, clock, make_deal, alice):
    settings = method_settings(shop)
    settings.nudge_max = 1
    settings.nudge_interval_days = 3
    settings.nudge_interval_growth = 1
    settings.save()
    clock.set(msk(2, 9))  # Monday
    deal = make_deal("price")  # waits 2 days: stuck on Wednesday
    clock.set(msk(4, 9))
    nudge_stuck_deals(clock.now())
    throw(proposed(deal), alice)
    deal.refresh_from_db()
    assert deal.next_nudge_at == msk(9, 0).replace(day=10)  # Thu, Fri, (holiday Mon), Tue
    clock.set(msk(10, 9))
    nudge_stuck_deals(clock.now())
    # A call after one unanswered nudge.
    assert CallTask.objects.filter(contact=deal.contact, nudge__isnull=False).count() == 1


def test_kasatka_throws_a_nudge_nobody_threw(shop, clock, make_deal, smtp):
    settings = method_settings(shop)
    settings.nudge_auto_throw_days = 1
    settings.save()
    clock.set(msk(2, 9))
    deal = make_deal("price")
    clock.set(msk(4, 9))
    nudge_stuck_deals(clock.now())
    nudge = proposed(deal)
    assert nudge is not None
    clock.set(msk(4, 23))
    nudge_stuck_deals(clock.now())
    assert proposed(deal) is not None  # the seller still has the day
    clock.set(msk(5, 9))
    nudge_stuck_deals(clock.now())
    nudge.refresh_from_db()
    assert nudge.state == NudgeState.THROWN and nudge.thrown_by is None
    run_worker(clock)
    assert Touch.objects.get(contact=deal.contact).body == nudge.text


def test_a_seller_edits_the_text_or_calls_instead(shop, clock, make_deal, alice):
    clock.set(msk(2, 9))
    deal = make_deal("price")
    clock.set(msk(4, 9))
    nudge_stuck_deals(clock.now())
    nudge = proposed(deal)
    throw(nudge, alice, NudgeMode.CALL, text="Анна, прайс подошёл? Да или нет?")
    nudge.refresh_from_db()
    assert nudge.call_task is not None and nudge.call_task.script == nudge.text
    assert nudge.text == "Анна, прайс подошёл? Да или нет?"
    with pytest.raises(NudgeRefused):
        throw(nudge, alice)  # a nudge is thrown once


def test_the_preferred_channel_is_where_the_client_last_wrote(
    shop, clock, make_deal, alice, smtp
):
    from kasatka.channels.models import InboundMessage

    clock.set(msk(2, 9))
    deal = make_deal("price")
    anna = deal.contact
    InboundMessage.objects.create(
        business=shop, contact=anna, channel="sms", sender="+79161234567", text="Спасибо",
        received_at=clock.now(),
    )
    clock.set(msk(4, 9))
    nudge_stuck_deals(clock.now())
    nudge = throw(proposed(deal), alice)
    assert nudge.channel == "sms"
    run_worker(clock)
    touch = Touch.objects.get(contact=anna)
    # No SMS gateway here: the route notes why SMS was passed over, then e-mail takes it.
    assert touch.channel == "email"
    assert touch.route_note.startswith("sms")


def test_moving_the_deal_cancels_the_question_and_restarts_the_wait(
    shop, clock, make_deal, stages, alice
):
    clock.set(msk(2, 9))
    deal = make_deal("price")
    clock.set(msk(4, 9))
    nudge_stuck_deals(clock.now())
    nudge = proposed(deal)
    move_deal(deal, stages["proposal"], clock.now(), alice)
    nudge.refresh_from_db()
    deal.refresh_from_db()
    assert nudge.state == NudgeState.CANCELLED
    assert deal.stuck_since is None and deal.nudges_in_stage == 0
    assert deal.next_nudge_at == msk(10, 0)  # 3 working days: Thu, Fri, Tue (Mon is off)
    assert list(deal.stage_changes.values_list("to_stage__name", flat=True)) == [
        "Прайс отправлен", "КП отправлено",
    ]


def test_a_broken_template_is_refused_when_saved(shop, stages):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        NudgeTemplate.objects.create(
            business=shop, stage=stages["price"], name="broken", text="{{ contact.name "
        )

