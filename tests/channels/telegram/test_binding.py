"""Deep-link binding end to end: the link, /start through the real hook, then touches."""

from __future__ import annotations

import json

import pytest

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.binding import make_bind_token
from kasatka.channels.models import InboundMessage
from kasatka.channels.telegram.bot import deep_link
from kasatka.contacts.actions import consent_states
from kasatka.contacts.models import (
    Address,
    AddressKind,
    ConsentBasis,
    ConsentStatus,
    Purpose,
)
from kasatka.contacts.timeline import timeline
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.channels.provider_server import Answer

from . import updates
from .updates import BOT_USERNAME, CHAT, TOKEN

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(shop):
    return builders.contact(shop, email="anna@example.com", consent=("email",))


@pytest.fixture
def boris(shop):
    return builders.contact(shop, email="boris@example.com", first_name="Борис",
                            patronymic="Петрович", last_name="Смирнов")


@pytest.fixture
def english(shop):
    """The bot answers in the business's language; English reads the same in any catalogue."""
    shop.language = "en"
    shop.save()
    return shop


def token_of(link: str) -> str:
    return link.split("?start=", 1)[1]


def bound_to(contact) -> Address | None:
    return contact.addresses.filter(kind=AddressKind.TELEGRAM).first()


def run_worker(clock) -> None:
    Worker(EngineConfig.from_settings(), clock=clock).run(once=True)


def test_the_deep_link_binds_the_chat_and_touches_then_reach_it(
    shop, english, clock, server, bot, anna, boris
):
    s = server(Answer(200, updates.sent_ok(77)))
    account = bot(s)
    link = deep_link(account, anna.pk)
    assert link == f"https://t.me/{BOT_USERNAME}?start={make_bind_token(shop.pk, anna.pk)}"
    assert len(token_of(link)) <= 64  # Telegram's limit on a start parameter

    response = updates.post(account, updates.message(f"/start {token_of(link)}"))

    assert response.status_code == 200
    greeting = json.loads(response.content)
    assert greeting["method"] == "sendMessage"
    assert greeting["chat_id"] == int(CHAT)
    assert "Мебель «Кедр»" in greeting["text"] and "/stop" in greeting["text"]
    address = bound_to(anna)
    assert address is not None and address.value == CHAT
    assert bound_to(boris) is None
    consents = anna.consents.filter(channel="telegram", basis=ConsentBasis.MESSENGER)
    assert {c.purpose for c in consents} == set(Purpose.values)
    assert all(c.status == ConsentStatus.GRANTED for c in consents)

    # A telegram step now reaches Anna in the chat that bound itself.
    chain = builders.chain(shop, [{"channels": ["telegram", "email"],
                                   "body_template": "{{ contact.name }}, у нас новые кухни."}])
    enroll(anna, chain, clock.now())
    run_worker(clock)
    touch = Touch.objects.get(contact=anna)
    assert (touch.channel, touch.status, touch.to) == ("telegram", TouchStatus.SENT, CHAT)
    assert touch.provider_message_id == f"{CHAT}:77"
    request = s.requests[0]
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.json()["chat_id"] == int(CHAT)
    assert request.json()["text"] == "Анна Сергеевна, у нас новые кухни."


def test_a_tampered_token_is_refused(shop, english, bot, anna, boris):
    account = bot()
    token = make_bind_token(shop.pk, anna.pk)
    # Boris's id with Anna's signature: the signature no longer matches.
    tampered = token.replace(f"{shop.pk}-{anna.pk}_", f"{shop.pk}-{boris.pk}_")
    assert tampered != token

    response = updates.post(account, updates.message(f"/start {tampered}"))

    assert response.status_code == 200  # Telegram must not retry it
    answer = json.loads(response.content)
    assert answer["method"] == "sendMessage" and answer["chat_id"] == int(CHAT)
    assert "not valid" in answer["text"]
    assert not Address.objects.filter(kind=AddressKind.TELEGRAM).exists()
    assert not anna.consents.filter(channel="telegram").exists()
    assert not boris.consents.filter(channel="telegram").exists()


def test_a_token_of_another_business_is_refused(shop, english, other_shop, bot):
    stranger = builders.contact(other_shop, email="x@example.com")
    account = bot()
    updates.post(account, updates.message(f"/start {make_bind_token(other_shop.pk, stranger.pk)}"))
    assert not Address.objects.filter(kind=AddressKind.TELEGRAM).exists()


def test_an_inbound_reply_lands_on_the_timeline_and_the_card(
    shop, clock, bot, anna, client, owner
):
    account = bot()
    updates.post(account, updates.message(f"/start {make_bind_token(shop.pk, anna.pk)}"))

    response = updates.post(account, updates.message("А угловые диваны у вас есть?"))

    assert response.status_code == 200
    first = timeline(anna)[0]
    assert (first.kind, first.text) == ("inbound", "А угловые диваны у вас есть?")
    assert CHAT in first.details
    client.force_login(owner)
    page = client.get(f"/contacts/{anna.pk}/").content.decode()
    assert "А угловые диваны у вас есть?" in page


def test_stop_withdraws_consent_and_later_touches_skip_telegram(
    shop, english, clock, server, bot, anna, smtp
):
    s = server(Answer(200, updates.sent_ok(77)))
    account = bot(s)
    updates.post(account, updates.message(f"/start {make_bind_token(shop.pk, anna.pk)}"))
    assert consent_states([anna.pk])[(anna.pk, "telegram", Purpose.COMMERCIAL)] == "granted"

    response = updates.post(account, updates.message("/stop"))

    answer = json.loads(response.content)
    assert answer["method"] == "sendMessage" and answer["chat_id"] == int(CHAT)
    assert "not get messages" in answer["text"]
    states = consent_states([anna.pk])
    assert states[(anna.pk, "telegram", Purpose.COMMERCIAL)] == ConsentStatus.WITHDRAWN
    assert states[(anna.pk, "telegram", Purpose.INFORMATIONAL)] == ConsentStatus.WITHDRAWN
    assert InboundMessage.objects.get().text == "/stop"

    chain = builders.chain(shop, [{"channels": ["telegram", "email"]}])
    enroll(anna, chain, clock.now())
    run_worker(clock)
    touch = Touch.objects.get(contact=anna)
    assert touch.channel == "email"
    assert touch.route_note == "telegram: no consent"
    assert s.requests == []


def test_start_without_a_token_from_a_stranger_asks_for_the_link(shop, english, bot):
    account = bot()
    answer = json.loads(updates.post(account, updates.message("/start")).content)
    assert answer["method"] == "sendMessage"
    assert "personal link" in answer["text"]
    assert InboundMessage.objects.get().contact is None


def test_emails_offer_the_telegram_link(shop, clock, bot, anna, boris, smtp):
    bot()
    chain = builders.chain(shop, [{
        "channels": ["email"],
        "body_template": "{% if telegram_link %}Мы в Telegram: {{ telegram_link }}{% endif %}",
    }])
    enroll(anna, chain, clock.now())
    run_worker(clock)
    touch = Touch.objects.get(contact=anna)
    expected = f"https://t.me/{BOT_USERNAME}?start={make_bind_token(shop.pk, anna.pk)}"
    assert touch.body == f"Мы в Telegram: {expected}"
    sent = smtp.messages[0]
    assert expected in sent.get_body(("plain",)).get_content()


def test_emails_of_a_business_without_a_bot_have_no_link(shop, clock, anna, smtp):
    chain = builders.chain(shop, [{
        "channels": ["email"],
        "body_template": "Новости.{% if telegram_link %} Telegram: {{ telegram_link }}{% endif %}",
    }])
    enroll(anna, chain, clock.now())
    run_worker(clock)
    assert Touch.objects.get(contact=anna).body == "Новости."
