"""A step's ordered channel list: the first one that can reach the contact is taken,
and why the ones before it were skipped is recorded on the touch."""

from __future__ import annotations

import pytest

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.models import ProviderAccount
from kasatka.contacts.actions import record_consent
from kasatka.contacts.models import ConsentBasis, ConsentStatus, Purpose
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.channels.provider_server import Answer, ProviderServer

pytestmark = pytest.mark.django_db

PREFERENCE = ["telegram", "sms", "email"]


@pytest.fixture
def sms_server():
    server = ProviderServer(Answer(200, {
        "status": "OK", "status_code": 100,
        "sms": {"79161234567": {"status": "OK", "status_code": 100, "sms_id": "201-1"}},
    })).start()
    yield server
    server.stop()


def _account(shop, channel: str, provider: str, url: str, secrets: dict[str, str]) -> None:
    account = ProviderAccount(
        business=shop, channel=channel, provider=provider, options={"api_url": url}
    )
    account.set_secrets(secrets)
    account.save()


@pytest.fixture
def shop_with_messengers(shop, sms_server):
    _account(shop, "sms", "smsru", sms_server.url, {"api_id": "key"})
    _account(shop, "telegram", "telegram", sms_server.url, {"bot_token": "1:abc"})
    return shop


def _send(shop, clock, contact) -> Touch:
    chain = builders.chain(shop, [{"channels": PREFERENCE}])
    enroll(contact, chain, clock.now())
    Worker(EngineConfig(), clock=clock).run(once=True)
    return Touch.objects.get(contact=contact)


def test_no_telegram_goes_by_sms_and_says_why(shop_with_messengers, clock, sms_server):
    contact = builders.contact(
        shop_with_messengers, email="anna@example.com", phone="+79161234567",
        consent=("email", "sms", "telegram"),
    )
    touch = _send(shop_with_messengers, clock, contact)
    assert touch.status == TouchStatus.SENT, touch.error
    assert touch.channel == "sms"
    assert touch.to == "+79161234567"
    assert touch.route_note == "telegram: no usable address"
    assert len(sms_server.requests) == 1


def test_no_sms_consent_falls_through_to_email(shop_with_messengers, clock, sms_server, smtp):
    contact = builders.contact(
        shop_with_messengers, email="anna@example.com", phone="+79161234567",
        consent=("email",),
    )
    touch = _send(shop_with_messengers, clock, contact)
    assert touch.channel == "email"
    assert touch.route_note == "telegram: no usable address; sms: no consent"
    assert sms_server.requests == []
    assert len(smtp.messages) == 1


def test_a_channel_the_business_has_not_set_up_is_skipped_with_that_reason(shop, clock, smtp):
    contact = builders.contact(shop, phone="+79161234567", consent=("email", "sms"))
    touch = _send(shop, clock, contact)
    assert touch.channel == "email"
    assert touch.route_note == "telegram: not set up; sms: not set up"


def test_withdrawn_consent_on_the_way_is_respected(shop_with_messengers, clock, sms_server, smtp):
    contact = builders.contact(
        shop_with_messengers, email="anna@example.com", phone="+79161234567",
        consent=("email", "sms"),
    )
    record_consent(contact, "sms", Purpose.COMMERCIAL, ConsentStatus.WITHDRAWN, ConsentBasis.REPLY)
    touch = _send(shop_with_messengers, clock, contact)
    assert touch.channel == "email"
    assert sms_server.requests == []


def test_the_touch_log_shows_why_channels_were_skipped(shop_with_messengers, clock, owner, client):
    contact = builders.contact(
        shop_with_messengers, email="anna@example.com", phone="+79161234567",
        consent=("email", "sms"),
    )
    _send(shop_with_messengers, clock, contact)
    client.force_login(owner)
    page = client.get("/touches/").content.decode()
    assert "telegram: no usable address" in page
