"""SMS.ru (https://sms.ru/api): send with /sms/send, statuses by callback.

Sending: POST https://sms.ru/sms/send with api_id, to, msg, json=1 (and from, the
sender name, if the account sets one). The answer is JSON: the request's own status,
then one entry per number with its status_code and sms_id.

Callbacks: POST with fields data[0], data[1]…, each "sms_status\\n<sms_id>\\n<code>";
SMS.ru signs nothing, so the secret key in our webhook address is the credential. It
expects "100" back.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from django.http import HttpRequest

from kasatka.chains.models import TouchStatus
from kasatka.channels.base import (
    DeliveryError,
    Event,
    Outbound,
    StatusEvent,
    WebhookReply,
)
from kasatka.channels.http import HttpChannel, json_answer
from kasatka.contacts.models import AddressKind, AddressState

# Per-number codes (https://sms.ru/api/status): delivery statuses of a message.
STATUS_MAP: dict[str, str] = {
    "100": TouchStatus.SENT,  # in our queue
    "101": TouchStatus.SENT,  # being handed to the operator
    "102": TouchStatus.SENT,  # sent, on its way
    "103": TouchStatus.DELIVERED,
    "104": TouchStatus.FAILED,  # expired
    "105": TouchStatus.FAILED,  # deleted by the operator
    "106": TouchStatus.FAILED,  # phone failure
    "107": TouchStatus.FAILED,  # unknown reason
    "108": TouchStatus.FAILED,  # rejected
    "110": TouchStatus.OPENED,  # read (messages sent through Viber)
    "150": TouchStatus.BOUNCED,  # no route to this number
}
# Send errors that are about the number itself: the address is suppressed.
BAD_NUMBER_CODES = {"202", "207", "230", "231", "232"}
# Errors on our side (key, balance, sender name): nothing the number can change.
ACCOUNT_CODES = {"200", "201", "204", "300", "301", "302"}
# Limits and overload: try again later.
TRANSIENT_CODES = {"220", "233", "500", "901"}


class SmsRuChannel(HttpChannel):
    code = "sms"
    provider = "smsru"
    address_kind = AddressKind.PHONE
    API_URL = "https://sms.ru"
    STATUS_MAP: ClassVar[dict[str, str]] = STATUS_MAP

    def build_request(self, message: Outbound) -> httpx.Request:
        data = {
            "api_id": self.secrets.get("api_id", ""),
            "to": message.address.value.lstrip("+"),
            "msg": message.body,
            "json": "1",
        }
        if self.options.get("sender"):
            data["from"] = str(self.options["sender"])
        return httpx.Request("POST", f"{self.api_url}/sms/send", data=data)

    def parse_response(self, response: httpx.Response, message: Outbound) -> str:
        answer: dict[str, Any] = json_answer(response, "SMS.ru")
        number = message.address.value.lstrip("+")
        entry = (answer.get("sms") or {}).get(number) or answer
        code = str(entry.get("status_code", ""))
        if entry.get("status") == "OK" and entry.get("sms_id"):
            return str(entry["sms_id"])
        text = f"SMS.ru {code}: {entry.get('status_text') or answer.get('status_text') or ''}"
        if code in BAD_NUMBER_CODES:
            raise DeliveryError(text, permanent=True, address_state=AddressState.BOUNCED)
        if code in TRANSIENT_CODES:
            raise DeliveryError(text)
        raise DeliveryError(text, permanent=code in ACCOUNT_CODES or not code)

    def handle_webhook(self, request: HttpRequest) -> WebhookReply:
        events: list[Event] = []
        for name, value in request.POST.items():
            if not name.startswith("data["):
                continue
            lines = str(value).splitlines()
            if len(lines) >= 3 and lines[0] == "sms_status":
                sms_id, code = lines[1].strip(), lines[2].strip()
                status = self.STATUS_MAP.get(code)
                if status is not None:
                    error = "" if status != TouchStatus.FAILED else f"SMS.ru status {code}"
                    events.append(StatusEvent(
                        sms_id, status, error,
                        AddressState.BOUNCED if status == TouchStatus.BOUNCED else None,
                    ))
        return WebhookReply(events, body="100")
