"""Answers to nudges: each kind ends in the right deal state and task; the seller corrects a
misreading in one click and the correction is kept as labelled data."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from kasatka.accounts.models import method_settings
from kasatka.chains.models import ChainKind, Enrollment, Touch, TouchStatus
from kasatka.channels.models import InboundMessage
from kasatka.contacts.models import Address, AddressKind, AddressState
from kasatka.deals.models import (
    Answer,
    Deal,
    DealReply,
    DealStatus,
    DealTask,
    Nudge,
    NudgeState,
    ReplySource,
    TaskKind,
)
from kasatka.deals.nudging import nudge_stuck_deals, throw
from kasatka.deals.replies import correct_reply, record_answer
from kasatka.engine.worker import EngineConfig, Worker
from tests.channels.conftest import server  # noqa: F401 (a fixture)
from tests.channels.provider_server import Answer as Reply
from tests.channels.telegram import updates
from tests.channels.telegram.conftest import bot  # noqa: F401 (a fixture)
from tests.channels.telegram.updates import CHAT

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")


def msk(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=MSK)


@pytest.fixture
def nudged(shop, clock, make_deal, alice, anna, server, bot):  # noqa: F811
    """Anna's invoice, stuck on Wednesday 11 March; Alice's nudge went to her Telegram."""
    s = server(*[Reply(200, updates.sent_ok(77 + i)) for i in range(5)])
    account = bot(s)
    Address.objects.create(
        business=shop, contact=anna, kind=AddressKind.TELEGRAM, value=CHAT,
        state=AddressState.ACTIVE,
    )
    clock.set(msk(6, 15))  # the invoice goes out on the Friday before the holiday
    deal = make_deal("invoice")
    clock.set(msk(11, 9))
    nudge_stuck_deals(clock.now())
    nudge = Nudge.objects.get(deal=deal, state=NudgeState.PROPOSED)
    throw(nudge, alice)
    Worker(EngineConfig.from_settings(), clock=clock).run(once=True)
    touch = Touch.objects.get(enrollment__chain__kind=ChainKind.NUDGE)
    assert (touch.channel, touch.status) == ("telegram", TouchStatus.SENT)
    assert s.requests[0].json()["text"] == nudge.text
    # The nudge offers its two answers as buttons.
    assert "Да" in json.dumps(s.requests[0].json()["reply_markup"], ensure_ascii=False)
    clock.set(msk(11, 12))
    return deal, nudge, account


def reply(account, text: str):
    response = updates.post(account, updates.message(text))
    assert response.status_code == 200
    return DealReply.objects.order_by("-id").first()


def test_yes_moves_the_deal_on_and_gives_the_seller_the_next_step(nudged, alice, stages):
    deal, nudge, account = nudged
    answer = reply(account, "Да, всё в силе, ждите оплату")

    assert answer is not None and answer.deal == deal and answer.nudge == nudge
    assert (answer.predicted, answer.answer, answer.source) == ("yes", "yes", "message")
    assert answer.message == InboundMessage.objects.get()
    deal.refresh_from_db()
    nudge.refresh_from_db()
    assert deal.stage == stages["delivery"] and deal.status == DealStatus.OPEN
    assert deal.stuck_since is None and deal.next_nudge_at is None
    assert (nudge.state, nudge.answer) == (NudgeState.ANSWERED, Answer.YES)
    task = DealTask.objects.get(deal=deal)
    assert (task.kind, task.seller, task.title) == (
        TaskKind.NEXT_STEP, alice, "Проверить оплату и назначить доставку"
    )
    # Kept as the message id, shown in the reader's language.
    assert list(deal.stage_changes.values_list("reason", flat=True))[-1] == "the client said yes"


def test_the_deal_page_shows_how_the_nudge_went_and_the_answer(nudged, client, alice):
    deal, _nudge, account = nudged
    reply(account, "Нет, спасибо")
    client.force_login(alice)
    page = client.get(f"/deals/{deal.pk}/").content.decode()
    assert "Telegram: получен ответ" in page
    assert "«Нет, спасибо»" in page and "Клиент сказал «нет»" in page


def test_no_loses_the_deal_with_the_client_said_no(nudged, shop):
    deal, _nudge, account = nudged
    reply(account, "Нет, спасибо, мы уже купили в другом месте")
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST
    assert deal.loss_reason is not None and deal.loss_reason.name == "Клиент сказал «нет»"
    assert not DealTask.objects.filter(deal=deal, done_at__isnull=True).exists()
    # No win-back unless the business asks for it.
    assert not Enrollment.objects.filter(chain__kind=ChainKind.WINBACK).exists()


def test_no_may_start_a_later_win_back(nudged, shop, clock):
    settings = method_settings(shop)
    settings.nudge_no_winback = True
    settings.save()
    deal, _nudge, account = nudged
    reply(account, "Нет, не актуально")
    winback = Enrollment.objects.get(chain__kind=ChainKind.WINBACK, contact=deal.contact)
    assert winback.next_touch_at == clock.now() + timedelta(days=settings.winback_delay_days)


def test_a_new_date_puts_the_next_nudge_on_that_date(nudged, clock):
    deal, _nudge, account = nudged
    # Wednesday 11 March: "on Friday" is Friday 13 March.
    answer = reply(account, "Давайте вернёмся к этому в пятницу")
    assert (answer.answer, answer.answer_date) == (Answer.DATE, date(2026, 3, 13))
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.next_nudge_at == msk(13, 0)
    assert not DealTask.objects.filter(deal=deal).exists()
    clock.set(msk(12, 23))
    nudge_stuck_deals(clock.now())
    assert not Nudge.objects.filter(deal=deal, state=NudgeState.PROPOSED).exists()
    clock.set(msk(13, 0) + timedelta(minutes=1))
    nudge_stuck_deals(clock.now())
    assert Nudge.objects.get(deal=deal, state=NudgeState.PROPOSED).number == 1


def test_a_date_on_a_day_off_moves_to_the_next_working_day(nudged):
    deal, _nudge, account = nudged
    answer = reply(account, "Оплатим 14 марта")  # a Saturday
    assert answer.answer_date == date(2026, 3, 14)
    deal.refresh_from_db()
    assert deal.next_nudge_at == msk(16, 0)


def test_anything_else_is_a_task_for_the_seller(nudged, alice):
    deal, _nudge, account = nudged
    reply(account, "А можно скидку, если возьмём два комплекта?")
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.stage.name == "Счёт выставлен"
    task = DealTask.objects.get(deal=deal)
    assert task.kind == TaskKind.REPLY and task.seller == alice
    assert "скидку" in task.title


def test_the_seller_corrects_a_misreading_in_one_click(nudged, alice, stages, clock):
    deal, _nudge, account = nudged
    answer = reply(account, "Да, всё в силе")
    assert answer.answer == Answer.YES
    clock.advance(timedelta(minutes=5))

    # It was meant as "yes, but pay next week": the seller makes it a date.
    correct_reply(answer, Answer.DATE, alice, date(2026, 3, 18))

    answer.refresh_from_db()
    deal.refresh_from_db()
    assert (answer.predicted, answer.answer, answer.answer_date) == (
        Answer.YES, Answer.DATE, date(2026, 3, 18)
    )
    assert answer.corrected_by == alice and answer.was_corrected
    # Back in the invoice stage, the next-step task withdrawn, the nudge on the 18th.
    assert deal.stage == stages["invoice"] and deal.next_nudge_at == msk(18, 0)
    task = DealTask.objects.get(deal=deal)
    assert task.cancelled and task.done_at is not None

    # And then "no" after all: the deal is lost from the invoice stage.
    correct_reply(answer, Answer.NO, alice)
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST and deal.stage == stages["invoice"]
    # And back to "yes": reopened and moved on.
    correct_reply(answer, Answer.YES, alice)
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN and deal.stage == stages["delivery"]
    assert DealTask.objects.filter(deal=deal, done_at__isnull=True).count() == 1


def test_corrections_are_exported_as_labelled_data(nudged, alice, capsys):
    _deal, _nudge, account = nudged
    answer = reply(account, "Да, всё в силе")
    correct_reply(answer, Answer.DATE, alice, date(2026, 3, 18))
    call_command("reply_labels")
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows == [{
        "text": "Да, всё в силе", "received_at": answer.received_at.isoformat(),
        "tz": "Europe/Moscow", "label": "date", "date": "2026-03-18", "predicted": "yes",
        "corrected": True,
    }]


def test_an_answer_heard_on_the_phone_is_recorded_by_the_seller(nudged, alice, stages):
    deal, nudge, _account = nudged
    answer = record_answer(deal, Answer.YES, alice, text="сказал по телефону: берём")
    assert answer.source == ReplySource.SELLER and answer.nudge == nudge
    deal.refresh_from_db()
    assert deal.stage == stages["delivery"]


def test_a_message_that_answers_no_nudge_leaves_deals_alone(shop, clock, make_deal, bot, anna):  # noqa: F811
    account = bot()
    Address.objects.create(business=shop, contact=anna, kind=AddressKind.TELEGRAM, value=CHAT)
    deal = make_deal("invoice")
    updates.post(account, updates.message("Нет"))
    assert InboundMessage.objects.count() == 1
    assert not DealReply.objects.exists()
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN


def test_a_record_answer_needs_a_date_for_a_new_date(nudged, alice):
    from django.core.exceptions import ValidationError

    deal, _nudge, _account = nudged
    with pytest.raises(ValidationError):
        record_answer(deal, Answer.DATE, alice)
    assert Deal.objects.get(pk=deal.pk).stage.name == "Счёт выставлен"


def test_an_e_mail_answer_through_the_inbound_webhook_moves_the_deal(
    shop, clock, make_deal, alice, anna, smtp, settings, stages
):
    """The nudge goes by e-mail (real SMTP); Anna answers from Outlook in Russian, the mail
    reaches the shop's inbound webhook as raw MIME, and the answer moves the deal."""
    from django.test import Client

    from kasatka.channels.binding import hook_key
    from kasatka.channels.email.channel import message_id_for
    from kasatka.channels.models import ProviderAccount
    from tests.channels.email import mails

    settings.KASATKA_MESSAGE_ID_DOMAIN = "kasatka.local"
    account = ProviderAccount.objects.create(
        business=shop, channel="email", provider="inbound", name="replies"
    )
    clock.set(msk(6, 15))
    deal = make_deal("invoice")
    clock.set(msk(11, 9))
    nudge_stuck_deals(clock.now())
    throw(Nudge.objects.get(deal=deal, state=NudgeState.PROPOSED), alice)
    Worker(EngineConfig.from_settings(), clock=clock).run(once=True)
    touch = Touch.objects.get(enrollment__chain__kind=ChainKind.NUDGE)
    assert touch.channel == "email" and smtp.messages[0]["Message-ID"] == message_id_for(
        touch.idempotency_key
    )
    raw = mails.outlook("Нет, спасибо, мы передумали", in_reply_to=message_id_for(
        touch.idempotency_key
    ))
    clock.set(msk(11, 15))
    response = Client().post(f"/hooks/{account.pk}/{hook_key(account.pk)}/", data=raw,
                             content_type="message/rfc822")
    assert response.status_code == 200
    assert response.content.decode() == "replied: no"
    answer = DealReply.objects.get()
    assert answer.message.touch == touch and answer.text == "Нет, спасибо, мы передумали"
    deal.refresh_from_db()
    assert deal.status == DealStatus.LOST and deal.stage == stages["invoice"]
