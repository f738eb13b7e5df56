"""The background task: queued by the commit of an event, queued again for the next
attempt; and the task worker's periodic sweep, which delivers what is due by the clock
whatever became of the tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from kasatka.contacts.actions import create_contact
from kasatka.engine.background import run_ready_tasks, run_sweeps
from kasatka.webhooks import actions
from kasatka.webhooks.delivery import sweep
from kasatka.webhooks.models import DeliveryStatus, EventType, WebhookDelivery

pytestmark = pytest.mark.django_db(transaction=True)


def waiting_sweeps() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(
        task_path=sweep.module_path, status=TaskResultStatus.READY
    ))


def test_the_commit_queues_one_sweep_and_the_task_delivers(shop, owner, clock, receiver):
    receiver.answer = lambda n, msg_id: 200 if receiver.requests else 503  # once, at first
    sub = actions.create_subscription(shop, receiver.url, [EventType.CONTACT_CREATED])
    receiver.secret = sub.secret
    create_contact(shop, first_name="Анна")
    create_contact(shop, first_name="Борис")
    assert len(waiting_sweeps()) == 1  # the second commit found one waiting

    run_ready_tasks()
    assert len(receiver.requests) == 1  # a 503: the other waits behind it
    [later] = waiting_sweeps()  # queued again for the next attempt, in real time
    assert later.run_after > timezone.now() + timedelta(seconds=10)
    assert run_ready_tasks() == 0  # not yet

    # The task queue's time has not come, but Kasatka's clock has: the task worker's
    # periodic sweep delivers what is due.
    clock.advance(timedelta(minutes=5))
    assert run_sweeps() >= 2
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 2
    assert len(receiver.accepted()) == 2
    assert run_sweeps() == 0
