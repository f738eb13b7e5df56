"""Unsubscribing end to end through the real channel test servers: the e-mail link and
RFC 8058 one-click from a mail the engine sent over SMTP, and STOP words arriving at each
provider's inbound webhook. All land in the one consent history and on the suppression
list, and later touches on that channel skip.

SMS goes through SMSC: SMS.ru's callbacks carry delivery statuses and call checks only,
no incoming messages (https://sms.ru/api — "оповещения"), so a «СТОП» cannot reach us
through it; its numbers answer STOP through the operator instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.models import InboundMessage
from kasatka.channels.telegram.channel import SECRET_HEADER
from kasatka.contacts import suppression
from kasatka.contacts.actions import consent_states
from kasatka.contacts.models import (
    CHANNEL_ADDRESS_KIND,
    AddressKind,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Purpose,
    Suppression,
    SuppressionReason,
)
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.channels.contract import BODY, ChannelContract, Hook, World
from tests.channels.sms import test_smsc as smsc
from tests.channels.telegram import test_telegram as telegram
from tests.channels.telegram import updates
from tests.channels.viber import test_viber as viber
from tests.channels.whatsapp import test_whatsapp as whatsapp

pytestmark = pytest.mark.django_db

ANNA = "anna@example.com"


def states_of(contact, channel: str) -> dict[str, str | None]:
    states = consent_states([contact.pk])
    return {p: states.get((contact.pk, channel, p)) for p in Purpose.values}


def recorded() -> tuple[int, int]:
    return Consent.objects.count(), Suppression.objects.count()


def run(clock) -> None:
    Worker(EngineConfig.from_settings(), clock=clock).run(once=True)


# --- e-mail ---------------------------------------------------------------------------------


@pytest.fixture
def mailed(shop, clock, smtp, settings):
    """The engine sent Anna a commercial e-mail over SMTP: (anna, touch, the mail)."""
    settings.KASATKA_BASE_URL = "https://kasatka.example"
    anna = builders.contact(shop)
    enroll(anna, builders.chain(shop, name="Прогрев"), clock.now())
    run(clock)
    [mail] = smtp.messages
    return anna, Touch.objects.get(), mail


def header_link(mail) -> str:
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return urlsplit(mail["List-Unsubscribe"].strip().strip("<>")).path


def body_link(mail) -> str:
    text = mail.get_body(("plain",)).get_content()
    [url] = re.findall(r"https://kasatka\.example/u/\S+/", text)
    return urlsplit(url).path


def test_email_one_click_from_the_received_header(client, mailed, shop, clock, smtp):
    anna, touch, mail = mailed
    link = header_link(mail)
    before = recorded()

    assert client.get(link).status_code == 200  # a scanner following the link
    assert recorded() == before

    response = client.post(link, "List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    assert states_of(anna, "email")[Purpose.COMMERCIAL] == ConsentStatus.WITHDRAWN
    assert anna.consents.order_by("-id").first().basis == ConsentBasis.ONE_CLICK
    touch.refresh_from_db()
    assert touch.status == TouchStatus.UNSUBSCRIBED
    row = suppression.active_suppression_for(shop.pk, AddressKind.EMAIL, ANNA)
    assert row.reason == SuppressionReason.WITHDRAWN

    # Later: the next offer skips, a service message still goes.
    clock.advance(timedelta(days=3))
    offers = builders.chain(shop, name="Акции")
    service = builders.chain(shop, [{"is_commercial": False, "body_template": "Заказ готов"}],
                             name="Заказы")
    enroll(anna, offers, clock.now())
    enroll(anna, service, clock.now())
    run(clock)
    assert Touch.objects.get(enrollment__chain=offers).status == TouchStatus.SKIPPED
    assert Touch.objects.get(enrollment__chain=service).status == TouchStatus.SENT
    assert len(smtp.messages) == 2
    assert "List-Unsubscribe" not in smtp.messages[1], "a service message has no such link"


def test_email_page_link_from_the_received_body(client, mailed):
    anna, touch, mail = mailed
    link = body_link(mail)
    assert link == header_link(mail)
    before = recorded()

    page = client.get(link)

    assert page.status_code == 200
    assert {row["channel"] for row in page.context["rows"]} == {"email", "call"}
    assert recorded() == before

    done = client.post(link, {"scope": "channel"})

    assert done.status_code == 200
    assert states_of(anna, "email") == {
        Purpose.COMMERCIAL: ConsentStatus.WITHDRAWN, Purpose.INFORMATIONAL: None,
    }
    assert anna.consents.order_by("-id").first().basis == ConsentBasis.UNSUBSCRIBE
    touch.refresh_from_db()
    assert touch.status == TouchStatus.UNSUBSCRIBED


def test_email_link_cannot_be_turned_on_someone_else(client, mailed, shop):
    anna, _touch, mail = mailed
    boris = builders.contact(shop, email="boris@example.com", first_name="Борис")
    link = header_link(mail)
    forged = link.replace(f"/u/{anna.pk}.", f"/u/{boris.pk}.", 1)
    assert forged != link
    before = recorded()
    assert client.post(forged, {"scope": "all"}).status_code == 404
    assert client.post(forged, "List-Unsubscribe=One-Click",
                       content_type="application/x-www-form-urlencoded").status_code == 404
    assert recorded() == before
    assert states_of(boris, "email")[Purpose.COMMERCIAL] == ConsentStatus.GRANTED


# --- STOP words at the providers' inbound webhooks -------------------------------------


@dataclass
class Stop:
    contract: ChannelContract
    hook: Callable[[], Hook]
    prepare: Callable[[World], object] = lambda world: None


STOPS: dict[str, Stop] = {
    "sms (SMSC) «СТОП»": Stop(
        smsc.TestSmscContract(),
        lambda: Hook(smsc.form({"sms_id": "881", "phone": "79161234567", "mes": "СТОП",
                                "to": "79001112233", "sent": "1772445605"}),
                     smsc.FORM, query="?charset=utf-8"),
    ),
    "telegram /stop": Stop(
        telegram.TestTelegramContract(),
        lambda: Hook(json.dumps(updates.message("/stop")).encode(),
                     headers={SECRET_HEADER: telegram.SECRET}),
    ),
    "whatsapp STOP": Stop(
        whatsapp.TestWhatsAppContract(),
        lambda: whatsapp.webhook({
            "contacts": [{"profile": {"name": "Анна"}, "wa_id": whatsapp.NUMBER}],
            "messages": [{"from": whatsapp.NUMBER, "id": "wamid.stop-1",
                          "timestamp": "1772435100", "type": "text",
                          "text": {"body": "STOP"}}],
        }),
        prepare=whatsapp.open_window,  # free text needs the 24-hour window
    ),
    "viber «Отписаться»": Stop(
        viber.TestViberContract(),
        lambda: viber.callback({
            "event": "message", "message_token": 4912661846655238146,
            "sender": {"id": viber.USER_ID, "name": "Анна", "language": "ru"},
            "message": {"type": "text", "text": "Отписаться"},
        }),
    ),
}


@pytest.mark.parametrize("case", list(STOPS))
def test_a_stop_word_at_the_webhook_withdraws_and_later_touches_skip(
    case, shop, clock, server, settings
):
    stop = STOPS[case]
    contract = stop.contract
    settings.KASATKA_BASE_URL = "http://testserver"
    world = World(contract, shop, clock)
    stop.prepare(world)
    provider = server(contract.success(), contract.success())
    touch = world.send(provider)
    assert touch.status == TouchStatus.SENT, touch.error

    response = world.post_hook(stop.hook())

    assert response.status_code == 200, response.content
    assert states_of(world.contact, contract.channel) == {
        Purpose.COMMERCIAL: ConsentStatus.WITHDRAWN,
        Purpose.INFORMATIONAL: ConsentStatus.WITHDRAWN,
    }
    latest = world.contact.consents.order_by("-id").first()
    assert latest.basis == ConsentBasis.REPLY and contract.channel in latest.source
    touch.refresh_from_db()
    assert touch.status == TouchStatus.UNSUBSCRIBED
    assert InboundMessage.objects.filter(contact=world.contact).exists()
    row = suppression.active_suppression_for(
        shop.pk, CHANNEL_ADDRESS_KIND[contract.channel], contract.address
    )
    assert row is not None and row.reason == SuppressionReason.WITHDRAWN

    clock.advance(timedelta(days=2))
    later = builders.chain(shop, [
        {"channels": [contract.channel], "body_template": BODY},
        {"channels": [contract.channel], "body_template": BODY, "is_commercial": False},
    ], name="Позже")
    enroll(world.contact, later, clock.now())
    run(clock)
    assert Touch.objects.get(enrollment__chain=later).status == TouchStatus.SKIPPED
    assert len(provider.requests) == 1, "nothing more went to the provider"
