"""Answers to the lead-conversion question over the web: the contact's one-click link, and
the seller's buttons next to the question's call task."""

from __future__ import annotations

from django.contrib import messages
from django.core import signing
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from kasatka.accounts.access import get_scoped, needs
from kasatka.channels.call.actions import close_call
from kasatka.channels.call.models import CallOutcome
from kasatka.engine.clock import now as clock_now

from .conversion import (
    ANSWERS,
    BY_CONTACT,
    BY_SELLER,
    AnswerRefused,
    read_answer_token,
    record_lead_outcome,
)
from .models import LeadConversion, LeadOutcome

_TEMPLATE = "web/lead_answer.html"


# The signed token is the credential, as for unsubscribe links: no cookie, no CSRF token.
@csrf_exempt
def lead_answer(request: HttpRequest, token: str) -> HttpResponse:
    """GET asks to confirm (link scanners must not answer for the contact); POST answers."""
    try:
        conversion_id, outcome = read_answer_token(token)
    except signing.BadSignature:
        return render(request, _TEMPLATE, {"state": "invalid"}, status=404)
    conversion = (
        LeadConversion.objects.select_related("contact", "business")
        .filter(pk=conversion_id)
        .first()
    )
    if conversion is None:
        return render(request, _TEMPLATE, {"state": "invalid"}, status=404)
    translation.activate(conversion.contact.language or conversion.business.language)
    context = {
        "business": conversion.business,
        "answer": LeadOutcome(outcome).label,
        "state": "confirm",
    }
    if conversion.outcome:
        return render(request, _TEMPLATE, {**context, "state": "closed"}, status=409)
    if request.method != "POST":
        return render(request, _TEMPLATE, context)
    try:
        record_lead_outcome(conversion, outcome, BY_CONTACT, clock_now())
    except AnswerRefused:
        return render(request, _TEMPLATE, {**context, "state": "closed"}, status=409)
    return render(request, _TEMPLATE, {**context, "state": "done"})


@needs("sell")
@require_POST
def seller_answer(request: HttpRequest, pk: int) -> HttpResponse:
    """The seller asked on the phone and records which case holds; the call is closed."""
    conversion: LeadConversion = get_scoped(
        request.user,  # type: ignore[arg-type]
        LeadConversion.objects.filter(call_task__isnull=False).select_related(
            "contact", "call_task"
        ),
        "call_task__assignee",
        pk,
    )
    outcome = request.POST.get("outcome", "")
    if outcome not in ANSWERS:
        messages.error(request, _("Choose one of the three answers."))
        return redirect("web:calls")
    label = LeadOutcome(outcome).label
    try:
        with transaction.atomic():
            record_lead_outcome(conversion, outcome, BY_SELLER, clock_now())
            task = conversion.call_task
            if task is not None and task.is_open:
                seller = request.user
                close_call(task, CallOutcome.REACHED, seller, str(label))  # type: ignore[arg-type]
    except AnswerRefused:
        conversion.refresh_from_db(fields=["outcome"])
        messages.error(
            request,
            _("The answer is recorded already: %(outcome)s")
            % {"outcome": conversion.get_outcome_display()},
        )
    else:
        messages.success(request, _("Recorded: %(outcome)s") % {"outcome": label})
    return redirect("web:calls")
