"""Emitting events: the outbox rows, written in the caller's transaction, and the payloads.

`emit(business_id, type, data)` writes the event and one delivery per subscription that
wants it, in the transaction of the change it reports (a rolled-back change sends
nothing), and queues the delivery task on commit. A business with no subscription for
the type costs a dictionary lookup: each process keeps the set of (business, event types)
subscribed and checks at most every KASATKA_WEBHOOKS["CACHE_SECONDS"] whether the
subscriptions changed (one aggregate query); the engine's batch asks once per batch
instead. The `on_…` functions are the one line each business action calls; they build
the payload only when someone listens.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max

from kasatka.engine.clock import now as clock_now

from .models import (
    TEST_EVENT,
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

_EMPTY: frozenset[str] = frozenset()


class _Subscribed:
    """Per process: business id → the event types some subscription of it wants."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._version: tuple[Any, ...] | None = None
        self._types: dict[int, frozenset[str]] = {}

    def types(self, business_id: int) -> frozenset[str]:
        if time.monotonic() - self._checked >= settings.KASATKA_WEBHOOKS["CACHE_SECONDS"]:
            self._refresh()
        return self._types.get(business_id, _EMPTY)

    def forget(self) -> None:
        with self._lock:
            self._checked = float("-inf")

    def _refresh(self) -> None:
        with self._lock:
            found = WebhookSubscription.objects.aggregate(n=Count("id"), at=Max("updated_at"))
            version = (found["n"], found["at"])
            if version != self._version:
                types: dict[int, set[str]] = {}
                for business_id, wanted in WebhookSubscription.objects.filter(
                    is_active=True
                ).values_list("business_id", "event_types"):
                    types.setdefault(business_id, set()).update(wanted)
                self._types = {b: frozenset(t) for b, t in types.items()}
                self._version = version
            self._checked = time.monotonic()


_subscribed = _Subscribed()


def wants(business_id: int, event_type: str) -> bool:
    """Whether any active subscription of the business takes this type (no query, mostly)."""
    return event_type in _subscribed.types(business_id)


def forget_subscriptions() -> None:
    """Read the subscriptions again on the next emit (after this process changed one)."""
    _subscribed.forget()


@dataclass(frozen=True, slots=True)
class Emitted:
    business_id: int
    type: str
    data: Mapping[str, Any]


def emit(business_id: int, event_type: str, data: Mapping[str, Any]) -> int:
    """Record one event for the business's subscribers; returns the deliveries written."""
    if not wants(business_id, event_type):
        return 0
    return emit_many([Emitted(business_id, event_type, data)])


def _subscribers(business_ids: Iterable[int]) -> list[WebhookSubscription]:
    return list(
        WebhookSubscription.objects.filter(business_id__in=set(business_ids), is_active=True)
        .only("id", "business_id", "event_types", "paused_at")
    )


def emit_many(
    events: Sequence[Emitted],
    only: WebhookSubscription | None = None,
    subscriptions: list[WebhookSubscription] | None = None,
) -> int:
    """Record a batch of events with one query for the subscribers and two bulk inserts.

    With `only`, the events go to that subscription alone (the test event); with
    `subscriptions`, to those already read."""
    if not events:
        return 0
    if only is not None:
        subscriptions = [only]
    elif subscriptions is None:
        subscriptions = _subscribers(e.business_id for e in events)
    by_business: dict[int, list[WebhookSubscription]] = {}
    for sub in subscriptions:
        by_business.setdefault(sub.business_id, []).append(sub)
    now = clock_now()
    give_up_at = now + retry_window()
    rows: list[WebhookEvent] = []
    receivers: list[list[WebhookSubscription]] = []
    for e in events:
        subs = [
            s for s in by_business.get(e.business_id, [])
            if only is not None or e.type in s.event_types
        ]
        if not subs:
            continue
        uid = f"msg_{uuid.uuid4().hex}"
        rows.append(WebhookEvent(
            business_id=e.business_id, uid=uid, type=e.type, created_at=now,
            body=envelope(uid, e.type, e.business_id, now, e.data),
        ))
        receivers.append(subs)
    if not rows:
        return 0
    with transaction.atomic():
        WebhookEvent.objects.bulk_create(rows)
        if any(r.pk is None for r in rows):  # (a database that returns no ids)
            pks = dict(WebhookEvent.objects.filter(
                uid__in=[r.uid for r in rows]
            ).values_list("uid", "pk"))
            for r in rows:
                r.pk = pks[r.uid]
        deliveries = [
            WebhookDelivery(
                business_id=event.business_id, subscription=sub, event=event,
                status=DeliveryStatus.HELD if sub.paused_at else DeliveryStatus.PENDING,
                next_attempt_at=None if sub.paused_at else now, give_up_at=give_up_at,
                created_at=now,
            )
            for event, subs in zip(rows, receivers, strict=True)
            for sub in subs
        ]
        WebhookDelivery.objects.bulk_create(deliveries)
    if any(d.status == DeliveryStatus.PENDING for d in deliveries):
        from .delivery import kick

        transaction.on_commit(kick)
    return len(deliveries)


def retry_window() -> timedelta:
    return timedelta(hours=settings.KASATKA_WEBHOOKS["RETRY_WINDOW_HOURS"])


def envelope(
    uid: str, event_type: str, business_id: int, at: datetime, data: Mapping[str, Any]
) -> str:
    """The body as sent: compact JSON, in UTF-8 (Cyrillic names stay readable)."""
    stamp = _iso(at)
    return json.dumps(
        {
            "id": uid, "type": event_type, "timestamp": stamp, "created_at": stamp,
            "business": business_id, "data": data,
        },
        ensure_ascii=False, separators=(",", ":"), default=_json_default,
    )


def _iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.isoformat().replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


# --- what each action calls ------------------------------------------------------------


def _when(business_id: int, event_type: str, build: Callable[[], Mapping[str, Any]]) -> None:
    if wants(business_id, event_type):
        emit_many([Emitted(business_id, event_type, build())])


def contact_data(contact: Any, addresses: Iterable[Any] | None = None) -> dict[str, Any]:
    """A contact's fields for a payload; its addresses read unless given."""
    from kasatka.contacts.models import Address, AddressKind

    if addresses is None:
        addresses = Address.objects.filter(contact_id=contact.pk).order_by("-is_primary", "id")
    listed = list(addresses)
    return {
        "id": contact.pk,
        "name": contact.full_name,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "patronymic": contact.patronymic,
        "company": contact.company,
        "stage": contact.stage,
        "owner": contact.owner_id,
        "source": contact.source_id,
        "phones": [a.value for a in listed if a.kind == AddressKind.PHONE],
        "emails": [a.value for a in listed if a.kind == AddressKind.EMAIL],
        "created_at": contact.created_at,
    }


def on_contact_created(contact: Any, addresses: Iterable[Any] | None = None) -> None:
    _when(contact.business_id, EventType.CONTACT_CREATED,
          lambda: {"contact": contact_data(contact, addresses)})


def on_visit_recorded(visit: Any) -> None:
    def build() -> dict[str, Any]:
        return {
            "visit": {
                "id": visit.pk, "occurred_at": visit.occurred_at, "bought": visit.bought,
                "contacts_taken": visit.contacts_taken, "visit_type": visit.visit_type,
                "amount": visit.amount, "seller": visit.seller_id,
                "loss_reason": visit.loss_reason.name if visit.loss_reason_id else None,
                "note": visit.note,
            },
            "contact": contact_data(visit.contact) if visit.contact_id else None,
        }

    _when(visit.business_id, EventType.VISIT_RECORDED, build)


def on_consent_changed(consent: Any) -> None:
    _when(consent.business_id, EventType.CONSENT_CHANGED, lambda: {
        "consent": {
            "id": consent.pk, "channel": consent.channel, "purpose": consent.purpose,
            "status": consent.status, "basis": consent.basis, "source": consent.source,
            "recorded_at": consent.recorded_at,
        },
        "contact": {"id": consent.contact_id},
    })


def on_deal_stage_changed(
    deal: Any, to_stage: Any, status: str, at: datetime, reason: str
) -> None:
    def build() -> dict[str, Any]:
        before = deal.stage if deal.stage_id else None
        return {
            "deal": {
                "id": deal.pk, "title": deal.title, "amount": deal.amount,
                "pipeline": deal.pipeline_id, "seller": deal.seller_id,
                "contact": deal.contact_id,
            },
            "from_stage": {"id": before.pk, "name": before.name} if before else None,
            "to_stage": {"id": to_stage.pk, "name": to_stage.name},
            "status": status, "at": at, "reason": reason,
        }

    _when(deal.business_id, EventType.DEAL_STAGE_CHANGED, build)


def on_reply_received(message: Any) -> None:
    _when(message.business_id, EventType.REPLY_RECEIVED, lambda: {
        "reply": {
            "id": message.pk, "channel": message.channel, "sender": message.sender,
            "text": message.text, "received_at": message.received_at,
            "touch": message.touch_id,
        },
        "contact": contact_data(message.contact) if message.contact_id else None,
    })


# Touch statuses the engine and the providers' status webhooks report.
_TOUCH_EVENTS: dict[str, str] = {
    "sent": EventType.TOUCH_SENT,
    "delivered": EventType.TOUCH_DELIVERED,
    "failed": EventType.TOUCH_FAILED,
    "bounced": EventType.TOUCH_FAILED,
}


def _touch_data(touch: Any, status: str, contact: Any, error: str) -> dict[str, Any]:
    return {
        "touch": {
            "id": touch.pk, "channel": touch.channel, "status": status, "to": touch.to,
            "enrollment": touch.enrollment_id, "step": touch.step_id,
            "is_commercial": touch.is_commercial, "attempts": touch.attempts,
            "error": error,
        },
        "contact": {
            "id": contact.id,
            # The engine's contact is its own light row, not a Contact: no full_name.
            "name": " ".join(
                p for p in (contact.last_name, contact.first_name, contact.patronymic) if p
            ),
        },
    }


def on_touch_results(plans: Sequence[Any], changes: Mapping[int, Mapping[str, Any]]) -> None:
    """The engine's batch: one call and one indexed query for the batch's subscribers,
    whatever its size; nothing written when nobody listens.

    One query per batch rather than the per-process cache: a constant, always fresh
    cost, where the cache's refresh would land in one batch in a thousand.
    `plans` are the worker's plans (touch row and enrollment with its contact row);
    `changes` the touch changes of the batch by touch id."""
    results = [
        (plan, event_type)
        for plan in plans
        if plan.touch is not None and plan.touch.pk in changes
        and (event_type := _TOUCH_EVENTS.get(changes[plan.touch.pk].get("status", "")))
    ]
    if not results:
        return
    subscriptions = _subscribers({plan.touch.business_id for plan, _ in results})
    wanted = {(s.business_id, t) for s in subscriptions for t in s.event_types}
    events: list[Emitted] = []
    for plan, event_type in results:
        touch = plan.touch
        if (touch.business_id, event_type) not in wanted:
            continue
        change = changes[touch.pk]
        events.append(Emitted(touch.business_id, event_type, _touch_data(
            touch, change["status"], plan.enrollment.contact, change.get("error", "")
        )))
    emit_many(events, subscriptions=subscriptions)


def on_touch_status(touch_id: int, business_id: int, status: str, error: str = "") -> None:
    """A provider's status webhook moved a touch (delivered, failed, bounced)."""
    event_type = _TOUCH_EVENTS.get(status)
    if event_type is None or not wants(business_id, event_type):
        return
    from kasatka.chains.models import Touch

    touch = Touch.objects.select_related("contact").get(pk=touch_id)
    emit_many([Emitted(business_id, event_type, _touch_data(
        touch, status, touch.contact, error or touch.error
    ))])


def test_event(subscription: WebhookSubscription) -> int:
    return emit_many(
        [Emitted(subscription.business_id, TEST_EVENT, {"subscription": subscription.pk})],
        only=subscription,
    )
