"""What webhooks bring in, applied: delivery statuses, replies, STOP, blocked addresses.

Channels only read their provider's format into events (base.StatusEvent, InboundEvent,
AddressEvent, BindEvent); what those mean for touches, consent and chains is decided
here, once, for every channel.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from kasatka.chains.actions import end_enrollments
from kasatka.chains.models import Enrollment, Touch, TouchStatus
from kasatka.contacts import suppression
from kasatka.contacts.actions import (
    normalise_phone,
    record_consent,
    set_address_state,
    withdraw_consent,
)
from kasatka.contacts.models import (
    CHANNEL_ADDRESS_KIND,
    Address,
    AddressKind,
    AddressState,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
)
from kasatka.engine.clock import now as clock_now
from kasatka.webhooks import events as webhooks

from .base import AddressEvent, BindEvent, Event, InboundEvent, StatusEvent
from .binding import read_bind_token
from .models import InboundMessage, ProviderAccount

log = logging.getLogger("kasatka.channels")

# A status moves a touch forward only: a late "sent" never hides a "delivered".
_RANK: dict[str, int] = {
    TouchStatus.QUEUED: 0, TouchStatus.SENDING: 0, TouchStatus.DEFERRED: 0,
    TouchStatus.UNKNOWN: 0, TouchStatus.SENT: 1, TouchStatus.FAILED: 2, TouchStatus.BOUNCED: 2,
    TouchStatus.DELIVERED: 3, TouchStatus.OPENED: 4, TouchStatus.REPLIED: 5,
    TouchStatus.COMPLAINED: 6, TouchStatus.UNSUBSCRIBED: 6,
}
# A reply is linked to the last touch sent on its channel within this time.
REPLY_WINDOW = timedelta(days=30)


def is_stop_word(text: str) -> bool:
    word = re.sub(r"[^\w/]+", " ", text.casefold()).strip()
    return word in {w.casefold() for w in settings.KASATKA_STOP_WORDS}


def address_value(account: ProviderAccount, raw: str) -> str:
    """A provider's spelling of an address in ours (phones in E.164)."""
    if CHANNEL_ADDRESS_KIND[account.channel] == AddressKind.PHONE:
        try:
            return normalise_phone(raw if raw.startswith("+") else f"+{raw}")
        except ValidationError:
            return raw
    return raw.strip()


def apply_events(account: ProviderAccount, events: list[Event]) -> list[str]:
    """Apply a webhook's events; returns what came of each, for logs and replies."""
    outcomes = []
    for event in events:
        if isinstance(event, StatusEvent):
            outcomes.append(apply_status(account, event))
        elif isinstance(event, InboundEvent):
            outcomes.append(apply_inbound(account, event))
        elif isinstance(event, AddressEvent):
            outcomes.append(apply_address(account, event))
        else:
            outcomes.append(apply_bind(account, event))
    return outcomes


def apply_status(account: ProviderAccount, event: StatusEvent) -> str:
    touch = (
        Touch.objects.filter(
            business_id=account.business_id,
            channel=account.channel,
            provider_message_id=event.provider_message_id,
        )
        .only("id", "status", "address_id")
        .first()
    )
    if touch is None:
        return "unknown message"
    if _RANK.get(event.status, 0) <= _RANK.get(touch.status, 0):
        return "not newer"
    now = clock_now()
    with transaction.atomic():
        fields = {"status": event.status, "updated_at": now}
        if event.error:
            fields["error"] = event.error
        Touch.objects.filter(pk=touch.pk).update(**fields)
        webhooks.on_touch_status(touch.pk, account.business_id, event.status, event.error)
        if event.address_state and touch.address_id is not None:
            set_address_state([touch.address_id], event.address_state, event.error, now)
        if event.status == TouchStatus.COMPLAINED and touch.address_id is not None:
            suppression.on_complaint(touch.address_id, event.error or "marked as spam", now)
    return event.status


def _addresses(account: ProviderAccount, raw: str) -> list[Address]:
    return list(
        Address.objects.filter(
            business_id=account.business_id,
            kind=CHANNEL_ADDRESS_KIND[account.channel],
            value=address_value(account, raw),
        ).select_related("contact")
    )


def apply_inbound(account: ProviderAccount, event: InboundEvent) -> str:
    now = clock_now()
    sender = address_value(account, event.sender)
    addresses = _addresses(account, event.sender)
    # A number shared by two contacts: the reply goes on the most recent one's card.
    address = max(addresses, key=lambda a: a.pk) if addresses else None
    contact = address.contact if address is not None else None
    touch = _replied_touch(account, event, contact, now)
    try:
        with transaction.atomic():
            message = InboundMessage.objects.create(
                business_id=account.business_id, contact=contact, address=address,
                channel=account.channel, sender=sender, text=event.text,
                payload=event.payload, provider_message_id=event.provider_message_id,
                touch=touch, received_at=now,
            )
            webhooks.on_reply_received(message)
    except IntegrityError:
        return "duplicate"  # the provider repeated its webhook
    if contact is None:
        log.info("inbound %s message from unknown %s kept", account.channel, sender)
        return "unknown sender"
    if is_stop_word(event.text):
        withdraw_consent(
            contact, account.channel, ConsentBasis.REPLY,
            f"{account.channel} reply: {event.text[:100]}", list(Purpose.values),
        )
        if touch is not None:
            Touch.objects.filter(pk=touch.pk).update(
                status=TouchStatus.UNSUBSCRIBED, updated_at=now
            )
        return "stopped"
    if touch is not None and _RANK[TouchStatus.REPLIED] > _RANK.get(touch.status, 0):
        Touch.objects.filter(pk=touch.pk).update(status=TouchStatus.REPLIED, updated_at=now)
    end_enrollments(
        Enrollment.objects.filter(contact=contact, chain__exit_on_reply=True), "replied", now
    )
    return _answer_to_deal(message) or "replied"


def _answer_to_deal(message: InboundMessage) -> str:
    """A reply to a nudge moves its deal (kasatka.deals.replies)."""
    from kasatka.deals.replies import on_inbound

    try:
        with transaction.atomic():
            reply = on_inbound(message)
    except Exception:
        # The message is kept and on the contact's card; the seller sees it there.
        log.exception("reply %s could not be applied to a deal", message.pk)
        return ""
    return f"replied: {reply.answer}" if reply is not None else ""


def _replied_touch(
    account: ProviderAccount, event: InboundEvent, contact: Contact | None, now: datetime
) -> Touch | None:
    touches = Touch.objects.filter(business_id=account.business_id, channel=account.channel)
    if event.in_reply_to:
        if CHANNEL_ADDRESS_KIND[account.channel] == AddressKind.EMAIL:
            # Imported here: the e-mail channel's own reading of its Message-IDs.
            from kasatka.channels.email.inbound import key_for_message_id

            # E-mail touches keep no provider id: their Message-ID is message_id_for(key).
            # Anyone may write any Message-ID into a mail's headers, so a known sender's
            # reply links only to a touch of their own.
            key = key_for_message_id(event.in_reply_to)
            replied = touches.filter(idempotency_key=key) if key else touches.none()
            if contact is not None:
                replied = replied.filter(contact=contact)
        else:
            replied = touches.filter(provider_message_id=event.in_reply_to)
        touch = replied.first()
        if touch is not None:
            return touch
    if contact is None:
        return None
    return (
        touches.filter(contact=contact, sent_at__gte=now - REPLY_WINDOW)
        .order_by("-sent_at", "-id")
        .first()
    )


def apply_address(account: ProviderAccount, event: AddressEvent) -> str:
    addresses = _addresses(account, event.address)
    if not addresses:
        return "unknown address"
    set_address_state([a.pk for a in addresses], event.state, event.reason)
    return event.state


def apply_bind(account: ProviderAccount, event: BindEvent) -> str:
    """A signed link binds the chat to its contact, with consent to be written to there."""
    try:
        contact_id = read_bind_token(event.token, account.business_id)
    except signing.BadSignature:
        return "refused"
    contact = Contact.objects.filter(pk=contact_id, business_id=account.business_id).first()
    if contact is None:
        return "refused"
    kind = CHANNEL_ADDRESS_KIND[account.channel]
    now = clock_now()
    with transaction.atomic():
        address, created = Address.objects.get_or_create(
            business_id=account.business_id, contact=contact, kind=kind, value=event.address,
            defaults={"state": AddressState.ACTIVE, "state_changed_at": now},
        )
        if not created and address.state != AddressState.ACTIVE:
            set_address_state([address.pk], AddressState.ACTIVE, "bound again by the contact")
        # The chat proved it works and wants us: a bounce or block on it no longer holds.
        suppression.lift_proven(account.business_id, kind, event.address,
                                "bound again by the contact", now)
        # Coming to the bot through the business's own link is asking to hear from it.
        for purpose in Purpose.values:
            record_consent(
                contact, account.channel, purpose, ConsentStatus.GRANTED,
                ConsentBasis.MESSENGER, f"{account.channel} link", now,
            )
    return "bound"
