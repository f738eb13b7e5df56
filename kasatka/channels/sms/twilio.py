"""Twilio Programmable Messaging: send with the Messages resource, statuses and replies by webhook.

Sending: POST /2010-04-01/Accounts/{AccountSid}/Messages.json with HTTP Basic auth
(Account SID : Auth Token) and the form fields To, From (or MessagingServiceSid), Body
and StatusCallback — our webhook address, so each message reports back without any
setting in Twilio's console. A 201 answer carries the message's "sid"; an error is
{"code", "message", "status"}. Twilio does not dedupe message creation by any key of
ours, so an interrupted send is "unknown", never repeated blindly.

Webhooks (status callbacks and, when the number's "A message comes in" address is set
to ours, incoming messages) are signed: X-Twilio-Signature is the base64 HMAC-SHA1,
keyed with the Auth Token, of the full address Twilio called followed by every POST
parameter's name and value, sorted by name
(https://www.twilio.com/docs/usage/webhooks/webhooks-security).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from typing import Any, ClassVar

import httpx
from django.http import HttpRequest

from kasatka.chains.models import TouchStatus
from kasatka.channels.base import (
    DeliveryError,
    Event,
    InboundEvent,
    Outbound,
    StatusEvent,
    WebhookForbidden,
    WebhookReply,
)
from kasatka.channels.http import HttpChannel, json_answer
from kasatka.contacts.models import AddressKind, AddressState

# MessageStatus of status callbacks (https://www.twilio.com/docs/messaging/api/message-resource).
STATUS_MAP: dict[str, str] = {
    "accepted": TouchStatus.SENT,
    "scheduled": TouchStatus.SENT,
    "queued": TouchStatus.SENT,
    "sending": TouchStatus.SENT,
    "sent": TouchStatus.SENT,
    "delivered": TouchStatus.DELIVERED,
    "read": TouchStatus.OPENED,
    "undelivered": TouchStatus.FAILED,
    "failed": TouchStatus.FAILED,
    "canceled": TouchStatus.FAILED,
}
# Error codes about the number itself (https://www.twilio.com/docs/api/errors):
# invalid To, not a mobile number, unknown handset, landline or unreachable carrier.
BOUNCE_CODES = {"21211", "21614", "30005", "30006"}
# The recipient replied STOP to this sender: Twilio refuses to write to them.
BLOCKED_CODES = {"21610"}
# Our side: authentication, unknown account, a From that is not ours, a region not enabled.
ACCOUNT_CODES = {"20003", "20404", "21606", "21408", "21212", "21659"}
# Too many requests or a queue full.
TRANSIENT_CODES = {"20429", "30001"}

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def signature(auth_token: str, url: str, params: Iterable[tuple[str, list[str]]]) -> str:
    """Twilio's X-Twilio-Signature for a request to `url` with these POST parameters."""
    payload = url
    for name, values in sorted(params, key=lambda item: item[0]):
        for value in sorted(values):
            payload += name + value
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TwilioChannel(HttpChannel):
    code = "sms"
    provider = "twilio"
    address_kind = AddressKind.PHONE
    API_URL = "https://api.twilio.com"
    STATUS_MAP: ClassVar[dict[str, str]] = STATUS_MAP

    def hook_url(self) -> str:
        """The address Twilio calls us on; it signs exactly this, so we check against it."""
        from kasatka.channels.views import hook_url  # views imports the registry

        assert self.account is not None
        return hook_url(self.account)

    def build_request(self, message: Outbound) -> httpx.Request:
        sid = self.secrets.get("account_sid", "")
        data = {"To": message.address.value, "Body": message.body}
        if self.options.get("messaging_service_sid"):
            data["MessagingServiceSid"] = str(self.options["messaging_service_sid"])
        else:
            data["From"] = str(self.options.get("from", ""))
        if self.account is not None and self.account.pk is not None:
            data["StatusCallback"] = self.hook_url()
        credentials = f"{sid}:{self.secrets.get('auth_token', '')}".encode()
        return httpx.Request(
            "POST",
            f"{self.api_url}/2010-04-01/Accounts/{sid}/Messages.json",
            data=data,
            headers={"Authorization": "Basic " + base64.b64encode(credentials).decode()},
        )

    def parse_response(self, response: httpx.Response, message: Outbound) -> str:
        answer: Any = json_answer(response, "Twilio")
        if response.status_code in (200, 201) and answer.get("sid"):
            return str(answer["sid"])
        code = str(answer.get("code") or "")
        text = f"Twilio {code or response.status_code}: {answer.get('message') or 'error'}"
        if code in BOUNCE_CODES:
            raise DeliveryError(text, permanent=True, address_state=AddressState.BOUNCED)
        if code in BLOCKED_CODES:
            raise DeliveryError(text, permanent=True, address_state=AddressState.BLOCKED)
        if code in TRANSIENT_CODES:
            raise DeliveryError(text)
        # Any other refusal of the request (4xx) will be refused again.
        permanent = code in ACCOUNT_CODES or 400 <= response.status_code < 500
        raise DeliveryError(text, permanent=permanent)

    def verify(self, request: HttpRequest) -> None:
        """Raise WebhookForbidden unless Twilio signed this request with our Auth Token."""
        token = self.secrets.get("auth_token", "")
        given = request.headers.get("X-Twilio-Signature", "")
        if not token or not given:
            raise WebhookForbidden("Twilio: no signature")
        url = self.hook_url()
        if request.META.get("QUERY_STRING"):
            url += "?" + request.META["QUERY_STRING"]
        expected = signature(token, url, request.POST.lists())
        if not hmac.compare_digest(expected.encode(), given.encode()):
            raise WebhookForbidden("Twilio: bad signature")

    def handle_webhook(self, request: HttpRequest) -> WebhookReply:
        self.verify(request)
        event = self.read_webhook({name: request.POST.get(name, "") for name in request.POST})
        # Twilio reads TwiML back from a "message comes in" webhook: an empty one
        # sends no automatic reply.
        return WebhookReply(
            [event] if event is not None else [], body=EMPTY_TWIML, content_type="text/xml"
        )

    def read_webhook(self, fields: dict[str, str]) -> Event | None:
        """A status callback (MessageStatus) or an incoming message (Body) as an event."""
        status_name = fields.get("MessageStatus") or fields.get("SmsStatus") or ""
        if "Body" in fields and status_name in ("", "received", "receiving"):
            return InboundEvent(
                sender=fields.get("From", ""),
                text=fields["Body"],
                provider_message_id=fields.get("MessageSid") or fields.get("SmsSid", ""),
                payload={"to": fields.get("To", ""), "opt_out": fields.get("OptOutType", "")},
            )
        status = self.STATUS_MAP.get(status_name)
        sid = fields.get("MessageSid") or fields.get("SmsSid") or ""
        if status is None or not sid:
            return None
        code = fields.get("ErrorCode", "").strip()
        state = None
        if code in BOUNCE_CODES:
            status, state = TouchStatus.BOUNCED, AddressState.BOUNCED
        elif code in BLOCKED_CODES:
            state = AddressState.BLOCKED
        error = ""
        if status in (TouchStatus.FAILED, TouchStatus.BOUNCED):
            error = f"Twilio {status_name}" + (f", error {code}" if code else "")
        return StatusEvent(sid, status, error, state)
