"""Telegram against a local server speaking the Bot API, and updates through our real hook."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from django.core.management import CommandError, call_command

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.models import InboundMessage
from kasatka.channels.telegram.bot import webhook_secret
from kasatka.channels.telegram.channel import ALLOWED_UPDATES, SECRET_HEADER
from kasatka.channels.telegram.management.commands import telegram_webhook
from kasatka.channels.views import hook_url
from kasatka.contacts.actions import record_consent
from kasatka.contacts.models import (
    Address,
    AddressKind,
    AddressState,
    ConsentBasis,
    ConsentStatus,
    Purpose,
)
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.channels.contract import ChannelContract, Hook, Sent
from tests.channels.provider_server import Answer

from . import updates
from .updates import CHAT, TOKEN

SECRET = "kedr-webhook_Secret-2026"
GREETING = "Уважаемая Анна Сергеевна! Новая коллекция уже в салоне. Мебель «Кедр»"


class TestTelegramContract(ChannelContract):
    """The shared contract, with Telegram's own formats.

    Telegram has no delivery receipts, so there is no status webhook to check. The
    closest thing is my_chat_member: the user blocked the bot, which is news about the
    address rather than the message. Here `status_hook` is that update: with the right
    secret header the touch stays "sent" (nothing about it is known) and the address
    becomes blocked; with a forged secret the request is refused with 403 and the
    address stays active.
    """

    channel = "telegram"
    provider = "telegram"
    address = CHAT
    secrets = {"bot_token": TOKEN, "webhook_secret": SECRET}
    options = {"bot_username": updates.BOT_USERNAME}
    message_id = f"{CHAT}:77"
    permanent_address_state = AddressState.BLOCKED
    hook_status = TouchStatus.SENT

    def success(self) -> Answer:
        return Answer(200, updates.sent_ok(77, text=GREETING))

    def permanent(self) -> Answer:
        return Answer(403, updates.error(403, "Forbidden: bot was blocked by the user"))

    def transient(self) -> Answer:
        return Answer(502, updates.error(502, "Bad Gateway"))

    def rate_limited(self, seconds: int) -> Answer:
        # Telegram says when to come back in the body only, not in a Retry-After header.
        return Answer(429, updates.error(
            429, f"Too Many Requests: retry after {seconds}", retry_after=seconds
        ))

    def check_request(self, sent: Sent) -> None:
        r = sent.request
        assert (r.method, r.path) == ("POST", f"/bot{TOKEN}/sendMessage")
        assert r.headers["Content-Type"] == "application/json"
        assert r.json() == {"chat_id": int(CHAT), "text": GREETING}

    def status_hook(self, message_id: str) -> Hook:
        chat = message_id.split(":")[0]
        return Hook(json.dumps(updates.member("kicked", chat)).encode(),
                    headers={SECRET_HEADER: SECRET})

    def forge(self, hook: Hook) -> Hook:
        return replace(hook, headers={SECRET_HEADER: "not-" + SECRET})

    def test_status_webhook_with_a_good_signature_updates_the_touch(self, world, server):
        super().test_status_webhook_with_a_good_signature_updates_the_touch(world, server)
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.BLOCKED
        assert world.address_row.state_reason == "blocked the bot"

    def test_status_webhook_with_a_forged_signature_is_refused(self, world, server):
        super().test_status_webhook_with_a_forged_signature_is_refused(world, server)
        world.address_row.refresh_from_db()
        assert world.address_row.state == AddressState.ACTIVE


# --- sending ----------------------------------------------------------------------------
@pytest.fixture
def reachable(shop):
    """A contact bound to the bot's chat, with consent to get offers there."""
    contact = builders.contact(shop, email=None, consent=())
    Address.objects.create(business=shop, contact=contact, kind=AddressKind.TELEGRAM, value=CHAT)
    record_consent(contact, "telegram", Purpose.COMMERCIAL, ConsentStatus.GRANTED,
                   ConsentBasis.MESSENGER)
    return contact


def send(shop, contact, clock, options=None) -> Touch:
    chain = builders.chain(shop, [{"channels": ["telegram"], "body_template": "Новинки недели",
                                   "options": options or {}}])
    enroll(contact, chain, clock.now())
    Worker(EngineConfig.from_settings(), clock=clock).run(once=True)
    return Touch.objects.get(contact=contact)


def test_buttons_become_an_inline_keyboard(shop, clock, reachable, server, bot):
    long_reply = "Запишите меня на примерку кухни в субботу после обеда, пожалуйста"  # > 64 bytes
    s = server(Answer(200, updates.sent_ok(78)))
    bot(s)
    touch = send(shop, reachable, clock, {"buttons": [
        {"text": "Каталог", "url": "https://kedr.example/catalog"},
        {"text": "Хочу на примерку", "reply": long_reply},
        {"text": "Не интересно", "reply": "stop"},
    ]})
    assert touch.status == TouchStatus.SENT, touch.error
    assert s.requests[0].json()["reply_markup"] == {"inline_keyboard": [
        [{"text": "Каталог", "url": "https://kedr.example/catalog"}],
        [{"text": "Хочу на примерку", "callback_data": "#1"}],
        [{"text": "Не интересно", "callback_data": "stop"}],
    ]}


def test_a_pressed_button_is_a_reply_with_the_buttons_value(shop, clock, reachable, server, bot):
    long_reply = "Запишите меня на примерку кухни в субботу после обеда, пожалуйста"
    s = server(Answer(200, updates.sent_ok(78)))
    account = bot(s)
    touch = send(shop, reachable, clock, {"buttons": [
        {"text": "Каталог", "url": "https://kedr.example/catalog"},
        {"text": "Хочу на примерку", "reply": long_reply},
    ]})
    response = updates.post(account, updates.callback("#1", message_id=78))
    assert response.status_code == 200
    reply = InboundMessage.objects.get()
    assert reply.text == long_reply
    assert reply.payload["button"] == "Хочу на примерку"
    assert reply.contact == reachable and reply.touch == touch
    touch.refresh_from_db()
    assert touch.status == TouchStatus.REPLIED
    # The button stops spinning: the webhook's answer is answerCallbackQuery.
    answer = json.loads(response.content)
    assert answer["method"] == "answerCallbackQuery"
    assert answer["callback_query_id"] == reply.payload["callback_query_id"]


def test_a_stop_button_withdraws_consent_and_says_so(shop, clock, reachable, server, bot):
    s = server(Answer(200, updates.sent_ok(78)))
    account = bot(s)
    send(shop, reachable, clock, {"buttons": [{"text": "Отписаться", "reply": "stop"}]})
    response = updates.post(account, updates.callback("stop", message_id=78))
    answer = json.loads(response.content)
    assert answer["method"] == "answerCallbackQuery" and answer["text"]
    latest = reachable.consents.filter(channel="telegram").order_by("-id").first()
    assert latest.status == ConsentStatus.WITHDRAWN


@pytest.mark.parametrize(("status", "description", "state"), [
    (400, "Bad Request: chat not found", AddressState.BOUNCED),
    (403, "Forbidden: user is deactivated", AddressState.BOUNCED),
    (403, "Forbidden: bot was blocked by the user", AddressState.BLOCKED),
])
def test_errors_about_the_chat_suppress_the_address(
    shop, clock, reachable, server, bot, status, description, state
):
    s = server(Answer(status, updates.error(status, description)))
    bot(s)
    touch = send(shop, reachable, clock)
    # (The engine calls a bounce "bounced" and a chat that had blocked us "failed".)
    assert touch.status in (TouchStatus.BOUNCED, TouchStatus.FAILED)
    assert touch.error == f"Telegram {status}: {description}"
    address = reachable.addresses.get(kind=AddressKind.TELEGRAM)
    assert address.state == state
    assert address.state_reason == touch.error


@pytest.mark.parametrize(("status", "description"), [
    (401, "Unauthorized"),
    (404, "Not Found"),
    (400, "Bad Request: message is too long"),
])
def test_errors_of_the_account_or_message_fail_without_blaming_the_chat(
    shop, clock, reachable, server, bot, status, description
):
    s = server(Answer(status, updates.error(status, description)))
    bot(s)
    touch = send(shop, reachable, clock)
    assert touch.status == TouchStatus.FAILED
    assert description in touch.error
    assert reachable.addresses.get(kind=AddressKind.TELEGRAM).state == AddressState.ACTIVE
    assert len(s.requests) == 1


# --- updates ----------------------------------------------------------------------------
def test_an_update_without_the_secret_header_is_refused(shop, reachable, bot):
    account = bot()
    assert updates.post(account, updates.message("Здравствуйте"), secret="").status_code == 403
    assert updates.post(account, updates.message("Здравствуйте"), secret="x").status_code == 403
    assert not InboundMessage.objects.exists()


def test_a_blocked_bot_that_is_unblocked_makes_the_chat_active_again(shop, reachable, bot):
    account = bot()
    address = reachable.addresses.get(kind=AddressKind.TELEGRAM)
    assert updates.post(account, updates.member("kicked")).status_code == 200
    address.refresh_from_db()
    assert address.state == AddressState.BLOCKED
    assert updates.post(account, updates.member("member")).status_code == 200
    address.refresh_from_db()
    assert address.state == AddressState.ACTIVE


def test_a_reply_to_our_message_names_it(shop, clock, reachable, server, bot):
    s = server(Answer(200, updates.sent_ok(79)))
    account = bot(s)
    touch = send(shop, reachable, clock)
    updates.post(account, updates.message("А есть угловые?", message_id=500, reply_to=79))
    reply = InboundMessage.objects.get()
    assert reply.provider_message_id == f"{CHAT}:500"
    assert reply.touch == touch


def test_a_repeated_update_is_kept_once(shop, reachable, bot):
    account = bot()
    update = updates.message("Спасибо!", message_id=501)
    assert updates.post(account, update).status_code == 200
    assert updates.post(account, update).status_code == 200
    assert InboundMessage.objects.count() == 1


def test_group_chats_bring_nothing(shop, reachable, bot):
    account = bot()
    update = updates.message("/start 1-1_abc")
    update["message"]["chat"] = {"id": -100123, "title": "Кухни", "type": "supergroup"}
    assert updates.post(account, update).status_code == 200
    assert not InboundMessage.objects.exists()
    assert not Address.objects.filter(value="-100123").exists()


def test_an_unreadable_update_is_a_bad_request(shop, bot):
    account = bot()
    response = updates.post(account, {"update_id": 1, "message": {"text": "no chat"}})
    assert response.status_code == 400


# --- setWebhook -------------------------------------------------------------------------
def test_the_command_sets_the_webhook_with_our_secret(shop, server, bot, client):
    s = server(
        Answer(200, {"ok": True, "result": {"id": 123456789, "is_bot": True,
                                             "first_name": "Кедр", "username": "kedr_new_bot"}}),
        Answer(200, {"ok": True, "result": True, "description": "Webhook was set"}),
    )
    account = bot(s, bot_username="")
    call_command(telegram_webhook.Command(), str(account.pk))
    get_me, set_hook = s.requests
    assert get_me.path == f"/bot{TOKEN}/getMe"
    assert set_hook.path == f"/bot{TOKEN}/setWebhook"
    assert set_hook.json() == {
        "url": hook_url(account),
        "secret_token": webhook_secret(account),
        "allowed_updates": ALLOWED_UPDATES,
    }
    assert hook_url(account).startswith("https://crm.kedr.example/hooks/")
    account.refresh_from_db()
    assert account.options["bot_username"] == "kedr_new_bot"
    # What Telegram was told is what the hook checks.
    header = {f"HTTP_{SECRET_HEADER.upper().replace('-', '_')}": set_hook.json()["secret_token"]}
    path = hook_url(account).removeprefix("https://crm.kedr.example")
    response = client.post(path, data=json.dumps(updates.message("Привет")),
                           content_type="application/json", **header)
    assert response.status_code == 200


def test_the_command_reports_a_refused_token(shop, server, bot):
    s = server(Answer(401, updates.error(401, "Unauthorized")))
    account = bot(s)
    with pytest.raises(CommandError, match="Unauthorized"):
        call_command(telegram_webhook.Command(), str(account.pk))
    assert len(s.requests) == 1
