"""E-mail replies applied: linked to the touch they answer, recorded once, STOP obeyed;
and the webhook that takes raw MIME (Postfix piping to curl, Cloudmailin's raw format)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from kasatka.chains.models import EnrollmentState, Touch, TouchStatus
from kasatka.channels.binding import hook_key
from kasatka.channels.email.replies import reply_events
from kasatka.channels.inbound import apply_events
from kasatka.channels.models import InboundMessage
from kasatka.contacts.actions import consent_states
from kasatka.contacts.models import Address, ConsentStatus, Purpose
from tests import builders

from . import mails

pytestmark = pytest.mark.django_db


def receive(mailing, raw: bytes) -> list[str]:
    return apply_events(mailing.account, reply_events(mailing.account, raw))


# --- linking --------------------------------------------------------------------------
def test_a_reply_links_to_the_touch_it_answers_not_merely_the_latest(mailing_with):
    mailing = mailing_with()
    first = mailing.send()
    mailing.clock.advance(timedelta(days=2, hours=1))
    mailing.chain.exit_on_reply = False  # let the second step go out too
    mailing.chain.save()
    mailing.run()
    second = Touch.objects.filter(contact=mailing.anna).latest("id")
    assert second.pk != first.pk and second.status == TouchStatus.SENT

    outcome = receive(mailing, mails.gmail("Про первую новость: да!",
                                           in_reply_to=mailing.message_id(first)))

    assert outcome[0].startswith("replied")
    message = InboundMessage.objects.get()
    assert (message.contact, message.touch, message.channel) == (mailing.anna, first, "email")
    assert message.text == "Про первую новость: да!"
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == TouchStatus.REPLIED
    assert second.status == TouchStatus.SENT


def test_a_reply_ends_the_chain_that_exits_on_reply(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    receive(mailing, mails.outlook("Спасибо, не нужно пока.",
                                   in_reply_to=mailing.message_id(touch)))
    enrollment = touch.enrollment
    enrollment.refresh_from_db()
    assert enrollment.state != EnrollmentState.ACTIVE
    assert enrollment.next_touch_at is None


def test_a_reply_naming_another_contacts_touch_is_not_linked_to_it(mailing_with, shop):
    mailing = mailing_with()
    anna_touch = mailing.send()
    boris = builders.contact(shop, email="boris@example.com", first_name="Борис",
                             patronymic="Ильич", last_name="Петров")
    boris_touch = mailing.send(boris)
    # Anyone can write any Message-ID into a mail: Anna's mail cannot mark Boris's touch.
    receive(mailing, mails.gmail("Да", in_reply_to=mailing.message_id(boris_touch)))
    message = InboundMessage.objects.get()
    assert message.contact == mailing.anna
    assert message.touch == anna_touch  # her own latest touch, as for any unlinked reply
    boris_touch.refresh_from_db()
    assert boris_touch.status == TouchStatus.SENT


def test_a_reply_from_an_unknown_address_is_kept_with_the_touch_it_names(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    raw = mails.gmail("Это Анна с рабочей почты", sender="a.ivanova@work.example",
                      in_reply_to=mailing.message_id(touch))
    assert receive(mailing, raw) == ["unknown sender"]
    message = InboundMessage.objects.get()
    assert message.contact is None
    assert message.sender == "a.ivanova@work.example"
    assert message.touch == touch


def test_the_sender_is_matched_whatever_the_case_of_the_stored_address(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    Address.objects.filter(contact=mailing.anna).update(value="Anna@example.com")
    receive(mailing, mails.iphone("Да!", in_reply_to=mailing.message_id(touch)))
    message = InboundMessage.objects.get()
    assert message.contact == mailing.anna
    assert message.sender == "Anna@example.com"


def test_a_stop_reply_withdraws_email_consent(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    assert receive(mailing, mails.gmail("Отписаться", in_reply_to=mailing.message_id(touch))) \
        == ["stopped"]
    states = consent_states([mailing.anna.pk])
    assert states[(mailing.anna.pk, "email", Purpose.COMMERCIAL)] == ConsentStatus.WITHDRAWN
    touch.refresh_from_db()
    assert touch.status == TouchStatus.UNSUBSCRIBED


def test_the_same_reply_delivered_twice_is_recorded_once(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    raw = mails.mailru("Сколько стоит?", in_reply_to=mailing.message_id(touch),
                       sender="anna@example.com")
    assert receive(mailing, raw)[0].startswith("replied")
    assert receive(mailing, raw) == ["duplicate"]
    assert InboundMessage.objects.count() == 1


def test_bounces_and_auto_replies_record_nothing_and_leave_the_touch_alone(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    ours = mailing.message_id(touch)
    for raw in (mails.postfix_bounce(ours), mails.exchange_out_of_office(ours),
                mails.read_receipt(ours)):
        assert receive(mailing, raw) == []
    assert InboundMessage.objects.count() == 0
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
    assert touch.enrollment.state == EnrollmentState.ACTIVE


def test_an_email_account_does_not_change_how_mail_is_sent(mailing_with):
    mailing = mailing_with("imap", {"host": "127.0.0.1", "port": 9})  # a mailbox nobody runs
    touch = mailing.send()
    assert touch.status == TouchStatus.SENT, touch.error
    assert touch.provider_message_id == ""  # e-mail keeps none: the key is in the Message-ID
    [sent] = mailing.smtp.messages
    assert sent["To"] == "anna@example.com"
    assert sent["Message-ID"] == mailing.message_id(touch)


# --- the webhook ------------------------------------------------------------------------
def post(mailing, raw: bytes, key: str | None = None, content_type: str = "message/rfc822"):
    account = mailing.account
    return Client().post(f"/hooks/{account.pk}/{key or hook_key(account.pk)}/", data=raw,
                         content_type=content_type)


def test_webhook_with_the_right_key_records_the_reply(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    raw = mails.yandex_html_only("Зайду в субботу", in_reply_to=mailing.message_id(touch),
                                 sender="anna@example.com")
    response = post(mailing, raw)
    assert response.status_code == 200
    assert response.content.decode().startswith("replied")
    message = InboundMessage.objects.get()
    assert (message.contact, message.touch, message.text) == (
        mailing.anna, touch, "Зайду в субботу")
    touch.refresh_from_db()
    assert touch.status == TouchStatus.REPLIED


def test_webhook_with_a_wrong_key_is_refused_and_records_nothing(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    response = post(mailing, mails.gmail("Да", in_reply_to=mailing.message_id(touch)),
                    key="a-made-up-key")
    assert response.status_code == 403
    assert InboundMessage.objects.count() == 0
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT


def test_webhook_takes_cloudmailins_raw_format(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    raw = mails.gmail("Да, интересно", in_reply_to=mailing.message_id(touch))
    account = mailing.account
    response = Client().post(
        f"/hooks/{account.pk}/{hook_key(account.pk)}/",
        data={"message": raw.decode("ascii"), "envelope[to]": "replies@kedr.example",
              "envelope[from]": "anna@example.com"},
    )
    assert response.status_code == 200, response.content
    assert InboundMessage.objects.get().text == "Да, интересно"


def test_webhook_answers_a_bounce_with_200_and_records_nothing(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    response = post(mailing, mails.postfix_bounce(mailing.message_id(touch)))
    assert response.status_code == 200  # taken: a relay must not retry it
    assert response.content == b"ignored: bounce"
    assert InboundMessage.objects.count() == 0


def test_webhook_says_so_for_a_repeated_delivery(mailing_with):
    mailing = mailing_with()
    touch = mailing.send()
    raw = mails.iphone("Да", in_reply_to=mailing.message_id(touch))
    assert post(mailing, raw).status_code == 200
    again = post(mailing, raw)
    assert (again.status_code, again.content) == (200, b"duplicate")
    assert InboundMessage.objects.count() == 1


def test_webhook_without_a_message_is_a_bad_request(mailing_with):
    mailing = mailing_with()
    assert post(mailing, b"").status_code == 400
    assert InboundMessage.objects.count() == 0
