"""WhatsApp Cloud API (https://developers.facebook.com/docs/whatsapp/cloud-api).

Sending: POST https://graph.facebook.com/v21.0/<phone_number_id>/messages with
"Authorization: Bearer <access_token>" and JSON {"messaging_product": "whatsapp",
"recipient_type": "individual", "to": <number>, "type": …}. The answer is
{"messaging_product": "whatsapp", "contacts": […], "messages": [{"id": "wamid…"}]};
a refusal is a Graph API error {"error": {"message", "type", "code", "error_data":
{"details"}, "fbtrace_id"}}.

WhatsApp lets a business write free text only within 24 hours of the contact's last
message to it (the customer-service window); outside it only a template Meta approved
goes through. The window is read from the contact's last InboundMessage on this channel,
once per batch. Outside it the step must name a template in its options:
{"whatsapp": {"template": "<name>", "language": "ru", "with_text": true}}; "with_text"
passes the rendered step text as the template's one body parameter ({{1}}), for
templates written as a frame around our text. Without a template the touch fails,
and says why, rather than being sent and refused (error 131047).

Webhooks (one address for statuses and messages): POST JSON {"object":
"whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value":
{"statuses": […], "messages": […], "contacts": […]}}]}]}, signed with
X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>.
When the address is registered Meta first checks it with a GET (hub.mode=subscribe,
hub.verify_token, hub.challenge), which is answered with the challenge.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.http import HttpRequest

from kasatka.chains.models import TouchStatus
from kasatka.channels.base import (
    DeliveryError,
    Event,
    InboundEvent,
    Outbound,
    Result,
    StatusEvent,
    WebhookForbidden,
    WebhookReply,
)
from kasatka.channels.http import HttpChannel, json_answer
from kasatka.channels.models import InboundMessage, ProviderAccount
from kasatka.contacts.actions import normalise_phone
from kasatka.contacts.models import AddressKind, AddressState

# How long after the contact's last message free text may be sent.
WINDOW = timedelta(hours=24)

# Message statuses of the webhooks ("read" only when the contact keeps read receipts on).
STATUS_MAP: dict[str, str] = {
    "sent": TouchStatus.SENT,
    "delivered": TouchStatus.DELIVERED,
    "read": TouchStatus.OPENED,
    "failed": TouchStatus.FAILED,
}
# 131026 "Message undeliverable": the number is not on WhatsApp, or its app is too old
# or has not accepted the terms; the number is suppressed.
BAD_NUMBER_CODES = {131026}
# Limits and Meta's own trouble: try again later. 130429 throughput, 131048 spam rate
# limit, 131056 too many messages to this one number; 1, 2, 131000, 131016, 133004:
# unknown or temporary server errors; 4 and 80007: the app's call limits.
TRANSIENT_CODES = {1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004}
# Everything else is permanent without blaming the number: 190 (the token expired),
# 0, 3, 10 and 200–299 (permissions), 131047 (the window closed: a template is needed),
# 131049 (Meta held a marketing message back), 132xxx (the template), 100 (parameters).

# WhatsApp refuses template parameters with new lines, tabs or more than 4 spaces in a row.
PARAMETER_LIMIT = 1024
INTERACTIVE_BODY_LIMIT = 1024
BUTTON_TITLE_LIMIT = 20


def _obj(value: Any) -> dict[str, Any]:
    """A JSON object of the provider's, or an empty one when it sent something else."""
    return value if isinstance(value, dict) else {}


def _code(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def error_for(code: int | None, text: str) -> DeliveryError:
    """The typed error of a WhatsApp error code (shared by answers and status webhooks)."""
    if code in BAD_NUMBER_CODES:
        return DeliveryError(text, permanent=True, address_state=AddressState.BOUNCED)
    if code in TRANSIENT_CODES:
        return DeliveryError(text)
    return DeliveryError(text, permanent=True)


def phone(wa_id: str) -> str:
    """Our spelling (E.164) of the number WhatsApp writes as digits ("79161234567")."""
    digits = "".join(ch for ch in wa_id if ch.isdigit())
    try:
        return normalise_phone(f"+{digits}")
    except ValidationError:
        return f"+{digits}"


def one_line(text: str) -> str:
    """Text fit for a template parameter: WhatsApp refuses new lines and long runs of spaces."""
    return " ".join(text.split())[:PARAMETER_LIMIT]


class WhatsAppChannel(HttpChannel):
    code = "whatsapp"
    provider = "whatsapp"
    address_kind = AddressKind.WHATSAPP
    API_URL = "https://graph.facebook.com"
    API_VERSION = "v21.0"
    # Cloud API's default throughput of one business number (messages per second).
    default_rate = 80.0
    STATUS_MAP: ClassVar[dict[str, str]] = STATUS_MAP

    def __init__(self, account: ProviderAccount | None = None) -> None:
        super().__init__(account)
        # Address value → the contact's last message within reach of the window (or None).
        self._last_inbound: dict[str, datetime | None] = {}

    # --- the 24-hour window ----------------------------------------------------------
    def deliver_batch(
        self, messages: Sequence[Outbound], should_stop: Callable[[], bool]
    ) -> list[Result | None]:
        self.load_windows(messages)
        return super().deliver_batch(messages, should_stop)

    def load_windows(self, messages: Sequence[Outbound]) -> None:
        """Read, in one query, when each address of the batch last wrote to the business."""
        values = {m.address.value for m in messages} - self._last_inbound.keys()
        if not values:
            return
        since = min(m.now for m in messages) - WINDOW
        rows = (
            InboundMessage.objects.filter(
                business_id__in={m.business.pk for m in messages},
                channel=self.code,
                sender__in=values,
                received_at__gt=since,
            )
            .values("sender")
            .annotate(last=Max("received_at"))
        )
        self._last_inbound.update(dict.fromkeys(values))
        for row in rows:
            self._last_inbound[row["sender"]] = row["last"]

    def window_open(self, message: Outbound) -> bool:
        if message.address.value not in self._last_inbound:
            self.load_windows([message])
        last = self._last_inbound.get(message.address.value)
        return last is not None and last > message.now - WINDOW

    # --- sending -------------------------------------------------------------------
    def build_request(self, message: Outbound) -> httpx.Request:
        content = self.free_text(message) if self.window_open(message) else self.template(message)
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": message.address.value.lstrip("+"),
            **content,
        }
        version = str(self.options.get("api_version") or self.API_VERSION)
        phone_number_id = str(self.options.get("phone_number_id") or "")
        return httpx.Request(
            "POST",
            f"{self.api_url}/{version}/{phone_number_id}/messages",
            json=payload,
            headers={"Authorization": f"Bearer {self.secrets.get('access_token', '')}"},
        )

    def free_text(self, message: Outbound) -> dict[str, Any]:
        """Inside the window: the text, with reply buttons when the step has up to three."""
        buttons = message.step.options.get("buttons") or []
        links = [b for b in buttons if b.get("url")]
        replies = [b for b in buttons if b.get("reply")]
        text = message.body
        if links:
            text += "\n\n" + "\n".join(f"{b['text']}: {b['url']}" for b in links)
        if replies and len(replies) <= 3 and len(text) <= INTERACTIVE_BODY_LIMIT:
            return {"type": "interactive", "interactive": {
                "type": "button",
                "body": {"text": text},
                "action": {"buttons": [
                    {"type": "reply", "reply": {
                        "id": str(b["reply"])[:256], "title": str(b["text"])[:BUTTON_TITLE_LIMIT],
                    }}
                    for b in replies
                ]},
            }}
        return {"type": "text", "text": {"body": text, "preview_url": bool(links)}}

    def template(self, message: Outbound) -> dict[str, Any]:
        """Outside the window: the step's approved template, or a permanent failure."""
        spec = message.step.options.get("whatsapp") or {}
        name = str(spec.get("template") or "").strip()
        if not name:
            raise DeliveryError(
                "outside the 24-hour window and the step names no WhatsApp template",
                permanent=True,
            )
        language = str(spec.get("language") or self.options.get("language") or "ru")
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if spec.get("with_text"):
            template["components"] = [{
                "type": "body",
                "parameters": [{"type": "text", "text": one_line(message.body)}],
            }]
        return {"type": "template", "template": template}

    def parse_response(self, response: httpx.Response, message: Outbound) -> str:
        answer = json_answer(response, "WhatsApp")
        sent = answer.get("messages")
        if response.is_success and isinstance(sent, list) and sent and sent[0].get("id"):
            return str(sent[0]["id"])
        error = _obj(answer.get("error"))
        code = _code(error.get("code"))
        data = error.get("error_data")
        details = data.get("details") if isinstance(data, dict) else ""
        text = f"WhatsApp {code}: {error.get('message') or 'no message id in the answer'}"
        raise error_for(code, f"{text} ({details})" if details else text)

    # --- webhooks ------------------------------------------------------------------
    def handle_webhook(self, request: HttpRequest) -> WebhookReply:
        if request.method == "GET":
            return self.verification(request)
        self.check_signature(request)
        data = json.loads(request.body)
        events: list[Event] = []
        for entry in data.get("entry") or []:
            for change in entry.get("changes") or []:
                value = change.get("value") or {}
                events.extend(self.status_events(value))
                events.extend(self.inbound_events(value))
        return WebhookReply(events, body="ok")

    def verification(self, request: HttpRequest) -> WebhookReply:
        """Meta's check of the address: echo hub.challenge if hub.verify_token is ours."""
        expected = str(self.secrets.get("verify_token") or self.options.get("verify_token") or "")
        token = request.GET.get("hub.verify_token", "")
        if (
            request.GET.get("hub.mode") != "subscribe"
            or not expected
            or not hmac.compare_digest(token.encode(), expected.encode())
        ):
            raise WebhookForbidden("WhatsApp verification with a wrong verify_token")
        return WebhookReply(body=request.GET.get("hub.challenge", ""))

    def check_signature(self, request: HttpRequest) -> None:
        secret = self.secrets.get("app_secret", "")
        given = request.headers.get("X-Hub-Signature-256", "")
        digest = hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
        if not secret or not hmac.compare_digest(given.encode(), f"sha256={digest}".encode()):
            raise WebhookForbidden("bad X-Hub-Signature-256")

    def status_events(self, value: dict[str, Any]) -> list[Event]:
        events: list[Event] = []
        for status in value.get("statuses") or []:
            mapped = self.STATUS_MAP.get(str(status.get("status")))
            if mapped is None or not status.get("id"):
                continue
            error, state = "", None
            if mapped == TouchStatus.FAILED:
                first = (status.get("errors") or [{}])[0]
                code = _code(first.get("code"))
                error = f"WhatsApp {code}: {first.get('title') or first.get('message') or ''}"
                state = error_for(code, error).address_state
            events.append(StatusEvent(str(status["id"]), mapped, error, state))
        return events

    def inbound_events(self, value: dict[str, Any]) -> list[Event]:
        names = {
            str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
            for c in value.get("contacts") or []
        }
        events: list[Event] = []
        for message in value.get("messages") or []:
            sender = str(message.get("from") or "")
            if not sender:
                continue
            text, payload = message_content(message)
            if names.get(sender):
                payload["name"] = names[sender]
            events.append(InboundEvent(
                phone(sender), text, str(message.get("id") or ""), payload,
                in_reply_to=str((message.get("context") or {}).get("id") or ""),
            ))
        return events


def message_content(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The text of an inbound message and what else it carries (a button's reply value)."""
    kind = str(message.get("type") or "")
    payload: dict[str, Any] = {"type": kind}
    if kind == "text":
        return str((message.get("text") or {}).get("body") or ""), payload
    if kind == "button":  # a quick-reply button of a template
        button = message.get("button") or {}
        payload["reply"] = str(button.get("payload") or "")
        return str(button.get("text") or ""), payload
    if kind == "interactive":  # a reply button or a list item of ours
        interactive = message.get("interactive") or {}
        choice = interactive.get(str(interactive.get("type") or "")) or {}
        payload["reply"] = str(choice.get("id") or "")
        return str(choice.get("title") or ""), payload
    media = _obj(message.get(kind))
    return str(media.get("caption") or ""), payload
