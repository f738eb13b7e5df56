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
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks.base import Task, TaskResultStatus
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger("kasatka.tasks")


def _conf(name: str) -> Any:
    return settings.KASATKA_TASKS[name]


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
        stale_after = timedelta(minutes=_conf("STALE_MINUTES"))
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
        interval=_conf("IDLE_SECONDS") if interval is None else interval,
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


def run_sweeps() -> int:
    """Run each sweep of `KASATKA_TASKS["SWEEPS"]` once (work kept in a table of its own,
    due by Kasatka's clock: leads accepted by a form, webhook deliveries due); how many
    items they handled. A failing sweep is logged and does not stop the others."""
    handled = 0
    for path in _conf("SWEEPS"):
        try:
            handled += int(import_string(path)() or 0)
        except Exception:
            logger.exception("sweep %s failed", path)
    return handled


def _sweep_forever(stop: threading.Event) -> None:
    every = _conf("SWEEP_SECONDS")
    while not stop.is_set():
        close_old_connections()
        busy = run_sweeps()
        close_old_connections()
        if not busy:
            stop.wait(every)


def run_forever(on_start: Callable[[], Any] = requeue_stale) -> None:
    """The task worker: run tasks as they become ready, and the sweeps beside them in a
    thread, until SIGTERM or Ctrl+C."""
    on_start()
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_forever, args=(stop,), name="sweeps", daemon=True)
    sweeper.start()
    worker = _worker(batch=False)
    worker.configure_signals()
    try:
        worker.run()
    finally:
        stop.set()
