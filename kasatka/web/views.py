"""The signed-in pages: the day's overview, call tasks, the touch log, the contact card."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import formats
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
from django.utils.timezone import is_naive, localtime, make_aware
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kasatka.accounts.access import business_of, get_scoped, scope_to_user, sees_whole_team
from kasatka.chains.models import Enrollment, EnrollmentState, Touch, TouchStatus
from kasatka.channels.call.actions import close_call
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.channels.registry import active_accounts
from kasatka.channels.telegram.bot import deep_link
from kasatka.contacts.models import Channel, Contact, Purpose
from kasatka.contacts.timeline import timeline
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
    tasks = (
        _open_calls(request)
        .select_related("contact", "assignee", "lead_conversion")
        .order_by("due_at")[:200]
    )
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
    if callback is not None and is_naive(callback):
        callback = make_aware(callback)  # a datetime-local field: the user's (site's) zone
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
        if task.is_open:  # no answer, call back: it comes back to the list
            when = formats.date_format(localtime(task.due_at), "SHORT_DATETIME_FORMAT")
            messages.success(request, _("The call comes back on %(when)s") % {"when": when})
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


@login_required
def contact_card(request: HttpRequest, pk: int) -> HttpResponse:
    """Who the contact is, how to reach them, what they agreed to, and what happened."""
    contact: Contact = get_scoped(
        request.user, Contact.objects.all(), "owner", pk  # type: ignore[arg-type]
    )
    bot = active_accounts([contact.business_id]).get((contact.business_id, Channel.TELEGRAM))
    link = deep_link(bot, contact.pk)
    return render(
        request,
        "web/contact.html",
        {
            "contact": contact,
            "addresses": contact.addresses.order_by("kind", "-is_primary", "id"),
            "consents": _current_consents(contact),
            "telegram_link": link,
            "telegram_qr": _qr_svg(link) if link else "",
            "entries": timeline(contact, limit=100),
            "deals": contact.deals.select_related("stage").order_by("-created_at")[:20],
        },
    )


def _current_consents(contact: Contact) -> list[Any]:
    """The newest entry per channel and purpose: the consent in force."""
    current: dict[tuple[str, str], Any] = {}
    for consent in contact.consents.order_by("-recorded_at", "-id"):
        current.setdefault((consent.channel, consent.purpose), consent)
    order = {purpose: i for i, purpose in enumerate(Purpose.values)}
    return sorted(current.values(), key=lambda c: (c.channel, order.get(c.purpose, 9)))


def _qr_svg(link: str) -> str:
    """The link as an inline SVG QR code, for the client to scan from the seller's screen."""
    svg: str = segno.make(link, error="m").svg_inline(scale=4, title=link)
    return mark_safe(svg)  # segno's own markup; it escapes the link in the <title>
