"""Closing a call task with its outcome, and what the outcome does to the chain.

- reached: the touch was delivered by voice; the chain goes on.
- no answer: the task comes back after KASATKA_CALLS["NO_ANSWER_RETRY_HOURS"], up to
  KASATKA_CALLS["NO_ANSWER_ATTEMPTS"] calls; after the last one the touch has failed
  and the chain goes on without it.
- call back at…: the task comes back at that time, and the chain's next touch waits
  until after it (never a letter the day before the promised call).
- refused: the contact said no. Consent to commercial calls is withdrawn and the
  enrollment ends: Kasatka never touches someone who said no in this chain again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import formats
from django.utils.translation import gettext as _

from kasatka.accounts.models import User
from kasatka.chains.actions import end_enrollments
from kasatka.chains.models import Enrollment, EnrollmentState, Touch, TouchStatus
from kasatka.contacts.actions import withdraw_consent
from kasatka.contacts.models import Channel, ConsentBasis, Purpose
from kasatka.engine.clock import now as clock_now

from .models import CallOutcome, CallTask


def _log(task: CallTask, at: datetime, text: str) -> None:
    stamp = formats.date_format(at, "SHORT_DATETIME_FORMAT")
    line = f"{stamp} {text}".strip()
    task.note = f"{task.note}\n{line}".strip() if task.note else line


def close_call(
    task: CallTask,
    outcome: str,
    user: User | None,
    note: str = "",
    callback_at: datetime | None = None,
) -> CallTask:
    """Record how a call went; "no answer" and "call back" keep the task for another call."""
    if outcome not in CallOutcome.values:
        raise ValidationError({"outcome": _("Unknown outcome.")})
    if outcome == CallOutcome.CALL_BACK and callback_at is None:
        raise ValidationError({"callback_at": _("Say when to call back.")})
    if not task.is_open:
        raise ValidationError(_("This call is already closed."))
    now = clock_now()
    if outcome == CallOutcome.CALL_BACK and callback_at is not None and callback_at <= now:
        raise ValidationError({"callback_at": _("The time to call back has passed already.")})
    conf = settings.KASATKA_CALLS
    label = str(CallOutcome(outcome).label)
    _log(task, now, f"{label}: {note}" if note else label)
    with transaction.atomic():
        if outcome == CallOutcome.NO_ANSWER and task.attempts < conf["NO_ANSWER_ATTEMPTS"]:
            # Not the end of it: the same task comes back for another try.
            task.attempts += 1
            task.due_at = now + timedelta(hours=conf["NO_ANSWER_RETRY_HOURS"])
            task.save(update_fields=["attempts", "due_at", "note"])
            _hold_chain(task, task.due_at)
            return task
        if outcome == CallOutcome.CALL_BACK:
            assert callback_at is not None
            task.callback_at = callback_at
            task.due_at = callback_at
            task.save(update_fields=["callback_at", "due_at", "note"])
            _hold_chain(task, callback_at)
            return task
        task.outcome = outcome
        task.closed_at = now
        task.closed_by = user
        task.save(update_fields=["outcome", "note", "closed_at", "closed_by"])
        _settle_touch(task, outcome, now)
    return task


def _settle_touch(task: CallTask, outcome: str, now: datetime) -> None:
    if task.touch_id is None:  # a task made by hand, not by a chain
        return
    touches = Touch.objects.filter(id=task.touch_id)
    if outcome == CallOutcome.REACHED:
        touches.update(status=TouchStatus.DELIVERED, updated_at=now)
    elif outcome == CallOutcome.NO_ANSWER:
        touches.update(
            status=TouchStatus.FAILED,
            error=f"no answer after {task.attempts} calls",
            updated_at=now,
        )
    elif outcome == CallOutcome.REFUSED:
        touches.update(status=TouchStatus.UNSUBSCRIBED, updated_at=now)
        withdraw_consent(
            task.contact, Channel.CALL, ConsentBasis.VERBAL,
            f"refused on the phone (call task {task.pk})", [Purpose.COMMERCIAL],
        )
        touch = touches.only("enrollment_id").first()
        if touch is not None:
            end_enrollments(
                Enrollment.objects.filter(pk=touch.enrollment_id), "refused on the phone", now
            )


def _hold_chain(task: CallTask, until: datetime) -> None:
    """The chain's next touch comes after the promised call, keeping its own spacing."""
    if task.touch_id is None:
        return
    touch = Touch.objects.filter(id=task.touch_id).only("enrollment_id", "created_at").first()
    if touch is None:
        return
    enrollment = Enrollment.objects.filter(
        pk=touch.enrollment_id, state=EnrollmentState.ACTIVE, next_touch_at__isnull=False
    ).first()
    if enrollment is None or enrollment.next_touch_at is None:
        return
    spacing = max(enrollment.next_touch_at - touch.created_at, timedelta(0))
    held = until + spacing
    if held > enrollment.next_touch_at:
        Enrollment.objects.filter(pk=enrollment.pk, next_touch_at=enrollment.next_touch_at).update(
            next_touch_at=held
        )
