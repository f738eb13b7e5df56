"""Viber bots (REST Bot API, https://developers.viber.com/docs/api/rest-bot-api/).

Sending: POST https://chatapi.viber.com/pa/send_message with the header
X-Viber-Auth-Token and JSON {"receiver": <Viber user id>, "min_api_version": 1,
"sender": {"name": …}, "type": "text", "text": …, "keyboard": {…}}. Every answer is
HTTP 200 with {"status": 0, "status_message": "ok", "message_token": <int>, …}; any
other status is a refusal (its name in status_message).

A bot reaches only users subscribed to it: the address is the user id Viber gives in
its callbacks, bound to the contact when they open the bot through their signed link
(viber://pa?chatURI=<bot>&context=<token>, see deep_link()).

Callbacks: POST JSON {"event": …, "timestamp", "message_token", …} signed with
X-Viber-Content-Signature: hex HMAC-SHA256 of the raw body with the auth token. Viber
sends "webhook" once when the address is set (answered with 200), then delivered, seen,
failed (about our messages), subscribed, unsubscribed, conversation_started and message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any, ClassVar

import httpx
from django.http import HttpRequest

from kasatka.chains.models import TouchStatus
from kasatka.channels.base import (
    AddressEvent,
    BindEvent,
    DeliveryError,
    Event,
    InboundEvent,
    Outbound,
    StatusEvent,
    WebhookForbidden,
    WebhookReply,
)
from kasatka.channels.binding import make_bind_token
from kasatka.channels.http import HttpChannel, json_answer
from kasatka.contacts.models import AddressKind, AddressState

if TYPE_CHECKING:
    from kasatka.channels.models import ProviderAccount

# Callback events about a message of ours.
STATUS_MAP: dict[str, str] = {
    "delivered": TouchStatus.DELIVERED,
    "seen": TouchStatus.OPENED,
    "failed": TouchStatus.FAILED,
}
# send_message statuses (the API's "Error Codes" table).
NOT_REGISTERED = 5  # receiverNotRegistered: the id is no Viber user
NOT_SUBSCRIBED = 6  # receiverNotSubscribed: the user unsubscribed from the bot
TOO_MANY_REQUESTS = 12  # tooManyRequests: rate control breach
ADDRESS_STATES: dict[int, str] = {
    NOT_REGISTERED: AddressState.BOUNCED,
    NOT_SUBSCRIBED: AddressState.BLOCKED,
}
# Everything else is permanent without blaming the user: 2 invalidAuthToken, 7–9 the bot
# is blocked, missing or suspended, 10 no webhook set (Viber requires one to send),
# 11 receiverNoSuitableDevice (an app too old for bots), 3/4/13/14 our request.

TEXT_LIMIT = 7000
SENDER_NAME_LIMIT = 28


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object of the provider's, or an empty one when it sent something else."""
    return value if isinstance(value, dict) else {}


def deep_link(account: ProviderAccount | None, contact_id: int) -> str:
    """viber://pa?chatURI=<bot>&context=<signed token>: opening it binds the chat.

    Empty when the account names no bot URI (option "chat_uri"), so that a template can
    write `{% if viber_link %}…{% endif %}`.
    """
    uri = str(account.options.get("chat_uri") or "").strip() if account is not None else ""
    if account is None or not uri:
        return ""
    token = make_bind_token(account.business_id, contact_id)
    return f"viber://pa?chatURI={uri}&context={token}"


class ViberChannel(HttpChannel):
    code = "viber"
    provider = "viber"
    address_kind = AddressKind.VIBER
    API_URL = "https://chatapi.viber.com"
    STATUS_MAP: ClassVar[dict[str, str]] = STATUS_MAP

    def build_request(self, message: Outbound) -> httpx.Request:
        payload: dict[str, Any] = {
            "receiver": message.address.value,
            "min_api_version": int(self.options.get("min_api_version") or 1),
            # Viber requires a sender name: the bot's own, else the business's.
            "sender": {"name": self.sender_name(message)},
            "type": "text",
            "text": message.body[:TEXT_LIMIT],
        }
        keyboard = self.keyboard(message.step.options.get("buttons") or [])
        if keyboard:
            payload["keyboard"] = keyboard
        return httpx.Request(
            "POST", f"{self.api_url}/pa/send_message", json=payload,
            headers={"X-Viber-Auth-Token": self.secrets.get("auth_token", "")},
        )

    def sender_name(self, message: Outbound) -> str:
        name = str(self.options.get("sender_name") or message.business.name)
        return name[:SENDER_NAME_LIMIT]

    @staticmethod
    def keyboard(buttons: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The step's buttons as a Viber keyboard: replies come back as the user's message."""
        if not buttons:
            return None
        return {"Type": "keyboard", "DefaultHeight": False, "Buttons": [
            {"ActionType": "open-url", "ActionBody": str(b["url"]), "Text": str(b["text"])}
            if b.get("url") else
            {"ActionType": "reply", "ActionBody": str(b["reply"]), "Text": str(b["text"])}
            for b in buttons
        ]}

    def parse_response(self, response: httpx.Response, message: Outbound) -> str:
        answer = json_answer(response, "Viber")
        status = answer.get("status")
        if status == 0 and answer.get("message_token") is not None:
            return str(answer["message_token"])
        text = f"Viber {status}: {answer.get('status_message') or 'no message token'}"
        if status == TOO_MANY_REQUESTS:
            raise DeliveryError(text)
        state = ADDRESS_STATES.get(status) if isinstance(status, int) else None
        raise DeliveryError(text, permanent=True, address_state=state)

    # --- callbacks -------------------------------------------------------------------
    def handle_webhook(self, request: HttpRequest) -> WebhookReply:
        secret = self.secrets.get("auth_token", "")
        given = request.headers.get("X-Viber-Content-Signature", "")
        digest = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not secret or not hmac.compare_digest(given.encode(), digest.encode()):
            raise WebhookForbidden("bad X-Viber-Content-Signature")
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise ValueError("a Viber callback is a JSON object")
        event = self.event(data)
        return WebhookReply([event] if event is not None else [], body="ok")

    def event(self, data: dict[str, Any]) -> Event | None:
        """What one callback means; None for those that change nothing ("webhook")."""
        kind = str(data.get("event") or "")
        user = _obj(data.get("user"))
        if kind in self.STATUS_MAP and data.get("message_token") is not None:
            error = str(data.get("desc") or "failed") if kind == "failed" else ""
            return StatusEvent(str(data["message_token"]), self.STATUS_MAP[kind], error)
        if kind == "unsubscribed" and data.get("user_id"):
            return AddressEvent(
                str(data["user_id"]), AddressState.BLOCKED, "unsubscribed from the Viber bot"
            )
        if kind == "subscribed" and user.get("id"):
            return AddressEvent(str(user["id"]), AddressState.ACTIVE, "subscribed to the Viber bot")
        if kind == "conversation_started" and data.get("context") and user.get("id"):
            return BindEvent(str(data["context"]), str(user["id"]), str(user.get("name") or ""))
        if kind == "message":
            return self.inbound(data)
        return None

    @staticmethod
    def inbound(data: dict[str, Any]) -> Event | None:
        sender = _obj(data.get("sender"))
        message = _obj(data.get("message"))
        if not sender.get("id"):
            return None
        payload = {"type": str(message.get("type") or ""), "name": str(sender.get("name") or "")}
        if message.get("tracking_data"):
            payload["tracking_data"] = str(message["tracking_data"])
        return InboundEvent(
            str(sender["id"]), str(message.get("text") or ""),
            str(data.get("message_token") or ""), payload,
        )
