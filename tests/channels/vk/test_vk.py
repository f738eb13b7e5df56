"""VK community messages against a local server speaking VK's documented formats."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.base import DeliveryError
from kasatka.channels.binding import make_bind_token
from kasatka.channels.models import InboundMessage
from kasatka.channels.vk.community import VkChannel, deep_link, random_id
from kasatka.contacts.models import Address, AddressKind, AddressState
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.channels.contract import BODY, ChannelContract, Hook, Sent
from tests.channels.provider_server import Answer

USER_ID = "123456789"
GROUP_ID = 229876543
SECRET = "kedr-callback-secret-2026"
TEXT = "Уважаемая Анна Сергеевна! Новая коллекция уже в салоне. Мебель «Кедр»"


def vk_error(code: int, message: str) -> Answer:
    """VK answers errors with HTTP 200 and an "error" object."""
    return Answer(200, {"error": {
        "error_code": code, "error_msg": message,
        "request_params": [{"key": "method", "value": "messages.send"}],
    }})


def callback(kind: str, obj: dict | None = None, secret: str = SECRET) -> Hook:
    """A Callback API notification of the 5.199 format."""
    body: dict = {"type": kind, "event_id": f"ev-{kind}", "v": "5.199", "group_id": GROUP_ID,
                  "secret": secret}
    if obj is not None:
        body["object"] = obj
    return Hook(json.dumps(body).encode())


def message_new(text: str, message_id: int = 498, **extra) -> Hook:
    return callback("message_new", {
        "message": {
            "date": 1772434900, "from_id": int(USER_ID), "id": message_id, "out": 0,
            "peer_id": int(USER_ID), "text": text, "conversation_message_id": 12,
            "fwd_messages": [], "important": False, "random_id": 0, "attachments": [],
            "is_hidden": False, **extra,
        },
        "client_info": {"button_actions": ["text", "open_link"], "keyboard": True,
                        "inline_keyboard": True, "carousel": True, "lang_id": 0},
    })


class TestVkContract(ChannelContract):
    channel = "vk"
    provider = "vk"
    address = USER_ID
    secrets = {"access_token": "vk1.a.community-key", "callback_secret": SECRET,
               "confirmation": "e7e13fe2"}
    options = {"group_id": GROUP_ID, "screen_name": "kedr_mebel"}
    message_id = "497"
    permanent_address_state = AddressState.BLOCKED
    idempotent = True
    # VK reports no delivery of community messages: the contact's reply is what comes
    # back, and it moves the touch to "replied".
    hook_status = TouchStatus.REPLIED

    def success(self) -> Answer:
        return Answer(200, {"response": int(self.message_id)})

    def permanent(self) -> Answer:
        return vk_error(901, "Can't send messages for users without permission")

    def transient(self) -> Answer:
        return vk_error(6, "Too many requests per second")

    def check_request(self, sent: Sent) -> None:
        r = sent.request
        assert (r.method, r.path) == ("POST", "/method/messages.send")
        assert r.form == {
            "access_token": ["vk1.a.community-key"], "v": ["5.199"], "user_id": [USER_ID],
            "random_id": [str(random_id(sent.touch.idempotency_key))], "message": [TEXT],
        }

    def status_hook(self, message_id: str) -> Hook:
        return message_new("Спасибо, зайду в субботу")

    def forge(self, hook: Hook) -> Hook:
        body = json.loads(hook.body)
        return replace(hook, body=json.dumps({**body, "secret": "guessed"}).encode())

    # --- more of VK ----------------------------------------------------------------------
    def test_a_retry_carries_the_same_random_id(self, world, server):
        s = server(self.transient(), self.success())
        touch = world.send(s)
        world.clock.advance(touch.enrollment.next_touch_at - world.clock.now())
        assert world.run().status == TouchStatus.SENT
        first, second = (r.form["random_id"] for r in s.requests)
        assert first == second == [str(random_id(touch.idempotency_key))]

    def test_random_id_is_stable_positive_and_31_bits(self):
        key = "touch:42:7:2026-03-02"
        assert random_id(key) == random_id(key)
        assert random_id(key) != random_id("touch:42:8:2026-03-04")
        assert all(0 < random_id(f"k{i}") < 2**31 for i in range(200))

    def test_an_inbound_reply_is_recorded_on_the_contact(self, world, server):
        touch = world.send(server(self.success()))
        response = world.post_hook(message_new("Спасибо, зайду в субботу", 498))
        assert (response.status_code, response.content) == (200, b"ok")
        reply = InboundMessage.objects.get(provider_message_id="498")
        assert (reply.contact, reply.sender, reply.text, reply.touch) == (
            world.contact, USER_ID, "Спасибо, зайду в субботу", touch
        )

    def test_a_button_press_comes_back_with_its_reply_value(self, world, server):
        world.send(server(self.success()))
        world.post_hook(message_new("Да, интересно", 499, payload='{"reply":"yes"}'))
        reply = InboundMessage.objects.get(provider_message_id="499")
        assert (reply.text, reply.payload) == ("Да, интересно", {"reply": "yes"})

    def test_message_deny_blocks_the_address_and_allow_restores_it(self, world, server):
        world.connect(server(self.success()))
        assert world.post_hook(callback("message_deny", {"user_id": int(USER_ID)})).content == b"ok"
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.BLOCKED
        world.post_hook(callback("message_allow", {"user_id": int(USER_ID), "key": ""}))
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.ACTIVE

    def test_confirmation_answers_the_string_from_the_community_settings(self, world, server):
        world.connect(server(self.success()))
        response = world.post_hook(callback("confirmation"))
        assert (response.status_code, response.content) == (200, b"e7e13fe2")
        forged = world.post_hook(callback("confirmation", secret="guessed"))
        assert forged.status_code == 403
        assert b"e7e13fe2" not in forged.content

    def test_a_callback_for_another_community_is_refused(self, world, server):
        world.connect(server(self.success()))
        body = {"type": "message_deny", "event_id": "e", "v": "5.199", "group_id": 1,
                "secret": SECRET, "object": {"user_id": int(USER_ID)}}
        assert world.post_hook(Hook(json.dumps(body).encode())).status_code == 403
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.ACTIVE

    def test_the_first_message_from_a_ref_link_binds_the_chat(self, world, server):
        world.connect(server(self.success()))
        token = make_bind_token(world.shop.pk, world.contact.pk)
        assert deep_link(world.account, world.contact.pk) == f"https://vk.me/kedr_mebel?ref={token}"
        hook = callback("message_new", {"message": {
            "date": 1772434900, "from_id": 555000111, "id": 500, "out": 0,
            "peer_id": 555000111, "text": "Начать", "ref": token, "ref_source": "email",
        }})
        assert world.post_hook(hook).status_code == 200
        assert Address.objects.filter(
            contact=world.contact, kind=AddressKind.VK, value="555000111"
        ).exists()
        assert not InboundMessage.objects.exists(), "the link's greeting is no reply"

    def test_a_message_with_another_ref_is_an_ordinary_reply(self, world, server):
        world.send(server(self.success()))
        world.post_hook(message_new("Сколько стоит диван?", 502, ref="summer_ad"))
        assert InboundMessage.objects.get(provider_message_id="502").contact == world.contact

    def test_step_buttons_go_as_an_inline_keyboard(self, world, server):
        s = server(self.success())
        world.connect(s)
        buttons = [{"text": "Да, интересно", "reply": "yes"},
                   {"text": "Каталог", "url": "https://kedr.example/catalog"}]
        chain = builders.chain(world.shop, [{"channels": ["vk"], "body_template": BODY,
                                             "options": {"buttons": buttons}}])
        enroll(world.contact, chain, world.clock.now())
        Worker(EngineConfig.from_settings(), clock=world.clock).run(once=True)
        assert Touch.objects.get(contact=world.contact).status == TouchStatus.SENT
        assert json.loads(s.requests[0].form["keyboard"][0]) == {"inline": True, "buttons": [
            [{"action": {"type": "text", "label": "Да, интересно",
                         "payload": '{"reply": "yes"}'}}],
            [{"action": {"type": "open_link", "link": "https://kedr.example/catalog",
                         "label": "Каталог"}}],
        ]}

    @pytest.mark.parametrize(("code", "permanent", "state"), [
        (900, True, AddressState.BLOCKED),
        (901, True, AddressState.BLOCKED),
        (902, True, AddressState.BLOCKED),
        (18, True, AddressState.BOUNCED),
        (5, True, None),
        (6, False, None),
        (9, False, None),
    ])
    def test_error_codes_are_typed(self, code, permanent, state):
        response = httpx.Response(200, json={"error": {"error_code": code, "error_msg": "x"}})
        with pytest.raises(DeliveryError) as caught:
            VkChannel().parse_response(response, None)
        assert (caught.value.permanent, caught.value.address_state) == (permanent, state)

    def test_the_peer_ids_answer_is_read_too(self):
        response = httpx.Response(200, json={"response": [
            {"peer_id": int(USER_ID), "message_id": 501, "conversation_message_id": 13},
        ]})
        assert VkChannel().parse_response(response, None) == "501"
