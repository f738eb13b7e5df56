"""The list of lapsing clients, the most valuable first (METHOD.md §6, §7 "clients lapsing now").

A seller sees their own clients (and unassigned ones), the owner and head of sales the
whole shop's, through the same access helpers as the call list.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kasatka.accounts.access import business_of, scope_to_user, sees_whole_team

from .models import ChurnModel, ClientRisk

LIST_LIMIT = 500


def lapsing_clients(user: Any) -> QuerySet[ClientRisk]:
    """The user's clients flagged as lapsed since their last purchase, by value at risk."""
    lapsed = ClientRisk.objects.filter(flagged_for=F("last_purchase_at"))
    return (
        scope_to_user(user, lapsed, "contact__owner", reading=True)
        .select_related("contact", "contact__owner", "call_task")
        .order_by("-value_at_risk", "lapse_at", "pk")
    )


@login_required
@require_GET
def lapsing(request: HttpRequest) -> HttpResponse:
    business = business_of(request.user)
    risks = lapsing_clients(request.user)
    context: dict[str, Any] = {
        "risks": risks[:LIST_LIMIT],
        "total": risks.count(),
        "model": ChurnModel.objects.filter(business=business).first(),
        "team": sees_whole_team(request.user),  # type: ignore[arg-type]
    }
    return render(request, "insights/lapsing.html", context)
