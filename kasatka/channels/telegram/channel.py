"""Telegram Bot API (https://core.telegram.org/bots/api): sendMessage out, updates in.

Sending: POST {api}/bot<token>/sendMessage with JSON {chat_id, text, reply_markup}. The
answer is {"ok": true, "result": <Message>} or {"ok": false, "error_code", "description",
"parameters": {"retry_after"}}. Message ids are numbered per chat, so ours is
"<chat_id>:<message_id>".

Updates: Telegram POSTs one Update per request to the address given to setWebhook, with
the secret_token of that call in the X-Telegram-Bot-Api-Secret-Token header. Telegram
has no delivery receipts: what comes in is messages ("/start <token>" binds a chat to
a contact), pressed buttons (callback_query) and my_chat_member (the user blocked the
bot or came back). A webhook may be answered with one Bot API call in its body, which
is how the bot greets a contact without a request of its own.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Sequence
from typing import Any

import httpx
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext as _

from kasatka.chains.models import Touch
from kasatka.channels.base import (
    AddressEvent,
    BindEvent,
    DeliveryError,
    Event,
    InboundEvent,
    Outbound,
    WebhookForbidden,
    WebhookReply,
)
from kasatka.channels.http import HttpChannel, json_answer, send
from kasatka.contacts.models import AddressKind, AddressState

from .bot import webhook_secret

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# The updates Kasatka reads; setWebhook asks for these only.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
# Telegram's limit on a button's callback_data, in bytes.
CALLBACK_DATA_LIMIT = 64
# callback_data "#<n>" stands for the n-th button's reply when the reply does not fit.
_BUTTON_INDEX = re.compile(r"#(\d+)")
_COMMAND = re.compile(r"^(/[A-Za-z0-9_]+)(?:@[A-Za-z0-9_]+)?(?:\s+(.*))?$", re.DOTALL)

# Message kinds other than text a contact may send; stored as the message's attachment.
_ATTACHMENTS = (
    "photo", "document", "voice", "audio", "video", "video_note", "sticker", "contact",
    "location",
)
# Error descriptions about the chat itself (the text after "Forbidden: "/"Bad Request: ").
_BLOCKED = ("bot was blocked by the user", "bot was kicked")
_GONE = (
    "chat not found", "user not found", "user is deactivated", "peer_id_invalid",
    "bot can't initiate conversation",
)


def chat_id(value: str) -> int | str:
    """Chat ids are integers in the API; "@channel" names stay strings."""
    return int(value) if re.fullmatch(r"-?\d+", value.strip()) else value.strip()


def callback_data(reply: str, index: int) -> str:
    """The button's reply itself when it fits Telegram's 64 bytes, else "#<index>"."""
    if len(reply.encode()) <= CALLBACK_DATA_LIMIT and not reply.startswith("#"):
        return reply
    return f"#{index}"


def inline_keyboard(buttons: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """A step's buttons as an inline keyboard, one button a row (easy to hit on a phone)."""
    rows: list[list[dict[str, str]]] = []
    for index, button in enumerate(buttons):
        text = str(button.get("text") or "").strip()
        if "url" in button:
            rows.append([{"text": text, "url": str(button["url"])}])
        else:
            data = callback_data(str(button["reply"]), index)
            rows.append([{"text": text, "callback_data": data}])
    return {"inline_keyboard": rows} if rows else None


def delivery_error(answer: dict[str, Any], status: int) -> DeliveryError:
    """A Bot API error as a DeliveryError: about the chat, the account, or passing."""
    code = _int(answer.get("error_code")) or status
    description = str(answer.get("description") or "").strip()
    text = f"Telegram {code}: {description}" if description else f"Telegram {code}"
    lowered = description.casefold()
    if code in (401, 404):
        # The token is wrong or revoked: every message would fail the same way.
        return DeliveryError(f"{text} (check the bot token)", permanent=True)
    if any(phrase in lowered for phrase in _BLOCKED):
        return DeliveryError(text, permanent=True, address_state=AddressState.BLOCKED)
    if any(phrase in lowered for phrase in _GONE):
        return DeliveryError(text, permanent=True, address_state=AddressState.BOUNCED)
    if code == 403:
        return DeliveryError(text, permanent=True, address_state=AddressState.BLOCKED)
    if code == 400:
        # The message itself is wrong (too long, a bad button URL): resending cannot help.
        return DeliveryError(text, permanent=True)
    return DeliveryError(text)


def _command(text: str) -> tuple[str, str]:
    """("/start", "<token>") of "/start@our_bot <token>"; ("", "") for plain text."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return "", ""
    return match.group(1), (match.group(2) or "").strip()


def display_name(user: dict[str, Any]) -> str:
    name = " ".join(str(user[k]) for k in ("first_name", "last_name") if user.get(k))
    if user.get("username"):
        name = f"{name} (@{user['username']})".strip()
    return name


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _json(response: httpx.Response) -> dict[str, Any]:
    return json_answer(response, "Telegram")


class TelegramChannel(HttpChannel):
    code = "telegram"
    provider = "telegram"
    address_kind = AddressKind.TELEGRAM
    API_URL = "https://api.telegram.org"
    # Telegram allows a bot about 30 messages a second in bulk; leave room for the
    # greetings and answers the bot gives in webhook replies.
    default_rate = 25.0

    @property
    def token(self) -> str:
        return self.secrets.get("bot_token", "").strip()

    def method_url(self, method: str) -> str:
        return f"{self.api_url}/bot{self.token}/{method}"

    # --- sending ---------------------------------------------------------------------
    def build_request(self, message: Outbound) -> httpx.Request:
        payload: dict[str, Any] = {"chat_id": chat_id(message.address.value), "text": message.body}
        markup = inline_keyboard((message.step.options or {}).get("buttons") or [])
        if markup is not None:
            payload["reply_markup"] = markup
        return httpx.Request("POST", self.method_url("sendMessage"), json=payload)

    def parse_response(self, response: httpx.Response, message: Outbound) -> str:
        answer = _json(response)
        result = answer.get("result")
        if answer.get("ok") is True and isinstance(result, dict) and "message_id" in result:
            chat = (result.get("chat") or {}).get("id", message.address.value)
            return f"{chat}:{result['message_id']}"
        raise delivery_error(answer, response.status_code)

    def retry_after(self, response: httpx.Response) -> float | None:
        """Telegram says how long to wait in the body: parameters.retry_after (seconds)."""
        try:
            answer = response.json()
        except ValueError:
            return None
        parameters = answer.get("parameters") if isinstance(answer, dict) else None
        seconds = parameters.get("retry_after") if isinstance(parameters, dict) else None
        return float(seconds) if isinstance(seconds, int | float) else None

    def call(self, method: str, params: dict[str, Any]) -> Any:
        """Any other Bot API method (getMe, setWebhook): its result, or DeliveryError."""
        request = httpx.Request("POST", self.method_url(method), json=params)
        response = send(request, idempotent=True, retry_after=self.retry_after)
        answer = _json(response)
        if answer.get("ok") is not True:
            raise delivery_error(answer, response.status_code)
        return answer.get("result")

    # --- updates ---------------------------------------------------------------------
    def handle_webhook(self, request: HttpRequest) -> WebhookReply:
        if self.account is None:
            raise WebhookForbidden("no bot account")
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), webhook_secret(self.account).encode()):
            raise WebhookForbidden("wrong or missing secret token")
        update = json.loads(request.body)  # ValueError: the endpoint answers 400
        if not isinstance(update, dict):
            raise ValueError("an update must be a JSON object")
        try:
            events = self.read_update(update)
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"unexpected update: {exc!r}") from exc
        return WebhookReply(events)

    def read_update(self, update: dict[str, Any]) -> list[Event]:
        """The events of one Update; group chats and other update kinds bring none."""
        if "message" in update:
            return self._message(update["message"])
        if "callback_query" in update:
            return self._button(update["callback_query"])
        if "my_chat_member" in update:
            return self._membership(update["my_chat_member"])
        return []

    def _message(self, message: dict[str, Any]) -> list[Event]:
        chat = message["chat"]
        if chat.get("type", "private") != "private":
            return []  # the bot talks to contacts one to one; a group is no address
        sender = str(chat["id"])
        text = str(message.get("text") or message.get("caption") or "")
        name, argument = _command(text)
        if name == "/start" and argument:
            return [BindEvent(argument, sender, display_name(message.get("from") or chat))]
        if name:
            text = f"{name} {argument}".strip()  # "/stop@our_bot" reads as "/stop"
        replied = message.get("reply_to_message")
        attachment = next((k for k in _ATTACHMENTS if k in message), "")
        return [InboundEvent(
            sender, text, f"{sender}:{message['message_id']}",
            payload={"attachment": attachment} if attachment else {},
            in_reply_to=f"{sender}:{replied['message_id']}" if replied else "",
        )]

    def _button(self, query: dict[str, Any]) -> list[Event]:
        message = query.get("message") or {}
        chat = message.get("chat") or query["from"]
        if chat.get("type", "private") != "private":
            return []
        sender = str(chat["id"])
        data = str(query.get("data") or "")
        replied = f"{sender}:{message['message_id']}" if message.get("message_id") else ""
        button = self._pressed(replied, data)
        payload = {"callback_query_id": str(query["id"]), "data": data}
        if button:
            payload["button"] = str(button.get("text") or "")
        reply = str(button["reply"]) if button and "reply" in button else data
        return [InboundEvent(sender, reply, f"callback:{query['id']}", payload, replied)]

    def _pressed(self, replied: str, data: str) -> dict[str, Any] | None:
        """The button of our message that was pressed, read back from the touch's step."""
        if not replied or self.account is None:
            return None
        touch = (
            Touch.objects.filter(
                business_id=self.account.business_id, channel=self.code,
                provider_message_id=replied,
            )
            .select_related("step")
            .first()
        )
        if touch is None:
            return None
        buttons: list[dict[str, Any]] = (touch.step.options or {}).get("buttons") or []
        index = _BUTTON_INDEX.fullmatch(data)
        if index is not None:
            i = int(index.group(1))
            return dict(buttons[i]) if i < len(buttons) else None
        for i, button in enumerate(buttons):
            if "reply" in button and callback_data(str(button["reply"]), i) == data:
                return dict(button)
        return None

    def _membership(self, change: dict[str, Any]) -> list[Event]:
        chat = change["chat"]
        if chat.get("type", "private") != "private":
            return []
        status = change["new_chat_member"]["status"]
        if status == "kicked":
            return [AddressEvent(str(chat["id"]), AddressState.BLOCKED, "blocked the bot")]
        if status == "member":
            return [AddressEvent(str(chat["id"]), AddressState.ACTIVE, "unblocked the bot")]
        return []

    # --- answering in the webhook reply ------------------------------------------------------
    def respond(self, reply: WebhookReply, outcomes: list[str]) -> WebhookReply:
        """Greet a bound contact, refuse a bad link, confirm /stop: one call in the reply.

        Telegram runs a Bot API method given as the webhook's JSON answer, so these
        answers cost no request of our own (and no slot of the rate limit).
        """
        for event, outcome in zip(reply.events, outcomes, strict=False):
            method = self._answer(event, outcome)
            if method is not None:
                reply.body = json.dumps(method, ensure_ascii=False)
                reply.content_type = "application/json"
                break
        return reply

    def _answer(self, event: Event, outcome: str) -> dict[str, Any] | None:
        if isinstance(event, InboundEvent) and "callback_query_id" in event.payload:
            # A pressed button spins until answered; a STOP button also says it worked.
            method: dict[str, Any] = {
                "method": "answerCallbackQuery",
                "callback_query_id": event.payload["callback_query_id"],
            }
            if outcome == "stopped":
                method["text"] = self.text("stopped")
            return method
        if isinstance(event, BindEvent):
            key = "welcome" if outcome == "bound" else "invalid_link"
            return self._send(event.address, self.text(key))
        if isinstance(event, InboundEvent) and outcome == "stopped":
            return self._send(event.sender, self.text("stopped"))
        if isinstance(event, InboundEvent) and outcome == "unknown sender" and (
            event.text == "/start"
        ):
            return self._send(event.sender, self.text("no_link"))
        return None

    def _send(self, to: str, text: str) -> dict[str, Any]:
        return {"method": "sendMessage", "chat_id": chat_id(to), "text": text}

    def text(self, key: str) -> str:
        """The bot's own words, in the business's language; options "<key>_text" override."""
        own = str(self.options.get(f"{key}_text") or "").strip()
        if own:
            return own
        business = self.account.business if self.account is not None else None
        name = business.name if business is not None else ""
        with translation.override(business.language if business is not None else None):
            texts = {
                "welcome": _(
                    "Hello! You will now get news from %(business)s here. "
                    "Send /stop if you no longer want them."
                ),
                "invalid_link": _(
                    "Sorry, this link is not valid. Ask %(business)s for a new one."
                ),
                "stopped": _("Done: you will not get messages from %(business)s here any more."),
                "no_link": _(
                    "Hello! To get news from %(business)s here, open the personal link "
                    "they sent you."
                ),
            }
            return texts[key] % {"business": name}
