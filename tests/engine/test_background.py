"""Background tasks: queued after the commit, run by the task worker, taken back from a
worker that died."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from kasatka.accounts.models import Business
from kasatka.engine.background import enqueue_on_commit, requeue_stale, run_ready_tasks
from tests.engine.tasks_for_tests import rename_business

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_task_is_queued_only_when_its_transaction_commits(shop):
    with transaction.atomic():
        enqueue_on_commit(rename_business, shop.pk, "Откат")
        transaction.set_rollback(True)
    assert not DBTaskResult.objects.exists()
    with transaction.atomic():
        enqueue_on_commit(rename_business, shop.pk, "Новое имя")
        assert not DBTaskResult.objects.exists()
    assert DBTaskResult.objects.filter(status=TaskResultStatus.READY).count() == 1
    assert run_ready_tasks() == 1
    assert Business.objects.get(pk=shop.pk).name == "Новое имя"
    assert DBTaskResult.objects.get().status == TaskResultStatus.SUCCESSFUL


def test_a_task_waits_for_its_time(shop):
    enqueue_on_commit(
        rename_business, shop.pk, "Позже", run_after=timezone.now() + timedelta(hours=1)
    )
    assert run_ready_tasks() == 0
    assert Business.objects.get(pk=shop.pk).name != "Позже"


def test_a_task_left_running_by_a_dead_worker_runs_again(shop):
    enqueue_on_commit(rename_business, shop.pk, "Снова")
    DBTaskResult.objects.update(
        status=TaskResultStatus.RUNNING, started_at=timezone.now() - timedelta(hours=1)
    )
    fresh = DBTaskResult.objects.create(
        status=TaskResultStatus.RUNNING, started_at=timezone.now(),
        args_kwargs={"args": [shop.pk, "Чужое"], "kwargs": {}},
        task_path="tests.engine.tasks_for_tests.rename_business", backend_name="default",
        run_after=timezone.now(),
    )
    assert requeue_stale(timedelta(minutes=15)) == 1  # the fresh one is someone's work
    assert DBTaskResult.objects.get(pk=fresh.pk).status == TaskResultStatus.RUNNING
    run_ready_tasks()
    assert Business.objects.get(pk=shop.pk).name == "Снова"
