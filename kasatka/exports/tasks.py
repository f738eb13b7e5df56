"""The exports' background tasks (run by the task worker: `kasatka tasks` / `kasatka run`)."""

from __future__ import annotations

from django_tasks import task

from .actions import remove_expired, run_export


@task()
def make_export(job_id: int) -> str:
    return run_export(job_id)


@task()
def sweep_exports() -> int:
    """Remove the files of exports past their time (queued when each export finishes)."""
    return remove_expired()
