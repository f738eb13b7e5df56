"""Viber bots against a local server speaking the REST Bot API's documented formats."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace

import httpx
import pytest

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.base import DeliveryError
from kasatka.channels.binding import make_bind_token
from kasatka.channels.models import InboundMessage
from kasatka.channels.viber.bot import ViberChannel, deep_link
from kasatka.contacts.models import Address, AddressKind, AddressState
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.channels.contract import BODY, ChannelContract, Hook, Sent
from tests.channels.provider_server import Answer

USER_ID = "01234567890A="
AUTH_TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
TEXT = "Уважаемая Анна Сергеевна! Новая коллекция уже в салоне. Мебель «Кедр»"


def callback(event: dict, token: str = AUTH_TOKEN) -> Hook:
    """A Viber callback, signed with the bot's auth token as Viber signs it."""
    body = json.dumps({"timestamp": 1772434800000, "chat_hostname": "SN-CHAT-05_", **event})
    raw = body.encode()
    signature = hmac.new(token.encode(), raw, hashlib.sha256).hexdigest()
    return Hook(raw, headers={"X-Viber-Content-Signature": signature})


class TestViberContract(ChannelContract):
    channel = "viber"
    provider = "viber"
    address = USER_ID
    secrets = {"auth_token": AUTH_TOKEN}
    options = {"sender_name": "Мебель «Кедр»", "chat_uri": "kedrmebel"}
    message_id = "5741311803571721087"
    permanent_address_state = AddressState.BLOCKED

    def success(self) -> Answer:
        return Answer(200, {
            "status": 0, "status_message": "ok", "message_token": int(self.message_id),
            "chat_hostname": "SN-CHAT-05_", "billing_status": 1,
        })

    def permanent(self) -> Answer:
        return Answer(200, {"status": 6, "status_message": "notSubscribed",
                            "chat_hostname": "SN-CHAT-05_"})

    def transient(self) -> Answer:
        return Answer(200, {"status": 12, "status_message": "tooManyRequests",
                            "chat_hostname": "SN-CHAT-05_"})

    def check_request(self, sent: Sent) -> None:
        r = sent.request
        assert (r.method, r.path) == ("POST", "/pa/send_message")
        assert r.headers["X-Viber-Auth-Token"] == AUTH_TOKEN
        assert r.json() == {
            "receiver": USER_ID, "min_api_version": 1, "sender": {"name": "Мебель «Кедр»"},
            "type": "text", "text": TEXT,
        }

    def status_hook(self, message_id: str) -> Hook:
        return callback({"event": "delivered", "message_token": int(message_id),
                         "user_id": USER_ID})

    def forge(self, hook: Hook) -> Hook:
        return replace(hook, headers={"X-Viber-Content-Signature": "0" * 64})

    # --- more of Viber ---------------------------------------------------------------
    def test_seen_marks_the_touch_opened(self, world, server):
        touch = world.send(server(self.success()))
        world.post_hook(callback({"event": "seen", "message_token": int(self.message_id),
                                  "user_id": USER_ID}))
        touch.refresh_from_db()
        assert touch.status == TouchStatus.OPENED

    def test_failed_callback_fails_the_touch_with_its_description(self, world, server):
        touch = world.send(server(self.success()))
        world.post_hook(callback({"event": "failed", "message_token": int(self.message_id),
                                  "user_id": USER_ID, "desc": "failure description"}))
        touch.refresh_from_db()
        assert (touch.status, touch.error) == (TouchStatus.FAILED, "failure description")

    def test_unsubscribed_blocks_the_address(self, world, server):
        world.send(server(self.success()))
        response = world.post_hook(callback({"event": "unsubscribed", "user_id": USER_ID,
                                             "message_token": 4912661846655238145}))
        assert response.status_code == 200
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.BLOCKED
        assert world.address_row.state_reason == "unsubscribed from the Viber bot"

    def test_an_inbound_reply_is_recorded_on_the_contact(self, world, server):
        touch = world.send(server(self.success()))
        response = world.post_hook(callback({
            "event": "message", "message_token": 4912661846655238145,
            "sender": {"id": USER_ID, "name": "Анна", "language": "ru", "country": "RU",
                       "api_version": 10},
            "message": {"type": "text", "text": "Спасибо, зайду в субботу"},
        }))
        assert response.status_code == 200
        reply = InboundMessage.objects.get(provider_message_id="4912661846655238145")
        assert (reply.contact, reply.sender, reply.text) == (
            world.contact, USER_ID, "Спасибо, зайду в субботу"
        )
        assert reply.touch == touch
        touch.refresh_from_db()
        assert touch.status == TouchStatus.REPLIED

    def test_the_webhook_setup_check_answers_200(self, world, server):
        world.connect(server(self.success()))
        response = world.post_hook(callback({"event": "webhook",
                                             "message_token": 4912661846655238145}))
        assert response.status_code == 200
        assert not InboundMessage.objects.exists()

    def test_a_conversation_started_from_the_signed_link_binds_the_chat(self, world, server):
        world.connect(server(self.success()))
        link = deep_link(world.account, world.contact.pk)
        token = make_bind_token(world.shop.pk, world.contact.pk)
        assert link == f"viber://pa?chatURI=kedrmebel&context={token}"
        response = world.post_hook(callback({
            "event": "conversation_started", "message_token": 4912661846655238145,
            "type": "open", "context": token, "subscribed": False,
            "user": {"id": "NEWuser0000A=", "name": "Анна", "language": "ru"},
        }))
        assert response.status_code == 200
        assert Address.objects.filter(
            contact=world.contact, kind=AddressKind.VIBER, value="NEWuser0000A="
        ).exists()

    def test_step_buttons_go_as_a_keyboard(self, world, server):
        s = server(self.success())
        world.connect(s)
        buttons = [{"text": "Да, интересно", "reply": "yes"},
                   {"text": "Каталог", "url": "https://kedr.example/catalog"}]
        chain = builders.chain(world.shop, [{"channels": ["viber"], "body_template": BODY,
                                             "options": {"buttons": buttons}}])
        enroll(world.contact, chain, world.clock.now())
        Worker(EngineConfig.from_settings(), clock=world.clock).run(once=True)
        assert Touch.objects.get(contact=world.contact).status == TouchStatus.SENT
        assert s.requests[0].json()["keyboard"] == {
            "Type": "keyboard", "DefaultHeight": False, "Buttons": [
                {"ActionType": "reply", "ActionBody": "yes", "Text": "Да, интересно"},
                {"ActionType": "open-url", "ActionBody": "https://kedr.example/catalog",
                 "Text": "Каталог"},
            ],
        }

    @pytest.mark.parametrize(("status", "permanent", "state"), [
        (5, True, AddressState.BOUNCED),  # receiverNotRegistered
        (6, True, AddressState.BLOCKED),  # receiverNotSubscribed
        (11, True, None),  # receiverNoSuitableDevice
        (2, True, None),  # invalidAuthToken
        (12, False, None),  # tooManyRequests
    ])
    def test_statuses_are_typed(self, status, permanent, state):
        response = httpx.Response(200, json={"status": status, "status_message": "x"})
        with pytest.raises(DeliveryError) as caught:
            ViberChannel().parse_response(response, None)
        assert (caught.value.permanent, caught.value.address_state) == (permanent, state)
