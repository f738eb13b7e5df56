"""Asking for an export, making its file in the background, and removing it when it expires.

Who sees which export: exports belong to the business. A user with the `export`
capability sees and downloads the business's exports if they read every contact
(`read_all_contacts`: the owner, the head of sales and the marketer today, the same roles
as `export`), so nobody downloads more than they may read; a role that could export but
reads only its own clients would see only the exports it asked for. The rows of an export
are what the requesting user may read when the task runs (`scope_to_user(…, reading=True)`).
"""

from __future__ import annotations

import logging
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from kasatka.accounts.access import can, require
from kasatka.accounts.models import User
from kasatka.contacts.models import Stage
from kasatka.engine.background import enqueue_on_commit
from kasatka.engine.clock import now as clock_now
from kasatka.sales.models import LeadSource

from .kinds import KINDS, Lookups, chunks, rows_for
from .models import ExportFormat, ExportJob, ExportKind, ExportState, Separator
from .writers import open_writer

log = logging.getLogger("kasatka.exports")


def conf(name: str) -> Any:
    """One of the KASATKA_EXPORTS settings."""
    return settings.KASATKA_EXPORTS[name]


def export_dir() -> Path:
    return Path(conf("DIR"))


def file_of(job: ExportJob) -> Path | None:
    """The finished file of a job, or None when there is none (yet, or any more)."""
    if not job.file:
        return None
    path = export_dir() / job.file
    return path if path.is_file() else None


def visible_exports(user: User) -> QuerySet[ExportJob]:
    """The exports the user may see and download (403 without the `export` capability)."""
    business = require(user, "export")
    jobs = ExportJob.objects.filter(business=business)
    if not can(user, "read_all_contacts"):
        jobs = jobs.filter(requested_by=user)
    return jobs


def get_export(user: User, pk: int) -> ExportJob:
    """One export the user may see; 404 otherwise (another business's id is not confirmed)."""
    job = visible_exports(user).filter(pk=pk).first()
    if job is None:
        raise Http404
    return job


def request_export(
    user: User,
    kind: str,
    fmt: str,
    *,
    separator: str = Separator.SEMICOLON,
    date_from: date | None = None,
    date_to: date | None = None,
    stage: str = "",
    seller: User | None = None,
    source: LeadSource | None = None,
) -> ExportJob:
    """Record the export and queue the task that makes its file once this commits."""
    business = require(user, "export")
    if kind not in ExportKind.values:
        raise ValidationError({"kind": _("Unknown kind of export.")})
    if fmt not in ExportFormat.values:
        raise ValidationError({"format": _("Unknown format.")})
    if separator not in Separator.values:
        raise ValidationError({"separator": _("Unknown separator.")})
    if stage and stage not in Stage.values:
        raise ValidationError({"stage": _("Unknown stage.")})
    if seller is not None and seller.business_id != business.pk:
        raise ValidationError({"seller": _("Unknown seller.")})
    if source is not None and source.business_id != business.pk:
        raise ValidationError({"source": _("Unknown source.")})
    if date_from and date_to and date_from > date_to:
        raise ValidationError({"date_to": _("The period ends before it starts.")})
    filters: dict[str, Any] = {}
    if date_from:
        filters["date_from"] = date_from.isoformat()
    if date_to:
        filters["date_to"] = date_to.isoformat()
    if stage:
        filters["stage"] = stage
    if seller is not None:
        filters["seller"] = seller.pk
    if source is not None:
        filters["source"] = source.pk
    job = ExportJob.objects.create(
        business=business, requested_by=user, kind=kind, format=fmt, separator=separator,
        filters=filters, created_at=clock_now(),
    )
    from .tasks import make_export

    enqueue_on_commit(make_export, job.pk)
    return job


def _fail(job: ExportJob, error: str) -> None:
    ExportJob.objects.filter(pk=job.pk).update(
        state=ExportState.FAILED, error=error, finished_at=clock_now()
    )


def run_export(job_id: int) -> str:
    """Make the file of one export; returns its state. Run again, it starts afresh."""
    job = ExportJob.objects.select_related("business", "requested_by").get(pk=job_id)
    if job.state in (ExportState.DONE, ExportState.EXPIRED, ExportState.FAILED):
        return job.state
    user = job.requested_by
    if user is None or user.business_id != job.business_id or not can(user, "export"):
        # The person left or lost the right since: nobody's rights to borrow.
        _fail(job, "The user who asked for this export may no longer export.")
        return ExportState.FAILED
    kind = KINDS[job.kind]
    look = Lookups(job.business)
    total = rows_for(user, kind, job.filters, look.zone).count()
    ExportJob.objects.filter(pk=job.pk).update(
        state=ExportState.RUNNING, started_at=clock_now(), rows=0, total=total, error=""
    )
    relative = f"{job.business_id}/{job.pk}-{job.kind}.{job.format}"
    path = export_dir() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    size = int(conf("CHUNK_ROWS"))
    written = 0
    try:
        writer = open_writer(part, job.format, kind.columns, job.separator, job.kind)
        try:
            for lines in chunks(user, kind, job.filters, look, size):
                writer.write(lines)
                written += len(lines)
                ExportJob.objects.filter(pk=job.pk).update(rows=written)
        finally:
            writer.close()
        os.replace(part, path)
    except Exception as exc:
        part.unlink(missing_ok=True)
        log.exception("export %s failed", job.pk)
        _fail(job, f"{type(exc).__name__}: {exc}")
        raise
    finished = clock_now()
    keep = timedelta(days=int(conf("KEEP_DAYS")))
    ExportJob.objects.filter(pk=job.pk).update(
        state=ExportState.DONE, rows=written, file=relative, finished_at=finished,
        expires_at=finished + keep,
    )
    from .tasks import sweep_exports

    # The sweep is due by the business's clock; the task queue's time is the real one.
    enqueue_on_commit(sweep_exports, run_after=timezone.now() + keep + timedelta(minutes=1))
    return ExportState.DONE


def remove_expired(now: Any = None) -> int:
    """Delete the files of exports past their time; returns how many were removed."""
    now = now or clock_now()
    removed = 0
    for job in ExportJob.objects.exclude(file="").filter(expires_at__lte=now):
        (export_dir() / job.file).unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job.pk).update(state=ExportState.EXPIRED, file="")
        removed += 1
    return removed


def is_expired(job: ExportJob) -> bool:
    """Past its time by the business's clock, whether or not the sweep has run yet."""
    if job.state == ExportState.EXPIRED:
        return True
    return job.expires_at is not None and job.expires_at <= clock_now()
