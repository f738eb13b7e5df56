"""Call tasks: a touch a seller delivers by phone, closed with an outcome."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped


class CallOutcome(models.TextChoices):
    REACHED = "reached", _("reached")
    NO_ANSWER = "no_answer", _("no answer")
    CALL_BACK = "call_back", _("call back later")
    REFUSED = "refused", _("refused")


class CallTask(BusinessScoped):
    """A call to make: who, the number, the script, and how it went."""

    touch = models.OneToOneField(
        "chains.Touch",
        verbose_name=_("touch"),
        on_delete=models.CASCADE,
        related_name="call_task",
        null=True,
        blank=True,
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        verbose_name=_("contact"),
        on_delete=models.CASCADE,
        related_name="call_tasks",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("seller"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="call_tasks",
    )
    phone = models.CharField(_("phone"), max_length=32)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    script = models.TextField(_("script"), blank=True)
    due_at = models.DateTimeField(_("due"), default=timezone.now)
    attempts = models.PositiveSmallIntegerField(
        _("calls made"), default=1, help_text=_("Counts the tries after no answer")
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=CallOutcome.choices, blank=True)
    callback_at = models.DateTimeField(_("call back at"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("call task")
        verbose_name_plural = _("call tasks")
        indexes = [
            models.Index(
                fields=["assignee", "due_at"],
                condition=models.Q(closed_at__isnull=True),
                name="calltask_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.phone} ({self.get_outcome_display() or _('open')})"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
