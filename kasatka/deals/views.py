"""The seller's plan of nudges and the deal page: throw a nudge, record or correct an answer.

A seller sees their own plan and deals; the owner and head of sales any seller's and the
team's. Every change is a POST through the same actions the engine and the CLI use.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kasatka.accounts.access import (
    business_of,
    can,
    get_scoped,
    needs,
    sees_whole_team,
    user_of,
)
from kasatka.accounts.models import User
from kasatka.engine.clock import now as clock_now
from kasatka.web.navigation import back, form_next

from .models import Answer, Deal, DealReply, DealTask, Nudge, NudgeMode
from .nudging import NudgeRefused, throw
from .plan import daily_plan, team_plan
from .replies import correct_reply, record_answer


@needs("sell")
@require_GET
def plan(request: HttpRequest) -> HttpResponse:
    """Today's plan: the seller's own, or for the head of sales any seller's and the team's."""
    user = user_of(request)
    business = business_of(user)
    context: dict[str, Any] = {"team": sees_whole_team(user), "modes": NudgeMode.choices}
    seller_id = request.GET.get("seller")
    if context["team"] and not seller_id:
        team = team_plan(business)
        context.update(plans=[*team.sellers, team.total], day=team.day, whole_team=True)
    else:
        seller = user
        if context["team"] and seller_id:
            found = User.objects.filter(business=business, pk=_int(seller_id)).first()
            if found is None:
                raise Http404
            seller = found
        one = daily_plan(business, seller)
        context.update(plans=[one], day=one.day, whole_team=False)
    return render(request, "deals/plan.html", context)


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError as exc:
        raise Http404 from exc


@needs("edit_deals")
@require_POST
def throw_nudge(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: the nudge goes (its text as edited). From htmx (Today, the plan) the answer
    is the nudge's card again: "thrown", or the form with why not; else back to the page."""
    user = user_of(request)
    nudge: Nudge = get_scoped(
        user, Nudge.objects.select_related("deal__contact", "stage"), "seller", pk
    )
    mode = request.POST.get("mode", NudgeMode.MESSAGE)
    try:
        throw(nudge, user, mode, request.POST.get("text"))
    except (NudgeRefused, ValidationError) as exc:
        if _from_htmx(request):
            return render(request, "web/today/_nudge.html", {
                "nudge": nudge, "error": " ".join(exc.messages), "next": form_next(request),
            })
        messages.error(request, " ".join(exc.messages))
    else:
        if _from_htmx(request):
            return render(request, "web/today/_nudge_thrown.html", {"nudge": nudge})
        done = _("Call task added") if mode == NudgeMode.CALL else _("Nudge thrown")
        messages.success(request, f"{done}: {nudge.deal.title}")
    return _back(request)


def _from_htmx(request: HttpRequest) -> bool:
    """Asked by htmx (django-htmx's middleware sets `request.htmx`)."""
    return bool(getattr(request, "htmx", False))


def _back(request: HttpRequest) -> HttpResponse:
    """To the page the form was on, if it is one of ours; else the plan."""
    return back(request, "deals:plan")


@login_required
@require_GET
def deal_page(request: HttpRequest, pk: int) -> HttpResponse:
    user = user_of(request)
    deal: Deal = get_scoped(
        user, Deal.objects.select_related("contact", "stage", "pipeline", "seller"), "seller", pk,
        reading=True,
    )
    return render(request, "deals/deal.html", {
        "deal": deal,
        "can_edit": can(user, "edit_deals"),
        "changes": deal.stage_changes.select_related("from_stage", "to_stage", "by"),
        "nudges": deal.nudges.select_related("thrown_by", "template"),
        "replies": deal.replies.select_related("corrected_by"),
        "tasks": deal.tasks.order_by("-created_at"),
        "answers": Answer.choices,
        "today": clock_now().astimezone(deal.business.zone).date(),
    })


def _answer_date(request: HttpRequest) -> date | None:
    raw = request.POST.get("answer_date") or ""
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError as exc:
        raise ValidationError({"answer_date": _("Enter a date.")}) from exc


@needs("edit_deals")
@require_POST
def record_answer_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The seller heard the client's answer (on the phone, in the showroom)."""
    user = user_of(request)
    deal: Deal = get_scoped(user, Deal.objects.all(), "seller", pk)
    try:
        record_answer(
            deal, request.POST.get("answer", ""), user, _answer_date(request),
            request.POST.get("text", "")[:2000],
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Answer recorded."))
    return redirect("deals:deal", pk=deal.pk)


@needs("edit_deals")
@require_POST
def correct_reply_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: the client meant something else than Kasatka read."""
    user = user_of(request)
    reply: DealReply = get_scoped(user, DealReply.objects.all(), "deal__seller", pk)
    try:
        correct_reply(reply, request.POST.get("answer", ""), user, _answer_date(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Answer corrected: %(answer)s") % {
            "answer": reply.get_answer_display()
        })
    return redirect("deals:deal", pk=reply.deal_id)


@needs("edit_deals")
@require_POST
def task_done(request: HttpRequest, pk: int) -> HttpResponse:
    user = user_of(request)
    task: DealTask = get_scoped(user, DealTask.objects.all(), "seller", pk)
    DealTask.objects.filter(pk=task.pk, done_at__isnull=True).update(done_at=clock_now())
    return _back(request)
