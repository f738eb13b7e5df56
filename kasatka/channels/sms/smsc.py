"""SMSC.ru (https://smsc.ru/api/http/): send with /sys/send.php, statuses and replies by callback.

Sending: POST https://smsc.ru/sys/send.php with login and psw (or apikey), phones, mes,
sender, fmt=3 (a JSON answer) and charset=utf-8. We pass our idempotency key as the
message `id` (SMSC allows up to 40 characters of letters, digits and ".-_"), so its
statuses come back under our own key. SMSC documents that id as "not necessarily
unique" — it does not refuse a second message with the same id — so a send whose
answer was lost is not safe to repeat: the channel is not `idempotent`.

The answer is {"id": …, "cnt": …} or {"error": …, "error_code": N}.

Callbacks: SMSC calls the handler address set in the account's settings for each
delivery status (id, phone, status, err…) and each incoming SMS (phone, mes, sms_id…).
SMSC can add a checksum (its md5/sha1/crc32 option), but the secret for it is written
into that same handler address, next to our own key; our key in the address is the
credential. The parameters come in windows-1251 unless the address asks for
?charset=utf-8.
"""

from __future__ import annotations

import codecs
import json
from typing import Any, ClassVar

import httpx
from django.http import HttpRequest, QueryDict

from kasatka.chains.models import TouchStatus
from kasatka.channels.base import (
    DeliveryError,
    Event,
    InboundEvent,
    Outbound,
    StatusEvent,
    WebhookReply,
)
from kasatka.channels.http import HttpChannel, json_answer
from kasatka.contacts.models import AddressKind, AddressState

# Delivery statuses (https://smsc.ru/api/http/status_messages/statuses/).
STATUS_MAP: dict[str, str] = {
    "-1": TouchStatus.SENT,  # waiting to be sent
    "0": TouchStatus.SENT,  # handed to the operator
    "1": TouchStatus.DELIVERED,
    "2": TouchStatus.OPENED,  # read
    "4": TouchStatus.OPENED,  # the link in it was followed
    "-2": TouchStatus.FAILED,  # stopped
    "3": TouchStatus.FAILED,  # expired
    "20": TouchStatus.FAILED,  # impossible to deliver
    "22": TouchStatus.BOUNCED,  # wrong number
    "23": TouchStatus.FAILED,  # prohibited
    "24": TouchStatus.FAILED,  # not enough money
    "25": TouchStatus.FAILED,  # number not reachable by SMS (or no route to it)
}
# "err" in a failed status that means the number itself is dead: the subscriber
# does not exist.
BAD_NUMBER_STATUS_ERRORS = {"1"}

# Send errors (fmt=3 "error_code"): wrong phone format; cannot be delivered to it.
BAD_NUMBER_CODES = {7, 8}
# Parameters, login/password, balance, date format, forbidden text or sender name:
# our side, nothing a retry or another number changes.
ACCOUNT_CODES = {1, 2, 3, 5, 6}
# Too many (or repeated) requests within a minute; IP briefly blocked for errors.
TRANSIENT_CODES = {4, 9}
ERROR_WAIT_SECONDS = 60.0  # SMSC counts repeated requests per minute


class SmscChannel(HttpChannel):
    code = "sms"
    provider = "smsc"
    address_kind = AddressKind.PHONE
    API_URL = "https://smsc.ru"
    STATUS_MAP: ClassVar[dict[str, str]] = STATUS_MAP

    def credentials(self) -> dict[str, str]:
        """login + psw, or an API key (SMSC's simpler alternative)."""
        secrets = self.secrets
        if secrets.get("apikey"):
            return {"apikey": secrets["apikey"]}
        return {"login": secrets.get("login", ""), "psw": secrets.get("password", "")}

    def build_request(self, message: Outbound) -> httpx.Request:
        data = {
            **self.credentials(),
            # With the "+", SMSC sends to the number as is instead of "correcting" it.
            "phones": message.address.value,
            "mes": message.body,
            "id": message.idempotency_key,
            "fmt": "3",
            "charset": "utf-8",
        }
        if self.options.get("sender"):
            data["sender"] = str(self.options["sender"])
        return httpx.Request("POST", f"{self.api_url}/sys/send.php", data=data)

    def parse_response(self, response: httpx.Response, message: Outbound) -> str:
        answer: Any = json_answer(response, "SMSC")
        if "error_code" in answer or "error" in answer:
            raise _send_error(answer)
        if answer.get("id") in (None, ""):
            raise DeliveryError(f"SMSC: answer without id {str(answer)[:100]!r}")
        return str(answer["id"])

    def handle_webhook(self, request: HttpRequest) -> WebhookReply:
        events: list[Event] = []
        for fields in _callback_fields(request):
            event = self.read_callback(fields)
            if event is not None:
                events.append(event)
        return WebhookReply(events, body="OK")

    def read_callback(self, fields: dict[str, str]) -> Event | None:
        """One callback's parameters as an event: an incoming SMS or a delivery status."""
        # An incoming SMS carries its text (and its own sms_id); a status, the status.
        if "mes" in fields and ("sms_id" in fields or "status" not in fields):
            return InboundEvent(
                sender=fields.get("phone", ""),
                text=fields["mes"],
                provider_message_id=fields.get("sms_id") or fields.get("id", ""),
                payload={"to": fields.get("to", "")},
            )
        code = fields.get("status", "").strip()
        status = self.STATUS_MAP.get(code)
        if status is None or not fields.get("id"):
            return None
        err = fields.get("err", "").strip()
        if status == TouchStatus.FAILED and err in BAD_NUMBER_STATUS_ERRORS:
            status = TouchStatus.BOUNCED
        error = ""
        if status in (TouchStatus.FAILED, TouchStatus.BOUNCED):
            error = f"SMSC status {code}" + (f", error {err}" if err not in ("", "0") else "")
        state = AddressState.BOUNCED if status == TouchStatus.BOUNCED else None
        return StatusEvent(fields["id"].strip(), status, error, state)


def _send_error(answer: dict[str, Any]) -> DeliveryError:
    try:
        code = int(answer.get("error_code") or 0)
    except (TypeError, ValueError):
        code = 0
    text = f"SMSC {code}: {answer.get('error') or 'error'}"
    if code in BAD_NUMBER_CODES:
        return DeliveryError(text, permanent=True, address_state=AddressState.BOUNCED)
    if code in TRANSIENT_CODES:
        return DeliveryError(text, retry_after=ERROR_WAIT_SECONDS)
    return DeliveryError(text, permanent=code in ACCOUNT_CODES)


def _callback_fields(request: HttpRequest) -> list[dict[str, str]]:
    """The callback's parameters, decoded in the charset SMSC used.

    SMSC sends windows-1251 unless the handler address says ?charset=…; fmt=3 in the
    address makes it send JSON instead of a form.
    """
    declared = (request.content_params or {}).get("charset")
    encoding = request.GET.get("charset") or declared or "windows-1251"
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise ValueError(f"unknown charset {encoding!r}") from exc
    if request.content_type == "application/json":
        data = json.loads(request.body.decode(encoding))
        items = data if isinstance(data, list) else [data]
        return [
            {str(k): str(v) for k, v in item.items()} for item in items if isinstance(item, dict)
        ]
    form = QueryDict(request.body, encoding=encoding)
    return [{name: form.get(name, "") for name in form}]
