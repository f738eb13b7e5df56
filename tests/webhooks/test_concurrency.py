"""Sweeps running at once in several threads (own connections, real transactions) send
each delivery once; on PostgreSQL with SKIP LOCKED, on SQLite behind BEGIN IMMEDIATE."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from kasatka.contacts.actions import create_contact
from kasatka.webhooks import actions
from kasatka.webhooks.delivery import deliver_due
from kasatka.webhooks.models import DeliveryStatus, EventType, WebhookDelivery, WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = 40
SWEEPS = 4


def test_concurrent_sweeps_deliver_each_event_once(shop, owner, clock, receiver, settings):
    settings.KASATKA_WEBHOOKS = {**settings.KASATKA_WEBHOOKS, "BATCH_SIZE": 3}

    def slowly(n: int, msg_id: str) -> int:
        time.sleep(0.01)  # the sweeps overlap for sure
        return 200

    receiver.answer = slowly
    sub = actions.create_subscription(shop, receiver.url, [EventType.CONTACT_CREATED], by=owner)
    receiver.secret = sub.secret
    for i in range(EVENTS):
        create_contact(shop, first_name=f"Клиент {i}")
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count() == EVENTS

    start = threading.Barrier(SWEEPS)
    made: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            start.wait()
            made.append(deliver_due(clock.now()))
        except BaseException as exc:  # reported below, with the thread's own traceback
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(SWEEPS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)

    assert not errors, errors
    assert sum(made) == EVENTS
    assert len([m for m in made if m]) > 1  # the work was shared, not done by one
    ids = [r.msg_id for r in receiver.requests]
    assert len(ids) == EVENTS and len(set(ids)) == EVENTS
    assert set(ids) == set(WebhookEvent.objects.values_list("uid", flat=True))
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == EVENTS
    assert all(r.signature_ok for r in receiver.requests)
    assert deliver_due(clock.now()) == 0  # nothing left
