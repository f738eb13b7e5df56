"""VK community messages (https://dev.vk.com/method/messages.send, Callback API).

Sending: POST https://api.vk.com/method/messages.send, form fields access_token (the
community's key), v (5.199), user_id (the address), random_id, message and keyboard (JSON).
With one user_id the answer is {"response": <message id>}; with peer_ids it would be a
list of {"peer_id", "message_id", "conversation_message_id", "error"}, which is read
too. Errors: {"error": {"error_code", "error_msg", "request_params"}}, always HTTP 200.

random_id is derived from our idempotency key, and VK does not send a second message
with a random_id it has seen in the dialog lately (VK speaks of the last hour), so a
send whose answer was lost may be repeated: the channel is idempotent.

Callback API: POST JSON {"type", "event_id", "v", "object", "group_id", "secret"}; the
secret must equal the account's "callback_secret" (a forged one is refused). The first
request, type "confirmation", is answered with the confirmation string VK shows in the
community's settings; every other one with "ok". VK has no delivery statuses for
community messages: what comes back is the contact's reply (message_new), their "no"
or "yes" to messages from the community (message_deny, message_allow) and the first
message after a contact's vk.me/<community>?ref=<token> link, which binds the chat
(BindEvent).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import httpx
from django.core import signing
from django.http import HttpRequest

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
from kasatka.channels.binding import make_bind_token, read_bind_token
from kasatka.channels.http import HttpChannel, json_answer
from kasatka.contacts.models import AddressKind, AddressState

if TYPE_CHECKING:
    from kasatka.channels.models import ProviderAccount

API_VERSION = "5.199"
# 900 the user blacklisted the community, 901 they have not allowed its messages,
# 902 their privacy settings forbid them.
BLOCKED_CODES = {900, 901, 902}
# 18 the page was deleted or banned, 113 no such user.
BOUNCED_CODES = {18, 113}
# 1 unknown error, 6 too many requests per second, 9 flood control, 10 internal server
# error, 29 the method's rate limit: try again later.
TRANSIENT_CODES = {1, 6, 9, 10, 29}
# Everything else is permanent without blaming the user: 5 the access key is wrong,
# 7/15/27 no permission, 100 a bad parameter, 914 the message is too long…

# Inline keyboards hold few buttons; more would be refused (error 911).
KEYBOARD_LIMIT = 6
LABEL_LIMIT = 40


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object of the provider's, or an empty one when it sent something else."""
    return value if isinstance(value, dict) else {}


def random_id(idempotency_key: str) -> int:
    """A stable positive 31-bit number for a key: VK's guard against sending twice."""
    digest = hashlib.sha256(idempotency_key.encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF or 1


def deep_link(account: ProviderAccount | None, contact_id: int) -> str:
    """vk.me/<community>?ref=<signed token>: writing to the community through it binds the chat.

    Empty when the account names no community (option "screen_name"), so that a template
    can write `{% if vk_link %}…{% endif %}`.
    """
    name = str(account.options.get("screen_name") or "").strip() if account is not None else ""
    if account is None or not name:
        return ""
    return f"https://vk.me/{name}?ref={make_bind_token(account.business_id, contact_id)}"


def error_for(code: int | None, text: str) -> DeliveryError:
    if code in BLOCKED_CODES:
        return DeliveryError(text, permanent=True, address_state=AddressState.BLOCKED)
    if code in BOUNCED_CODES:
        return DeliveryError(text, permanent=True, address_state=AddressState.BOUNCED)
    if code in TRANSIENT_CODES:
        return DeliveryError(text)
    return DeliveryError(text, permanent=True)


class VkChannel(HttpChannel):
    code = "vk"
    provider = "vk"
    address_kind = AddressKind.VK
    API_URL = "https://api.vk.com"
    # VK's limit for a community's access key: 20 requests a second.
    default_rate = 20.0
    idempotent = True

    def build_request(self, message: Outbound) -> httpx.Request:
        data = {
            "access_token": self.secrets.get("access_token", ""),
            "v": str(self.options.get("api_version") or API_VERSION),
            "user_id": message.address.value,
            "random_id": str(random_id(message.idempotency_key)),
            "message": message.body,
        }
        keyboard = self.keyboard(message.step.options.get("buttons") or [])
        if keyboard:
            data["keyboard"] = json.dumps(keyboard, ensure_ascii=False)
        return httpx.Request("POST", f"{self.api_url}/method/messages.send", data=data)

    @staticmethod
    def keyboard(buttons: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The step's buttons as an inline keyboard under the message, one to a row."""
        if not buttons:
            return None
        rows = []
        for b in buttons[:KEYBOARD_LIMIT]:
            label = str(b["text"])[:LABEL_LIMIT]
            action = (
                {"type": "open_link", "link": str(b["url"]), "label": label} if b.get("url")
                else {"type": "text", "label": label,
                      "payload": json.dumps({"reply": str(b["reply"])}, ensure_ascii=False)}
            )
            rows.append([{"action": action}])
        return {"inline": True, "buttons": rows}

    def parse_response(self, response: httpx.Response, message: Outbound) -> str:
        answer = json_answer(response, "VK")
        result = answer.get("response")
        if isinstance(result, list) and result and isinstance(result[0], dict):
            # The peer_ids form: one entry per recipient, each with its own error.
            entry = result[0]
            if entry.get("message_id"):
                return str(entry["message_id"])
            answer = {"error": entry.get("error") or {}}
        elif isinstance(result, int) and not isinstance(result, bool):
            return str(result)
        error = _obj(answer.get("error"))
        code = error.get("error_code") if isinstance(error.get("error_code"), int) else None
        text = f"VK {code}: {error.get('error_msg') or 'no message id in the answer'}"
        raise error_for(code, text)

    # --- the Callback API --------------------------------------------------------------
    def handle_webhook(self, request: HttpRequest) -> WebhookReply:
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise ValueError("a VK callback is a JSON object")
        self.check_secret(data)
        if data.get("type") == "confirmation":
            confirmation = self.secrets.get("confirmation") or self.options.get("confirmation")
            return WebhookReply(body=str(confirmation or ""))
        obj = _obj(data.get("object"))
        return WebhookReply(self.events(str(data.get("type") or ""), obj), body="ok")

    def check_secret(self, data: dict[str, Any]) -> None:
        """The callback's "secret" must be the account's; so must its community, if named."""
        expected = self.secrets.get("callback_secret", "")
        given = str(data.get("secret") or "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise WebhookForbidden("VK callback with a wrong secret")
        group = str(self.options.get("group_id") or "")
        if group and str(data.get("group_id")) != group:
            raise WebhookForbidden("VK callback for another community")

    def is_bind_token(self, ref: str) -> bool:
        """Whether a vk.me ref (or a widget key) is a contact's signed link of this business."""
        if not ref or self.account is None:
            return False
        try:
            read_bind_token(ref, self.account.business_id)
        except signing.BadSignature:
            return False
        return True

    def events(self, kind: str, obj: dict[str, Any]) -> list[Event]:
        if kind == "message_new":
            message = _obj(obj.get("message")) or obj
            return self.inbound(message)
        user = str(obj.get("user_id") or "")
        if not user:
            return []
        if kind == "message_deny":
            return [
                AddressEvent(user, AddressState.BLOCKED, "denied messages from the VK community")
            ]
        if kind == "message_allow":
            events: list[Event] = [
                AddressEvent(user, AddressState.ACTIVE, "allowed messages from the VK community")
            ]
            # allowMessagesFromGroup's "key": the community's widget may carry a bind token.
            if self.is_bind_token(str(obj.get("key") or "")):
                events.append(BindEvent(str(obj["key"]), user))
            return events
        return []

    def inbound(self, message: dict[str, Any]) -> list[Event]:
        sender = message.get("from_id")
        if not isinstance(sender, int) or sender <= 0:
            return []  # communities and chats are not contacts
        if self.is_bind_token(str(message.get("ref") or "")):
            # The first message after a contact's vk.me link: it binds the chat; its text
            # is only the "Start" VK offers, not a reply to any touch. Other refs (an ad's)
            # leave the message an ordinary one.
            return [BindEvent(str(message["ref"]), str(sender))]
        payload: dict[str, Any] = {}
        if message.get("payload"):
            try:
                button = json.loads(str(message["payload"]))
            except ValueError:
                button = None
            if isinstance(button, dict) and "reply" in button:
                payload["reply"] = str(button["reply"])
        reply_to = _obj(message.get("reply_message"))
        return [InboundEvent(
            str(sender), str(message.get("text") or ""), str(message.get("id") or ""), payload,
            in_reply_to=str(reply_to.get("id") or ""),
        )]
