"""The signed-in pages: the day's overview, call tasks, the touch log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kasatka.accounts.access import business_of, get_scoped, scope_to_user, sees_whole_team
from kasatka.chains.models import Enrollment, EnrollmentState, Touch, TouchStatus
from kasatka.channels.call.actions import close_call
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.contacts.models import Contact
from kasatka.engine.clock import now as clock_now


@login_required
def home(request: HttpRequest) -> HttpResponse:
    business = business_of(request.user)
    now = clock_now()
    day_ago = now - timedelta(days=1)
    touches = Touch.objects.filter(business=business)
    context: dict[str, Any] = {
        "business": business,
        "now": now,
        "contacts": Contact.objects.filter(business=business).count(),
        "active_enrollments": Enrollment.objects.filter(
            business=business, state=EnrollmentState.ACTIVE
        ).count(),
        "due_now": Enrollment.objects.filter(
            business=business, state=EnrollmentState.ACTIVE, next_touch_at__lte=now
        ).count(),
        "last_day": [
            (status, TouchStatus(status).label, n)
            for status, n in touches.filter(updated_at__gte=day_ago)
            .values_list("status")
            .annotate(n=Count("id"))
            .order_by("status")
        ],
        "open_calls": _open_calls(request).count(),
        "recent": touches.select_related("contact", "step__chain").order_by("-updated_at")[:15],
    }
    return render(request, "web/home.html", context)


def _open_calls(request: HttpRequest) -> Any:
    return scope_to_user(
        request.user,  # type: ignore[arg-type]
        CallTask.objects.filter(closed_at__isnull=True),
        "assignee",
    )


@login_required
def calls(request: HttpRequest) -> HttpResponse:
    business_of(request.user)
    tasks = _open_calls(request).select_related("contact", "assignee").order_by("due_at")[:200]
    return render(
        request,
        "web/calls.html",
        {
            "tasks": tasks,
            "outcomes": CallOutcome.choices,
            "team": sees_whole_team(request.user),  # type: ignore[arg-type]
        },
    )


@login_required
@require_POST
def close_call_view(request: HttpRequest, pk: int) -> HttpResponse:
    task = get_scoped(request.user, CallTask.objects.all(), "assignee", pk)  # type: ignore[arg-type]
    callback: datetime | None = parse_datetime(request.POST.get("callback_at") or "")
    try:
        close_call(
            task,
            request.POST.get("outcome", ""),
            request.user,  # type: ignore[arg-type]
            request.POST.get("note", ""),
            callback,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        outcome = task.get_outcome_display()
        messages.success(request, _("Call closed: %(outcome)s") % {"outcome": outcome})
    return redirect("web:calls")


@login_required
def touches(request: HttpRequest) -> HttpResponse:
    rows = (
        scope_to_user(request.user, Touch.objects.all(), "contact__owner")  # type: ignore[arg-type]
        .select_related("contact", "step__chain")
        .order_by("-updated_at")
    )
    status = request.GET.get("status")
    if status:
        rows = rows.filter(status=status)
    return render(request, "web/touches.html", {"touches": rows[:200], "status": status})
