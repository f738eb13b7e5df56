"""Export jobs: a file of contacts, touches, visits or deals made in the background."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped, User


class ExportKind(models.TextChoices):
    CONTACTS = "contacts", _("contacts")
    TOUCHES = "touches", _("touches")
    VISITS = "visits", _("visits")
    DEALS = "deals", _("deals")


class ExportFormat(models.TextChoices):
    CSV = "csv", _("CSV")
    XLSX = "xlsx", _("Excel (XLSX)")


class Separator(models.TextChoices):
    # Russian Excel reads `;` (the comma is the decimal mark there).
    SEMICOLON = ";", _("semicolon ; (Excel in Russian)")
    COMMA = ",", _("comma ,")


class ExportState(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("ready")
    FAILED = "failed", _("failed")
    EXPIRED = "expired", _("expired")


class ExportJob(BusinessScoped):
    """One export asked for by a user; its file lives under KASATKA_EXPORTS["DIR"].

    The rows are what the requesting user may read, worked out when the task runs. The
    file is written beside its final name and renamed when complete, so a half-written
    file is never offered; a task that died starts again from the first row.
    """

    requested_by = models.ForeignKey(
        User, verbose_name=_("requested by"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+",
    )
    kind = models.CharField(_("what"), max_length=10, choices=ExportKind.choices)
    format = models.CharField(_("format"), max_length=4, choices=ExportFormat.choices)
    separator = models.CharField(
        _("separator"), max_length=1, choices=Separator.choices, default=Separator.SEMICOLON
    )
    # What the user chose: date_from, date_to (ISO dates), stage, seller (id), source (id).
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    state = models.CharField(
        _("state"), max_length=8, choices=ExportState.choices, default=ExportState.QUEUED
    )
    rows = models.PositiveIntegerField(_("rows written"), default=0)
    total = models.PositiveIntegerField(_("rows in all"), null=True, blank=True)
    # Relative to KASATKA_EXPORTS["DIR"]; empty until done and again once removed.
    file = models.CharField(_("file"), max_length=300, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    expires_at = models.DateTimeField(_("available until"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        indexes = [
            models.Index(fields=["business", "-created_at"], name="export_recent"),
            # The sweep reads only the files still on disk.
            models.Index(fields=["expires_at"], condition=~Q(file=""), name="export_expiring"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}.{self.format} #{self.pk} ({self.state})"

    @property
    def is_pending(self) -> bool:
        return self.state in (ExportState.QUEUED, ExportState.RUNNING)

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, self.rows * 100 // self.total)
