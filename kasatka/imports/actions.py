"""Business actions of imports: upload a file, map its columns, start, resume, run.

The page, the tests and the benchmark all go through these; the background task
`run_import` calls `run_job`.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _
from django_tasks import task

from kasatka.accounts.models import Business, User
from kasatka.engine.background import enqueue_on_commit
from kasatka.engine.clock import now as clock_now
from kasatka.sales.models import Purchase

from . import conf, runner
from . import mapping as columns
from .models import ImportJob, ImportKind, ImportState
from .reading import Table, TableFormat, UnreadableFile, detect

log = logging.getLogger("kasatka.imports")
SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx")


def imports_dir() -> Path:
    return conf.folder()


def create_job(
    business: Business,
    kind: str,
    file: UploadedFile | IO[bytes] | Path,
    *,
    by: User | None = None,
    file_name: str = "",
) -> ImportJob:
    """Store the file, detect its format, read its header and guess the mapping.

    A file that is no table (empty, unreadable, too large) is refused with a
    ValidationError and nothing is kept."""
    if kind not in ImportKind.values:
        raise ValidationError(_("Choose what the file holds."), code="kind")
    name = file_name or (file.name if isinstance(file, Path) else getattr(file, "name", "")) or ""
    name = Path(str(name)).name[:255] or "import.csv"
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise ValidationError(
            _("Upload a CSV or an Excel (.xlsx) file."), code="format"
        )
    relative = f"{business.pk}/{uuid.uuid4().hex}{suffix}"
    stored = imports_dir() / relative
    stored.parent.mkdir(parents=True, exist_ok=True)
    limit = conf.number("MAX_UPLOAD_MB") * 1024 * 1024
    if isinstance(file, Path):
        shutil.copyfile(file, stored)
    else:
        with open(stored, "wb") as out:
            chunks = file.chunks() if isinstance(file, UploadedFile) else iter(
                lambda: file.read(1024 * 1024), b""
            )
            for chunk in chunks:
                out.write(chunk)
    size = stored.stat().st_size
    try:
        if size > limit:
            raise ValidationError(
                _("The file is larger than %(mb)s MB.")
                % {"mb": conf.number("MAX_UPLOAD_MB")}, code="size",
            )
        try:
            form = detect(stored)
            header = Table(stored, form).header()
        except (UnreadableFile, UnicodeDecodeError) as exc:
            raise ValidationError(str(exc), code="unreadable") from exc
        if suffix == ".xlsx" and form.file_format != "xlsx":
            raise ValidationError(_("This is not an Excel (.xlsx) file."), code="format")
        if not any(header):
            raise ValidationError(_("The first row must name the columns."), code="header")
    except ValidationError:
        stored.unlink(missing_ok=True)
        raise
    return ImportJob.objects.create(
        business=business, kind=kind, file_name=name, stored_as=relative, file_size=size,
        file_format=form.file_format, encoding=form.encoding, separator=form.separator,
        header=header, mapping=columns.guess(kind, header), created_by=by,
        created_at=clock_now(),
    )


def preview(job: ImportJob) -> list[tuple[int, list[str]]]:
    """The first rows of the file, for the mapping step."""
    return Table(imports_dir() / job.stored_as, _form(job)).preview(
        conf.number("PREVIEW_ROWS")
    )


def _form(job: ImportJob) -> TableFormat:
    return TableFormat(job.file_format, job.encoding, job.separator)


def set_mapping(job: ImportJob, mapping: Mapping[str, str]) -> ImportJob:
    """Save the column mapping (checked: known fields, each once, the required ones)."""
    if job.state not in (ImportState.UPLOADED, ImportState.MAPPED):
        raise ValidationError(_("This import has started: its mapping cannot change."))
    job.mapping = columns.check(job.kind, mapping, len(job.header))
    job.state = ImportState.MAPPED
    job.save(update_fields=["mapping", "state"])
    return job


def start_import(job: ImportJob) -> ImportJob:
    """Queue the import; it runs in the task worker once this transaction commits."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.state != ImportState.MAPPED:
            raise ValidationError(_("Map the columns first."))
        job.purchases_before = (
            Purchase.objects.filter(business_id=job.business_id).aggregate(m=Max("pk"))["m"]
            or 0
        )
        job.state = ImportState.QUEUED
        job.save(update_fields=["state", "purchases_before"])
        enqueue_on_commit(run_import, job.pk)
    return job


def resume_import(job: ImportJob) -> ImportJob:
    """Queue a failed import again: it goes on after the last batch that went in."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.state != ImportState.FAILED:
            raise ValidationError(_("Only a failed import can be resumed."))
        job.state = ImportState.QUEUED
        job.error = ""
        job.save(update_fields=["state", "error"])
        enqueue_on_commit(run_import, job.pk)
    return job


def run_job(job_id: int, **options: int) -> ImportJob | None:
    """Run a queued (or, after a dead worker, running) job to its end; None if none is due.

    Any error fails the job with its message, after the last good batch: the page offers to
    resume it."""
    claimed = ImportJob.objects.filter(
        pk=job_id, state__in=[ImportState.QUEUED, ImportState.RUNNING]
    ).update(state=ImportState.RUNNING)
    if not claimed:
        return None
    job = ImportJob.objects.select_related("business", "created_by").get(pk=job_id)
    if job.started_at is None:
        job.started_at = clock_now()
        ImportJob.objects.filter(pk=job.pk).update(started_at=job.started_at)
    try:
        runner.run(job, **options)
    except Exception as exc:
        log.exception("import %s failed after %s rows", job.pk, job.rows_done)
        ImportJob.objects.filter(pk=job.pk).update(
            state=ImportState.FAILED, error=str(exc)[:2000] or exc.__class__.__name__
        )
        job.refresh_from_db()
        return job
    job.finished_at = clock_now()
    ImportJob.objects.filter(pk=job.pk).update(
        state=ImportState.DONE, finished_at=job.finished_at
    )
    job.state = ImportState.DONE
    return job


@task()
def run_import(job_id: int) -> None:
    """The background task of an import."""
    run_job(job_id)


def delete_job(job: ImportJob) -> None:
    """Forget an import that is not running, and its stored file."""
    if job.is_active:
        raise ValidationError(_("A running import cannot be deleted."))
    stored = imports_dir() / job.stored_as
    job.delete()
    transaction.on_commit(lambda: stored.unlink(missing_ok=True))


__all__ = ["UnreadableFile", "create_job", "delete_job", "preview", "resume_import",
           "run_import", "run_job", "set_mapping", "start_import"]
