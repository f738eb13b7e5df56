"""The exports page: ask for an export, watch it being made, download it.

Who may: the `export` capability (owner, head of sales, marketer); which exports they see
and what the rows hold: `kasatka.exports.actions`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import formats
from django.utils.translation import gettext as _

from kasatka.accounts.access import needs, user_of
from kasatka.accounts.models import User
from kasatka.contacts.models import Stage
from kasatka.engine.clock import now as clock_now
from kasatka.sales.models import LeadSource

from . import actions
from .forms import ExportForm
from .models import ExportJob, ExportState

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Exports listed on the page (the newest).
LISTED = 30


def _summary(job: ExportJob, users: dict[int, str], sources: dict[int, str]) -> str:
    """The filters of an export in words."""
    f = job.filters
    parts = []
    if f.get("date_from") or f.get("date_to"):
        ends = [formats.date_format(date.fromisoformat(f[k]), "SHORT_DATE_FORMAT")
                if f.get(k) else "…" for k in ("date_from", "date_to")]
        parts.append(" – ".join(ends))
    if f.get("stage") in Stage.values:
        parts.append(str(Stage(f["stage"]).label))
    if f.get("seller"):
        parts.append(users.get(f["seller"], "—"))
    if f.get("source"):
        parts.append(sources.get(f["source"], "—"))
    return ", ".join(parts) or _("all rows")


def _rows(jobs: list[ExportJob], user: User) -> list[dict[str, Any]]:
    business = user.business
    users = {u.pk: u.full_name for u in User.objects.filter(business=business)}
    sources = dict(LeadSource.objects.filter(business=business).values_list("id", "name"))
    now = clock_now()
    return [
        {"job": job, "summary": _summary(job, users, sources),
         "requested_by": users.get(job.requested_by_id or 0, "—"),
         "expired": job.state == ExportState.EXPIRED
         or (job.expires_at is not None and job.expires_at <= now)}
        for job in jobs
    ]


@needs("export")
def index(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    assert user.business is not None
    form = ExportForm(user.business, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                actions.request_export(
                    user, data["kind"], data["format"], separator=data["separator"],
                    date_from=data["date_from"], date_to=data["date_to"],
                    stage=data["stage"], seller=data["seller"], source=data["source"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("The export is being made; it appears below."))
                return redirect("exports:index")
        status = 400
    jobs = list(actions.visible_exports(user).order_by("-created_at", "-id")[:LISTED])
    return render(
        request, "exports/index.html", {"form": form, "rows": _rows(jobs, user)}, status=status
    )


@needs("export")
def job(request: HttpRequest, pk: int) -> HttpResponse:
    """One export's row: htmx asks for it every few seconds until it is done."""
    user = user_of(request)
    export = actions.get_export(user, pk)
    return render(request, "exports/_job.html", {"row": _rows([export], user)[0]})


@needs("export")
def download(request: HttpRequest, pk: int) -> HttpResponseBase:
    user = user_of(request)
    export = actions.get_export(user, pk)
    if actions.is_expired(export):
        return render(request, "exports/expired.html", {"job": export}, status=410)
    path = actions.file_of(export)
    if export.state != ExportState.DONE or path is None:
        raise Http404
    day = (export.finished_at or export.created_at).date().isoformat()
    return FileResponse(
        path.open("rb"), as_attachment=True,
        filename=f"kasatka-{export.kind}-{day}-{export.pk}.{export.format}",
        content_type=CONTENT_TYPES[export.format],
    )
