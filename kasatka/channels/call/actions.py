"""Closing a call task with its outcome."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from kasatka.accounts.models import User
from kasatka.engine.clock import now as clock_now

from .models import CallOutcome, CallTask


def close_call(
    task: CallTask,
    outcome: str,
    user: User | None,
    note: str = "",
    callback_at: datetime | None = None,
) -> CallTask:
    if outcome not in CallOutcome.values:
        raise ValidationError({"outcome": _("Unknown outcome.")})
    if outcome == CallOutcome.CALL_BACK and callback_at is None:
        raise ValidationError({"callback_at": _("Say when to call back.")})
    if not task.is_open:
        raise ValidationError(_("This call is already closed."))
    task.outcome = outcome
    task.note = note
    task.callback_at = callback_at
    task.closed_at = clock_now()
    task.closed_by = user
    task.save(update_fields=["outcome", "note", "callback_at", "closed_at", "closed_by"])
    return task
