"""The signed-in pages: Today (the day's plan), call tasks, the touch log, the contact card."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import formats
from django.utils.dateparse import parse_datetime
from django.utils.safestring import mark_safe
from django.utils.timezone import is_naive, localtime, make_aware
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kasatka.accounts.access import (
    CAPABILITIES,
    business_of,
    can,
    get_scoped,
    needs,
    scope_to_user,
    sees_whole_team,
    user_of,
)
from kasatka.accounts.models import Business, Notice, User, method_settings
from kasatka.accounts.notices import dismiss, open_notices
from kasatka.chains.models import Enrollment, EnrollmentState, Touch, TouchStatus
from kasatka.channels.call.actions import close_call
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.channels.registry import active_accounts
from kasatka.channels.telegram.bot import deep_link
from kasatka.contacts.models import Channel, Contact, Purpose
from kasatka.contacts.timeline import timeline
from kasatka.deals.plan import daily_plan, team_plan
from kasatka.engine.clock import now as clock_now
from kasatka.insights.views import lapsing_clients
from kasatka.sales.models import LeadConversion

from .navigation import back

# Items listed in each section of Today; the counts above them are complete.
TODAY_LIMIT = 10


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Today: a seller's plan for the day; the team's for the head of sales and the owner;
    an overview of the business for a marketer, who sells nothing."""
    user: User = request.user  # type: ignore[assignment]
    business = business_of(user)
    if not can(user, "sell"):
        return render(request, "web/today/overview.html", _overview(user, business))
    return render(request, "web/home.html", _today(request, user, business))


def _today(request: HttpRequest, user: User, business: Business) -> dict[str, Any]:
    now = clock_now()
    team = sees_whole_team(user)
    sellers: list[User] = []
    seller: User | None = user
    if team:
        sellers = list(
            User.objects.filter(business=business, role__in=CAPABILITIES["sell"], is_active=True)
            .order_by("last_name", "first_name", "pk")
        )
        chosen = request.GET.get("seller", "")
        seller = next((s for s in sellers if str(s.pk) == chosen), None)
        if chosen and seller is None:
            raise Http404  # another business's user, or not a seller: as if it did not exist
    context: dict[str, Any] = {
        "business": business, "now": now, "team": team, "sellers": sellers, "seller": seller,
        "outcomes": CallOutcome.choices, "next": request.get_full_path(),
        "notices": open_notices(business) if can(user, "settings") else [],
    }
    lapsing = lapsing_clients(user)
    leads = scope_to_user(
        user, LeadConversion.objects.filter(outcome="", ends_at__gt=now), "contact__owner"
    )
    if seller is None:  # the whole team: each seller's line and the total
        whole = team_plan(business, now=now)
        plan = whole.total
        context["lines"] = whole.sellers
        people = {p.seller.pk: p.seller for p in whole.sellers if p.seller is not None}
        context["activity"] = _last_day(Touch.objects.filter(business=business), now)
    else:
        plan = daily_plan(business, seller, now=now)
        people = {seller.pk: seller}
        if team:  # the head of sales looking at one seller: that seller's clients
            lapsing = lapsing.filter(contact__owner=seller)
            leads = leads.filter(contact__owner=seller)
    # The lists name each item's seller: from the plan's users, not one query each.
    for nudge in plan.nudges:
        nudge.seller = people.get(nudge.seller_id) if nudge.seller_id else None
    for call in plan.calls:
        call.assignee = people.get(call.assignee_id) if call.assignee_id else None
    lapsing_list = list(lapsing[:TODAY_LIMIT + 1])
    context.update(
        plan=plan,
        lapsing=lapsing_list[:TODAY_LIMIT],
        more_lapsing=len(lapsing_list) > TODAY_LIMIT,
        leads=[
            (lead, max(0, (lead.ends_at - now).days))
            for lead in leads.select_related("contact", "source").order_by("-ends_at", "-pk")[
                :TODAY_LIMIT
            ]
        ],
        leads_count=leads.count(),
        window_days=method_settings(business).lc_window_days,
    )
    return context


@needs("settings")
@require_POST
def dismiss_notice(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner has read a notice: it leaves Today."""
    user = user_of(request)
    notice = Notice.objects.filter(business=business_of(user), pk=pk).first()
    if notice is None:
        raise Http404
    dismiss(notice, user)
    return back(request, "web:home")


def _overview(user: User, business: Business) -> dict[str, Any]:
    """What a marketer looks at first: how many, what is moving, what just went out."""
    now = clock_now()
    touches = Touch.objects.filter(business=business)
    active = Enrollment.objects.filter(business=business, state=EnrollmentState.ACTIVE)
    return {
        "business": business,
        "now": now,
        "contacts": Contact.objects.filter(business=business).count(),
        "active_enrollments": active.count(),
        "due_now": active.filter(next_touch_at__lte=now).count(),
        "leads_in_window": LeadConversion.objects.filter(
            business=business, outcome="", ends_at__gt=now
        ).count(),
        "lapsing": lapsing_clients(user).count(),
        "activity": _last_day(touches, now),
        "recent": touches.select_related("contact", "step__chain").order_by("-updated_at")[:15],
    }


def _last_day(touches: QuerySet[Touch], now: datetime) -> list[tuple[str, str, int]]:
    """Touches changed in the last 24 hours, by status: (status, its label, how many)."""
    return [
        (status, str(TouchStatus(status).label), n)
        for status, n in touches.filter(updated_at__gte=now - timedelta(days=1))
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by("status")
    ]


def _open_calls(request: HttpRequest) -> Any:
    return scope_to_user(
        request.user,  # type: ignore[arg-type]
        CallTask.objects.filter(closed_at__isnull=True),
        "assignee",
    )


@needs("sell")
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


@needs("sell")
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
    return back(request, "web:calls")


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
        request.user,  # type: ignore[arg-type]
        Contact.objects.select_related("owner", "source", "business"),
        "owner",
        pk,
        reading=True,
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
            "deals": contact.deals.select_related("stage", "seller").order_by("-created_at")[:20],
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
