"""WhatsApp Cloud API against a local server speaking Meta's documented formats."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import timedelta
from types import SimpleNamespace

import httpx
import pytest
from django.test import Client

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.base import DeliveryError
from kasatka.channels.models import InboundMessage
from kasatka.channels.whatsapp.cloud import WhatsAppChannel
from kasatka.contacts.models import AddressState
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.channels.contract import BODY, ChannelContract, Hook, Sent, World
from tests.channels.provider_server import Answer

NUMBER = "79161234567"
APP_SECRET = "6f1e0c3a9b7d4e2f8a5c1b0d9e8f7a6b"
PHONE_NUMBER_ID = "106540352242922"
TEXT = "Уважаемая Анна Сергеевна! Новая коллекция уже в салоне. Мебель «Кедр»"


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook(value: dict) -> Hook:
    """A Cloud API webhook around one change's value, signed as Meta signs it."""
    body = json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "74951234567", "phone_number_id": PHONE_NUMBER_ID},
            **value,
        }}]}],
    }).encode()
    return Hook(body, headers={"X-Hub-Signature-256": sign(body)})


def graph_error(code: int, message: str, details: str = "") -> Answer:
    return Answer(400, {"error": {
        "message": message, "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AbCdEf123",
    }})


def open_window(world: World, hours_ago: float = 1) -> InboundMessage:
    """The contact wrote to the business `hours_ago`: the customer-service window."""
    return InboundMessage.objects.create(
        business=world.shop, contact=world.contact, address=world.address_row,
        channel="whatsapp", sender=world.address_row.value, text="Здравствуйте!",
        received_at=world.clock.now() - timedelta(hours=hours_ago),
    )


def run(world: World) -> list[Touch]:
    Worker(EngineConfig.from_settings(retry_base_seconds=60), clock=world.clock).run(once=True)
    return list(Touch.objects.filter(contact=world.contact).order_by("id"))


class TestWhatsAppContract(ChannelContract):
    channel = "whatsapp"
    provider = "whatsapp"
    address = "+" + NUMBER
    secrets = {
        "access_token": "EAAJB0ZCtest-token", "app_secret": APP_SECRET,
        "verify_token": "kedr-verify-2026",
    }
    options = {"phone_number_id": PHONE_NUMBER_ID}
    message_id = "wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"

    @pytest.fixture
    def world(self, shop, clock, settings):
        # The contract's cases send free text: the contact wrote an hour ago.
        settings.KASATKA_BASE_URL = "http://testserver"
        world = World(self, shop, clock)
        open_window(world)
        return world

    def success(self) -> Answer:
        return Answer(200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": NUMBER, "wa_id": NUMBER}],
            "messages": [{"id": self.message_id}],
        })

    def permanent(self) -> Answer:
        return graph_error(131026, "(#131026) Message undeliverable", "Message Undeliverable.")

    def transient(self) -> Answer:
        return graph_error(130429, "(#130429) Rate limit hit", "Cloud API message throughput")

    def check_request(self, sent: Sent) -> None:
        r = sent.request
        assert (r.method, r.path) == ("POST", f"/v21.0/{PHONE_NUMBER_ID}/messages")
        assert r.headers["Authorization"] == "Bearer EAAJB0ZCtest-token"
        assert r.json() == {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": NUMBER,
            "type": "text", "text": {"body": TEXT, "preview_url": False},
        }

    def status_hook(self, message_id: str) -> Hook:
        return webhook({"statuses": [{
            "id": message_id, "status": "delivered", "timestamp": "1772434800",
            "recipient_id": NUMBER,
            "conversation": {"id": "c0ffee", "origin": {"type": "service"}},
            "pricing": {"billable": False, "pricing_model": "PMP", "category": "service"},
        }]})

    def forge(self, hook: Hook) -> Hook:
        return replace(hook, headers={"X-Hub-Signature-256": sign(hook.body, "not-the-secret")})

    # --- the 24-hour window ------------------------------------------------------------
    def test_free_text_inside_the_window_and_the_template_outside_it(self, world, server):
        s = server(self.success())
        world.connect(s)
        template = {"template": "kedr_news", "language": "ru", "with_text": True}
        step = {"channels": ["whatsapp"], "body_template": BODY,
                "options": {"whatsapp": template}}
        chain = builders.chain(world.shop, [step, step])
        enroll(world.contact, chain, world.clock.now())
        [first] = run(world)
        assert first.status == TouchStatus.SENT, first.error
        world.clock.advance(timedelta(days=2, hours=1))  # the window closed long ago
        second = run(world)[1]
        assert second.status == TouchStatus.SENT, second.error
        inside, outside = (r.json() for r in s.requests)
        assert inside["type"] == "text"
        assert inside["text"]["body"] == TEXT
        assert outside == {
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": NUMBER,
            "type": "template", "template": {
                "name": "kedr_news", "language": {"code": "ru"},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": TEXT}]}],
            },
        }

    def test_outside_the_window_a_step_without_template_fails_and_says_why(self, world, server):
        # Exactly 24 hours is already outside: the window is "less than 24 hours".
        InboundMessage.objects.update(received_at=world.clock.now() - timedelta(hours=24))
        s = server(self.success())
        touch = world.send(s)
        assert touch.status == TouchStatus.FAILED
        assert touch.error == "outside the 24-hour window and the step names no WhatsApp template"
        assert s.requests == [], "nothing is sent that WhatsApp would refuse"
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.ACTIVE

    def test_the_window_is_read_once_for_a_whole_batch(self, world, django_assert_num_queries):
        channel = WhatsAppChannel(world.connect(SimpleNamespace(url="http://unused")))
        messages = [
            SimpleNamespace(
                business=world.shop, now=world.clock.now(), step=SimpleNamespace(options={}),
                address=SimpleNamespace(value=value),
            )
            for value in (self.address, "+79160000001", "+79160000002")
        ]
        with django_assert_num_queries(1):
            channel.load_windows(messages)
            assert [channel.window_open(m) for m in messages] == [True, False, False]

    def test_reengagement_error_fails_the_touch_without_blaming_the_number(self, world, server):
        s = server(graph_error(
            131047, "(#131047) Re-engagement message",
            "Message failed to send because more than 24 hours have passed",
        ))
        touch = world.send(s)
        assert touch.status == TouchStatus.FAILED
        assert "131047" in touch.error
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.ACTIVE

    @pytest.mark.parametrize(("code", "permanent", "state"), [
        (131026, True, AddressState.BOUNCED),
        (131047, True, None),
        (190, True, None),
        (130429, False, None),
        (131048, False, None),
        (131056, False, None),
    ])
    def test_error_codes_are_typed(self, code, permanent, state):
        response = httpx.Response(400, json={"error": {"message": "x", "code": code}})
        with pytest.raises(DeliveryError) as caught:
            WhatsAppChannel().parse_response(response, None)
        assert (caught.value.permanent, caught.value.address_state) == (permanent, state)
        assert str(code) in caught.value.message

    # --- webhooks ----------------------------------------------------------------------
    def test_a_failed_status_for_a_number_not_on_whatsapp_bounces_it(self, world, server):
        touch = world.send(server(self.success()))
        response = world.post_hook(webhook({"statuses": [{
            "id": touch.provider_message_id, "status": "failed", "timestamp": "1772434900",
            "recipient_id": NUMBER,
            "errors": [{"code": 131026, "title": "Message undeliverable",
                        "error_data": {"details": "Message Undeliverable."}}],
        }]}))
        assert response.status_code == 200
        touch.refresh_from_db()
        assert touch.status == TouchStatus.FAILED
        assert "131026" in touch.error
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.BOUNCED

    def test_a_read_status_marks_the_touch_opened(self, world, server):
        touch = world.send(server(self.success()))
        world.post_hook(webhook({"statuses": [{
            "id": touch.provider_message_id, "status": "read", "timestamp": "1772435000",
            "recipient_id": NUMBER,
        }]}))
        touch.refresh_from_db()
        assert touch.status == TouchStatus.OPENED

    def test_an_inbound_reply_is_recorded_on_the_contact(self, world, server):
        touch = world.send(server(self.success()))
        response = world.post_hook(webhook({
            "contacts": [{"profile": {"name": "Анна"}, "wa_id": NUMBER}],
            "messages": [{
                "context": {"from": "74951234567", "id": touch.provider_message_id},
                "from": NUMBER, "id": "wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzQThBREYw",
                "timestamp": "1772435100", "type": "text",
                "text": {"body": "Спасибо, зайду в субботу"},
            }],
        }))
        assert response.status_code == 200
        reply = InboundMessage.objects.get(provider_message_id__startswith="wamid.HBgLNzkxNjEy")
        assert reply.contact == world.contact
        assert reply.sender == self.address
        assert reply.text == "Спасибо, зайду в субботу"
        assert reply.touch == touch
        assert reply.payload == {"type": "text", "name": "Анна"}
        touch.refresh_from_db()
        assert touch.status == TouchStatus.REPLIED

    def test_a_reply_button_comes_back_with_its_reply_value(self, world, server):
        world.send(server(self.success()))
        world.post_hook(webhook({"messages": [{
            "from": NUMBER, "id": "wamid.button-1", "timestamp": "1772435200",
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Да"}},
        }]}))
        reply = InboundMessage.objects.get(provider_message_id="wamid.button-1")
        assert (reply.text, reply.payload["reply"]) == ("Да", "yes")

    def test_the_get_handshake_answers_the_challenge_for_our_verify_token(self, world, server):
        world.connect(server(self.success()))
        path = world.hook_path()
        answer = Client().get(path, {
            "hub.mode": "subscribe", "hub.verify_token": "kedr-verify-2026",
            "hub.challenge": "1158201444",
        })
        assert answer.status_code == 200
        assert answer.content == b"1158201444"
        wrong = Client().get(path, {
            "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1158201444",
        })
        assert wrong.status_code == 403
        assert b"1158201444" not in wrong.content

    def test_reply_buttons_go_as_an_interactive_message(self, world, server):
        s = server(self.success())
        world.connect(s)
        buttons = [{"text": "Да, интересно", "reply": "yes"}, {"text": "Нет", "reply": "no"}]
        chain = builders.chain(world.shop, [{"channels": ["whatsapp"], "body_template": BODY,
                                             "options": {"buttons": buttons}}])
        enroll(world.contact, chain, world.clock.now())
        [touch] = run(world)
        assert touch.status == TouchStatus.SENT, touch.error
        sent = s.requests[0].json()
        assert sent["type"] == "interactive"
        assert sent["interactive"]["body"] == {"text": TEXT}
        assert sent["interactive"]["action"]["buttons"] == [
            {"type": "reply", "reply": {"id": "yes", "title": "Да, интересно"}},
            {"type": "reply", "reply": {"id": "no", "title": "Нет"}},
        ]
