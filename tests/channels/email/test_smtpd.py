"""Replies taken in by SMTP (`kasatka email_receive`), sent with smtplib as an MX would."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import pytest

from kasatka.chains.models import TouchStatus
from kasatka.channels.email.smtpd import ReplyServer
from kasatka.channels.models import InboundMessage
from tests.smtp import free_port

from . import mails

# The server works in its own threads, with connections of their own: they see only
# what is committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver() -> Iterator[ReplyServer]:
    server = ReplyServer("127.0.0.1", free_port()).start()
    yield server
    server.stop()


def relay(server: ReplyServer, raw: bytes, to: str) -> None:
    with smtplib.SMTP(server.controller.hostname, server.controller.port, timeout=10) as smtp:
        smtp.sendmail("anna@example.com", [to], raw)


def test_a_reply_to_the_accounts_address_is_recorded(mailing_with, receiver):
    mailing = mailing_with("inbound", {"address": "replies@kedr.example"})
    touch = mailing.send()
    relay(receiver, mails.gmail("Да, по SMTP", in_reply_to=mailing.message_id(touch)),
          "Replies@kedr.example")
    message = InboundMessage.objects.get()
    assert (message.contact, message.touch, message.text) == (mailing.anna, touch, "Да, по SMTP")
    touch.refresh_from_db()
    assert touch.status == TouchStatus.REPLIED


def test_the_shops_sending_address_takes_replies_too(mailing_with, receiver, shop):
    shop.email_from_address = "shop@kedr.example"
    shop.save()
    mailing = mailing_with("inbound")
    touch = mailing.send()
    relay(receiver, mails.iphone("Беру", in_reply_to=mailing.message_id(touch)),
          "shop@kedr.example")
    assert InboundMessage.objects.get().touch == touch


def test_an_address_no_business_takes_is_refused_at_rcpt(mailing_with, receiver):
    mailing_with("inbound", {"address": "replies@kedr.example"})
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        relay(receiver, mails.gmail("Да"), "someone@elsewhere.example")
    assert refused.value.recipients["someone@elsewhere.example"][0] == 550
    assert InboundMessage.objects.count() == 0


def test_a_bounce_is_accepted_and_not_recorded(mailing_with, receiver):
    mailing = mailing_with("inbound", {"address": "replies@kedr.example"})
    touch = mailing.send()
    relay(receiver, mails.postfix_bounce(mailing.message_id(touch)), "replies@kedr.example")
    assert InboundMessage.objects.count() == 0
    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT
