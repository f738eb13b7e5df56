"""The audit trail of the guardrails: every touch held, re-timed, rerouted or skipped."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped


class GuardRule(models.TextChoices):
    QUIET_HOURS = "quiet_hours", _("outside the channel's hours, the contact's local time")
    HOLIDAY = "holiday", _("a public holiday: no offers")
    DAY_OFF = "day_off", _("not a working day: no calls")
    CAP_DAY = "cap_day", _("the day's cap of commercial touches")
    CAP_WEEK = "cap_week", _("the week's cap of commercial touches")
    CAP_CHANNEL_DAY = "cap_channel_day", _("the day's cap on this channel")
    CAP_CHANNEL_WEEK = "cap_channel_week", _("the week's cap on this channel")
    PRIORITY = "priority", _("a touch of a more important chain goes first")
    TOO_LATE = "too_late", _("postponed beyond the limit")
    NO_ROUTE = "no_route", _("no channel may be used: consent, suppression, no address")
    REROUTED = "rerouted", _("a preferred channel could not be used")
    EXIT = "exit", _("an exit rule: purchase, reply, answer, deal closed")


class GuardAction(models.TextChoices):
    RETIMED = "retimed", _("re-timed")
    REROUTED = "rerouted", _("rerouted")
    SKIPPED = "skipped", _("skipped")
    EXITED = "exited", _("chain ended")


class GuardEvent(BusinessScoped):
    """One decision of the guardrails about one enrollment's step: which rule, when, and
    what came of it. Written in bulk by the worker, read on the contact's timeline."""

    enrollment = models.ForeignKey(
        "chains.Enrollment", verbose_name=_("enrollment"), on_delete=models.CASCADE,
        related_name="guard_events",
    )
    contact = models.ForeignKey(
        "contacts.Contact", verbose_name=_("contact"), on_delete=models.CASCADE,
        related_name="guard_events",
    )
    step = models.ForeignKey(
        "chains.Step", verbose_name=_("step"), on_delete=models.CASCADE, null=True,
        blank=True, related_name="+",
    )
    channel = models.CharField(_("channel"), max_length=10, blank=True)
    rule = models.CharField(_("rule"), max_length=20, choices=GuardRule.choices)
    action = models.CharField(_("action"), max_length=10, choices=GuardAction.choices)
    detail = models.CharField(_("detail"), max_length=500, blank=True)
    until = models.DateTimeField(_("moved to"), null=True, blank=True)
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("guardrail decision")
        verbose_name_plural = _("guardrail decisions")
        indexes = [
            models.Index(fields=["contact", "at"]),
            models.Index(fields=["enrollment", "at"]),
        ]

    def __str__(self) -> str:
        return f"{self.enrollment_id} {self.rule}: {self.action}"
