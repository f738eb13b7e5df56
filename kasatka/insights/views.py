"""The insight pages (METHOD.md §7) and the list of lapsing clients.

The figure pages are for the roles with the `insights` capability (owner, head of sales,
marketer); each shows its charts and tables for the filters in the address, and any of its
tables as CSV (`?csv=<table>`). The list of lapsing clients is the most valuable first: a
seller sees their own clients (and unassigned ones), the owner and head of sales the whole
shop's, through the same access helpers as the call list.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import plotly  # type: ignore[import-untyped]
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import F, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from kasatka.accounts.access import business_of, needs, scope_to_user, sees_whole_team

from .forms import InsightFilters
from .models import ChurnModel, ClientRisk
from .pages import BY_SLUG, PAGES, Page
from .report import as_csv

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"

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


def _default_days(page: Page, today: date) -> int:
    if not page.months:
        return int(settings.KASATKA_INSIGHTS["DEFAULT_DAYS"])
    back = int(settings.KASATKA_INSIGHTS["COHORT_MONTHS"]) - 1
    year, month = divmod(today.year * 12 + today.month - 1 - back, 12)
    return (today - date(year, month + 1, 1)).days + 1


@needs("insights")
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "insights/index.html", {"pages": PAGES})


@needs("insights")
@require_GET
def page(request: HttpRequest, slug: str) -> HttpResponse:
    found = BY_SLUG.get(slug)
    if found is None:
        raise Http404
    business = business_of(request.user)
    today = timezone.now().astimezone(business.zone).date()
    form = InsightFilters(business, request.GET, default_days=_default_days(found, today))
    report = found.build(form)
    wanted = request.GET.get("csv")
    if wanted is not None:
        table = report.table(wanted)
        if table is None:
            raise Http404(_("This page has no such table."))
        name = f"{slug}-{table.name}-{form.period[0].date():%Y%m%d}-{form.query_end:%Y%m%d}.csv"
        response = HttpResponse(as_csv(table), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return render(request, "insights/page.html", {
        "pages": PAGES, "page": found, "report": report, "form": form,
        "query": form.query(), "plotly_version": plotly.__version__,
    })


@require_GET
def plotly_js(request: HttpRequest, version: str) -> FileResponse:
    """Plotly's JavaScript, from the installed package: the charts work offline."""
    response = FileResponse(PLOTLY_JS.open("rb"), content_type="text/javascript")
    response["Cache-Control"] = "public, max-age=31536000, immutable"  # versioned address
    return response
