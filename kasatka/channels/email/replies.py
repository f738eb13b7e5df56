"""E-mail accounts that take replies in: the `inbound` provider (raw MIME on the webhook).

An e-mail ProviderAccount changes nothing in how mail is sent (Django's SMTP backend, as
without an account); it only opens ways for replies to come back. Every way in — the
webhook, IMAP polling (imap.py), the SMTP receiver (smtpd.py) — hands the raw message
to `reply_events`, and its events to `kasatka.channels.inbound.apply_events`.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest

from kasatka.channels.base import Event, InboundEvent, WebhookReply
from kasatka.channels.email.channel import EmailChannel
from kasatka.channels.email.inbound import read_message, reply_event, why_not_a_reply
from kasatka.channels.models import ProviderAccount
from kasatka.contacts.models import Address, AddressKind

log = logging.getLogger("kasatka.channels")

# What is read of one message; the reply's text comes first, attachments after it.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
_FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def take_reply(account: ProviderAccount, raw: bytes) -> tuple[InboundEvent | None, str]:
    """The reply in one raw message; or None and why it is none (auto-reply, bounce…)."""
    message = read_message(raw)
    reason = why_not_a_reply(message)
    if reason:
        log.info("e-mail for account %s not taken as a reply: %s", account.pk, reason)
        return None, reason
    event = reply_event(message, raw)
    event.sender = _stored_spelling(account.business_id, event.sender)
    return event, ""


def reply_events(account: ProviderAccount, raw: bytes) -> list[Event]:
    """The events of one raw message, for `apply_events`: its reply, or none."""
    event, _reason = take_reply(account, raw)
    return [event] if event is not None else []


def _stored_spelling(business_id: int, sender: str) -> str:
    """The sender as the contact's address is stored: "Anna.Ivanova@…" answers as "anna.ivanova@…"
    from many clients, and mailboxes do not tell such spellings apart."""
    addresses = Address.objects.filter(business_id=business_id, kind=AddressKind.EMAIL)
    if addresses.filter(value=sender).exists():
        return sender
    stored = (
        addresses.filter(value__iexact=sender).order_by("-pk").values_list("value", flat=True)
        .first()
    )
    return stored or sender


def raw_message(request: HttpRequest) -> bytes:
    """The message a webhook carries: the body itself (message/rfc822, as Postfix piping
    to curl sends it), or the field "message" of a form (Cloudmailin's raw format)."""
    if request.content_type in _FORMS:
        upload = request.FILES.get("message")
        if upload is not None:
            return bytes(upload.read(MAX_MESSAGE_BYTES))
        field = request.POST.get("message", "")
        if not field:
            raise ValueError('the form has no "message" field')
        return field.encode("utf-8")
    raw = request.read(MAX_MESSAGE_BYTES)
    if not raw.strip():
        raise ValueError("the request carries no message")
    return raw


class InboundEmailChannel(EmailChannel):
    """Sends as the e-mail channel does; replies come as raw MIME to the webhook, whose
    key in the address is the credential (a mail server signs nothing)."""

    provider = "inbound"

    def handle_webhook(self, request: HttpRequest) -> WebhookReply:
        assert self.account is not None, "webhooks come for an account"
        event, reason = take_reply(self.account, raw_message(request))
        if event is None:
            return WebhookReply([], body=f"ignored: {reason}")
        return WebhookReply([event])

    def respond(self, reply: WebhookReply, outcomes: list[str]) -> WebhookReply:
        if outcomes:
            reply.body = ", ".join(outcomes)  # "replied", "duplicate": for the relay's log
        return reply
