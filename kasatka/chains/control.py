"""Pause, resume and stop one enrollment by hand (the API; the UI may use them too)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kasatka.engine.clock import now as clock_now

from .actions import end_enrollments
from .models import Enrollment, EnrollmentState

# Releasing the lease makes a worker that claimed the row lose it: it then records the
# touch it was sending but does not move the enrollment (engine/worker.py).
_RELEASED: dict[str, Any] = {"lease_owner": "", "lease_until": None}


def pause_enrollment(enrollment: Enrollment) -> bool:
    """An active enrollment stops sending but keeps its place; False when not active."""
    changed = Enrollment.objects.filter(
        pk=enrollment.pk, state=EnrollmentState.ACTIVE
    ).update(state=EnrollmentState.PAUSED, **_RELEASED)
    enrollment.refresh_from_db()
    return changed == 1


def resume_enrollment(enrollment: Enrollment, at: datetime | None = None) -> bool:
    """A paused enrollment goes on from its step; a touch overdue meanwhile is due now
    (the engine still re-checks consent, quiet hours and caps at send time)."""
    at = at or clock_now()
    paused = Enrollment.objects.filter(pk=enrollment.pk, state=EnrollmentState.PAUSED)
    changed = paused.filter(next_touch_at__lt=at).update(
        state=EnrollmentState.ACTIVE, next_touch_at=at
    ) + paused.update(state=EnrollmentState.ACTIVE)
    enrollment.refresh_from_db()
    return changed == 1


def stop_enrollment(enrollment: Enrollment, reason: str, at: datetime | None = None) -> bool:
    """End a live enrollment (active or paused) with the reason; False when it had ended."""
    changed = end_enrollments(Enrollment.objects.filter(pk=enrollment.pk), reason, at)
    enrollment.refresh_from_db()
    return changed == 1
