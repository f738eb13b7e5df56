"""Background tasks used by tests/engine/test_background.py (a task must be importable)."""

from __future__ import annotations

from django_tasks import task

from kasatka.accounts.models import Business


@task()
def rename_business(business_id: int, name: str) -> str:
    Business.objects.filter(pk=business_id).update(name=name)
    return name
