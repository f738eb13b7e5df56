"""The import pages: upload, map the columns over a preview, watch the progress, the report.

Owner and head of sales only (`@needs("import")`); a job of another business is 404.
"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kasatka.accounts.access import business_of, get_scoped, needs, user_of

from . import actions, conf
from .mapping import fields_of
from .models import ImportJob, ImportKind, ImportState

REPORT_ROWS = 200


def _job(request: HttpRequest, pk: int) -> ImportJob:
    user = user_of(request)
    job: ImportJob = get_scoped(user, ImportJob.objects.all(), "created_by", pk)
    return job


@needs("import")
@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    business = business_of(request.user)
    error = ""
    if request.method == "POST":
        upload = request.FILES.get("file")
        kind = request.POST.get("kind", "")
        if upload is None:
            error = _("Choose a file.")
        else:
            try:
                job = actions.create_job(business, kind, upload, by=user_of(request))
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                return redirect("imports:job", job.pk)
    jobs = ImportJob.objects.filter(business=business).select_related("created_by")
    return render(request, "imports/index.html", {
        "jobs": jobs.order_by("-created_at", "-id")[:30],
        "kinds": ImportKind.choices,
        "error": error,
        "max_mb": conf.number("MAX_UPLOAD_MB"),
    }, status=400 if error else 200)


@needs("import")
@require_http_methods(["GET", "POST"])
def job(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    errors: list[str] = []
    if request.method == "POST":
        if job.state not in (ImportState.UPLOADED, ImportState.MAPPED):
            return redirect("imports:job", job.pk)
        mapping = {
            str(i): request.POST.get(f"column-{i}", "") for i in range(len(job.header))
        }
        try:
            actions.set_mapping(job, mapping)
            actions.start_import(job)
        except ValidationError as exc:
            errors = exc.messages
            job.mapping = {k: v for k, v in mapping.items() if v}
        else:
            return redirect("imports:job", job.pk)
    context: dict[str, Any] = {"job": job, "errors": errors}
    if job.state in (ImportState.UPLOADED, ImportState.MAPPED):
        fields = fields_of(job.kind)
        preview = actions.preview(job)
        context.update(
            fields=list(fields.items()),
            columns=[
                {"index": i, "name": name or f"#{i + 1}", "chosen": job.mapping.get(str(i), ""),
                 "examples": [values[i] for _line, values in preview if i < len(values)
                              and values[i].strip()][:3]}
                for i, name in enumerate(job.header)
            ],
            preview=preview,
            has_consent="consent" in job.mapping.values(),
        )
    else:
        context.update(_report(job))
    return render(request, "imports/job.html", context, status=400 if errors else 200)


def _report(job: ImportJob) -> dict[str, Any]:
    if job.state != ImportState.DONE and job.state != ImportState.FAILED:
        return {}
    return {"rejections": job.rejections.order_by("line", "id")[:REPORT_ROWS]}


@needs("import")
@require_GET
def progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress box, polled by htmx while the import runs; the report once it ended."""
    job = _job(request, pk)
    return render(request, "imports/_progress.html", {"job": job, **_report(job)})


@needs("import")
@require_POST
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        actions.resume_import(job)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("imports:job", job.pk)


@needs("import")
@require_POST
def delete(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    try:
        actions.delete_job(job)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("imports:job", job.pk)
    return redirect("imports:index")


class _Echo:
    def write(self, value: str) -> str:
        return value


@needs("import")
@require_GET
def rejected_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every rejected row (and every refused consent) as CSV, to fix and upload again."""
    job = _job(request, pk)
    writer = csv.writer(_Echo())
    rows = job.rejections.order_by("line", "id").values_list(
        "line", "code", "reason", "went_in", "row"
    )

    def lines() -> Any:
        yield "\ufeff" + writer.writerow(
            [_("line"), _("code"), _("reason"), _("the row went in"), _("row")]
        )
        for line, code, reason, went_in, row in rows.iterator(chunk_size=2000):
            yield writer.writerow([line, code, reason, _("yes") if went_in else _("no"), row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-rejected.csv"'
    return response
