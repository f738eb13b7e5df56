"""Background tasks (imports, exports, outbound webhooks) on Django's Tasks API.

The tasks live in the database (django-tasks-db): nothing to install beside Kasatka. Its
worker does not take back a task whose worker died mid-run, so a task worker starting up
queues again every task still "running" past `KASATKA_TASKS["STALE_MINUTES"]`; a long
task (an import, an export) therefore writes its progress as it goes and resumes from it.

Enqueue through `enqueue_on_commit`: a task is queued only once the rows it is about are
committed, and never for a transaction that rolled back.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks.base import Task, TaskResultStatus
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger("kasatka.tasks")


def enqueue_on_commit(
    task: Task[..., Any], *args: Any, run_after: datetime | None = None, **kwargs: Any
) -> None:
    """Queue `task(*args, **kwargs)` when the current transaction commits (now, outside one)."""
    chosen = task.using(run_after=run_after) if run_after is not None else task

    def queue() -> None:
        chosen.enqueue(*args, **kwargs)

    transaction.on_commit(queue)


def requeue_stale(stale_after: timedelta | None = None) -> int:
    """Queue again the tasks left "running" by a worker that died; returns how many."""
    if stale_after is None:
        stale_after = timedelta(minutes=settings.KASATKA_TASKS["STALE_MINUTES"])
    cutoff = timezone.now() - stale_after
    count = DBTaskResult.objects.filter(
        status=TaskResultStatus.RUNNING, started_at__lt=cutoff
    ).update(status=TaskResultStatus.READY, started_at=None)
    if count:
        logger.warning("queued again %d task(s) left running by a dead worker", count)
    return count


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"[:64]


def _worker(batch: bool, max_tasks: int | None = None, interval: float | None = None) -> Any:
    from django_tasks_db.management.commands.db_worker import Worker

    return Worker(
        queue_names=["*"],
        interval=settings.KASATKA_TASKS["IDLE_SECONDS"] if interval is None else interval,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=max_tasks,
        worker_id=worker_id(),
        excluded_queue_names=[],
    )


def run_ready_tasks(max_tasks: int | None = None) -> int:
    """Run, in this process, every task ready now, then return how many ran.

    Tasks a task queues (a retry due now) run too. For tests, cron and the demo."""
    before = DBTaskResult.objects.exclude(status=TaskResultStatus.READY).count()
    _worker(batch=True, max_tasks=max_tasks, interval=0).run()
    return DBTaskResult.objects.exclude(status=TaskResultStatus.READY).count() - before


def run_forever(on_start: Callable[[], Any] = requeue_stale) -> None:
    """The task worker: run tasks as they become ready until SIGTERM or Ctrl+C."""
    on_start()
    worker = _worker(batch=False)
    worker.configure_signals()
    worker.run()
