"""Import jobs (a file, its mapping, its progress and counts) and their rejected rows."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped


class ImportKind(models.TextChoices):
    CONTACTS = "contacts", _("contacts")
    PURCHASES = "purchases", _("purchases")
    DEALS = "deals", _("deals")


class ImportState(models.TextChoices):
    UPLOADED = "uploaded", _("uploaded")
    MAPPED = "mapped", _("columns mapped")
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class ImportJob(BusinessScoped):
    """One file imported into a business, from upload to report.

    The checkpoint (`rows_done`, the data rows read so far, and the counts) is written in the
    same transaction as each batch's rows, so a job that resumes after a dead worker starts
    exactly after the last batch that went in.
    """

    kind = models.CharField(_("what"), max_length=10, choices=ImportKind.choices)
    state = models.CharField(
        _("state"), max_length=10, choices=ImportState.choices, default=ImportState.UPLOADED
    )
    file_name = models.CharField(_("file"), max_length=255)
    stored_as = models.CharField(
        _("stored as"), max_length=255, help_text=_("Under the imports folder")
    )
    file_size = models.PositiveBigIntegerField(_("size"), default=0)
    file_format = models.CharField(_("format"), max_length=4, default="csv")  # csv or xlsx
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    separator = models.CharField(_("separator"), max_length=1, blank=True)
    header = models.JSONField(_("columns"), default=list)
    # Column index (as a string, JSON keys are) → the field it fills.
    mapping = models.JSONField(_("column mapping"), default=dict)
    rows_total = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    rows_done = models.PositiveIntegerField(_("rows read"), default=0)
    created = models.PositiveIntegerField(_("contacts created"), default=0)
    merged = models.PositiveIntegerField(_("rows merged into a contact"), default=0)
    updated = models.PositiveIntegerField(_("contacts completed"), default=0)
    rejected = models.PositiveIntegerField(_("rows rejected"), default=0)
    records = models.PositiveIntegerField(_("purchases or deals created"), default=0)
    duplicates = models.PositiveIntegerField(_("already there"), default=0)
    consents = models.PositiveIntegerField(_("consents recorded"), default=0)
    consents_refused = models.PositiveIntegerField(_("consents refused"), default=0)
    without_consent = models.PositiveIntegerField(_("rows without consent"), default=0)
    # Purchases up to this id existed before the job: only they make a row a duplicate.
    purchases_before = models.BigIntegerField(default=0)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        indexes = [models.Index(fields=["business", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.file_name} ({self.state})"

    @property
    def percent(self) -> int:
        if not self.rows_total:
            return 100 if self.state == ImportState.DONE else 0
        return min(100, self.rows_done * 100 // self.rows_total)

    @property
    def is_active(self) -> bool:
        return self.state in (ImportState.QUEUED, ImportState.RUNNING)

    def counts(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in COUNT_FIELDS}


COUNT_FIELDS = (
    "created", "merged", "updated", "rejected", "records", "duplicates", "consents",
    "consents_refused", "without_consent",
)


class ImportRejection(models.Model):
    """A row of the file that did not go in (or went in without its consent): line, why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="rejections")
    line = models.PositiveIntegerField(_("line"))
    # What kind of problem, for programs and tests: phone, email, date, amount, columns…
    code = models.CharField(_("code"), max_length=20, blank=True)
    reason = models.CharField(_("reason"), max_length=500)
    row = models.TextField(_("row"), blank=True, help_text=_("The row's values as read"))
    # A note on a row that went in without part of what it asked (a consent refused).
    went_in = models.BooleanField(_("the row went in"), default=False)

    class Meta:
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        indexes = [models.Index(fields=["job", "line"])]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.line} {self.reason}"
