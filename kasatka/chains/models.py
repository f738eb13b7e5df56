"""Chains of touches, their steps, enrollments of contacts and the touches sent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped
from kasatka.contacts.models import Channel, Stage


class ChainKind(models.TextChoices):
    WARMING = "warming", _("warming")
    LOYALTY = "loyalty", _("loyalty")
    LEAD_CONVERSION = "lead_conversion", _("lead conversion")
    NURTURE = "nurture", _("nurture")
    WINBACK = "winback", _("win-back")
    NUDGE = "nudge", _("nudge")


class Chain(BusinessScoped):
    """A logical sequence of touches sent at set intervals."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=ChainKind.choices)
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("A paused chain keeps its contacts but sends nothing"),
    )
    exit_on_purchase = models.BooleanField(
        _("exit on purchase"),
        default=False,
        help_text=_("A purchase by the contact ends their enrollment (warming chains)"),
    )
    exit_on_reply = models.BooleanField(
        _("exit on reply"), default=False, help_text=_("A reply of the contact ends it")
    )
    enrol_on_stage = models.CharField(
        _("start when the contact becomes"), max_length=10, blank=True,
        choices=[("", _("—")), *Stage.choices],
        help_text=_("A contact reaching this funnel stage is enrolled (e.g. regular → loyalty)"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("chain")
        verbose_name_plural = _("chains")

    def __str__(self) -> str:
        return self.name


class DelayFrom(models.TextChoices):
    PREVIOUS = "previous", _("the previous touch")
    ENROLLMENT = "enrollment", _("the enrollment")


def validate_channel_list(value: Any) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError(_("Name at least one channel."))
    unknown = [c for c in value if c not in Channel.values]
    if unknown:
        raise ValidationError(
            _("Unknown channel: %(names)s"), params={"names": ", ".join(map(str, unknown))}
        )
    if len(set(value)) != len(value):
        raise ValidationError(_("A channel is listed twice."))


def validate_step_options(value: Any) -> None:
    """Buttons ({"text", and "url" or "reply"}) and per-channel settings of a step."""
    if not isinstance(value, dict):
        raise ValidationError(_("Options must be a JSON object."))
    buttons = value.get("buttons", [])
    if not isinstance(buttons, list):
        raise ValidationError(_("Buttons must be a list."))
    for button in buttons:
        if (
            not isinstance(button, dict)
            or not str(button.get("text") or "").strip()
            or ("url" in button) == ("reply" in button)
        ):
            raise ValidationError(
                _('Each button needs a "text" and either a "url" or a "reply": %(button)s'),
                params={"button": button},
            )
    whatsapp = value.get("whatsapp", {})
    if not isinstance(whatsapp, dict) or (
        "template" in whatsapp and not str(whatsapp["template"]).strip()
    ):
        raise ValidationError(_('"whatsapp" must be an object with a "template" name.'))


class Step(models.Model):
    """One touch of a chain: when, through which channels, why, and what it says."""

    chain = models.ForeignKey(
        Chain, verbose_name=_("chain"), on_delete=models.CASCADE, related_name="steps"
    )
    position = models.PositiveSmallIntegerField(_("position"))
    delay = models.DurationField(_("delay"), default=timedelta(0))
    delay_from = models.CharField(
        _("counted from"), max_length=10, choices=DelayFrom.choices, default=DelayFrom.PREVIOUS
    )
    channels = models.JSONField(
        _("channels"),
        default=list,
        validators=[validate_channel_list],
        help_text=_("In order of preference: the first one the contact can be reached on is used"),
    )
    is_commercial = models.BooleanField(
        _("commercial"),
        default=True,
        help_text=_("Promotions and offers need commercial consent; useful news is informational"),
    )
    reason = models.CharField(
        _("reason"),
        max_length=300,
        help_text=_("What is new for the client: a touch without a reason is spam"),
    )
    subject_template = models.CharField(_("subject"), max_length=300, blank=True)
    options = models.JSONField(
        _("channel options"),
        default=dict,
        blank=True,
        validators=[validate_step_options],
        help_text=_(
            'Buttons for messengers and per-channel settings, e.g. {"buttons": [{"text": '
            '"Yes", "reply": "yes"}], "whatsapp": {"template": "reminder", "language": "ru"}}'
        ),
    )
    body_template = models.TextField(
        _("text"), help_text=_("The message, or the call script for a call")
    )

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["chain", "position"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "position"], name="step_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.chain} #{self.position}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Refused however it is saved (admin, API, demo, a script): a broken
        # template must never reach the engine.
        self.full_clean(validate_unique=False, validate_constraints=False)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        from .templating import TemplateError, validate_template

        if not (self.reason or "").strip():
            raise ValidationError({"reason": _("Every touch needs a reason.")})
        errors: dict[str, str] = {}
        for field in ("subject_template", "body_template"):
            try:
                validate_template(getattr(self, field) or "")
            except TemplateError as exc:
                errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", _("active")
    PAUSED = "paused", _("paused")
    FINISHED = "finished", _("finished")
    EXITED = "exited", _("exited")


LIVE_ENROLLMENT_STATES = (EnrollmentState.ACTIVE, EnrollmentState.PAUSED)


class Enrollment(BusinessScoped):
    """A contact going through a chain; `next_touch_at` is what the engine polls."""

    contact = models.ForeignKey(
        "contacts.Contact",
        verbose_name=_("contact"),
        on_delete=models.CASCADE,
        related_name="enrollments",
    )
    chain = models.ForeignKey(
        Chain, verbose_name=_("chain"), on_delete=models.CASCADE, related_name="enrollments"
    )
    step = models.ForeignKey(
        Step,
        verbose_name=_("next step"),
        on_delete=models.RESTRICT,
        null=True,
        blank=True,
        related_name="+",
    )
    state = models.CharField(
        _("state"), max_length=10, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE
    )
    next_touch_at = models.DateTimeField(_("next touch"), null=True, blank=True)
    lease_owner = models.CharField(_("claimed by"), max_length=100, blank=True)
    lease_until = models.DateTimeField(_("claimed until"), null=True, blank=True)
    enrolled_at = models.DateTimeField(_("enrolled"), default=timezone.now)
    last_touch_at = models.DateTimeField(_("last touch"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    exit_reason = models.CharField(_("exit reason"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("enrollment")
        verbose_name_plural = _("enrollments")
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "chain"],
                condition=Q(state__in=["active", "paused"]),
                name="enrollment_one_live_per_chain",
            )
        ]
        indexes = [
            # The engine's poll: only rows that have something due are indexed.
            models.Index(
                fields=["next_touch_at"],
                condition=Q(state="active", next_touch_at__isnull=False),
                name="enrollment_due",
            ),
            # Counts of who is in which chain now (Today, the chain list and editor).
            models.Index(fields=["business", "state", "chain"], name="enrollment_by_state"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.chain_id} ({self.state})"


class TouchStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    SENDING = "sending", _("sending")
    DEFERRED = "deferred", _("deferred, will retry")
    SENT = "sent", _("sent")
    DELIVERED = "delivered", _("delivered")
    OPENED = "opened", _("opened")
    REPLIED = "replied", _("replied")
    BOUNCED = "bounced", _("bounced")
    COMPLAINED = "complained", _("complained")
    UNSUBSCRIBED = "unsubscribed", _("unsubscribed")
    FAILED = "failed", _("failed")
    UNKNOWN = "unknown", _("unknown: interrupted while sending")
    SKIPPED = "skipped", _("skipped")


class Touch(BusinessScoped):
    """One message (or call task) produced by a step for one enrollment."""

    enrollment = models.ForeignKey(
        Enrollment, verbose_name=_("enrollment"), on_delete=models.CASCADE, related_name="touches"
    )
    step = models.ForeignKey(
        Step, verbose_name=_("step"), on_delete=models.RESTRICT, related_name="touches"
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        verbose_name=_("contact"),
        on_delete=models.CASCADE,
        related_name="touches",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, blank=True)
    address = models.ForeignKey(
        "contacts.Address",
        verbose_name=_("address"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="touches",
    )
    to = models.CharField(_("to"), max_length=500, blank=True)
    is_commercial = models.BooleanField(_("commercial"), default=True)
    subject = models.CharField(_("subject"), max_length=500, blank=True)
    body = models.TextField(_("text"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=TouchStatus.choices, default=TouchStatus.QUEUED
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, unique=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)
    route_note = models.CharField(
        _("channels skipped"), max_length=500, blank=True,
        help_text=_("Why the channels the step prefers to this one were not used"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), default=timezone.now)

    class Meta:
        verbose_name = _("touch")
        verbose_name_plural = _("touches")
        indexes = [
            models.Index(fields=["contact", "created_at"]),
            models.Index(fields=["business", "status"]),
            # The latest touches of a business (Today, the touch log) without sorting them all.
            models.Index(fields=["business", "updated_at"], name="touch_recent"),
            # Status webhooks find the touch by the provider's message id.
            models.Index(
                fields=["channel", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="touch_provider_id",
            ),
            # The insights (issue 10): a contact's touches by when they were sent, and a
            # business's touches sent in a period. On PostgreSQL the included columns make
            # both index-only (counting a column held here, not the pk; `id` for the last
            # touch before a purchase, ordered by sent_at and id); other databases ignore
            # `include`.
            models.Index(
                fields=["contact", "sent_at"], include=["status", "channel", "step", "id"],
                name="touch_contact_sent",
            ),
            models.Index(
                fields=["business", "sent_at"], include=["step", "channel", "status"],
                name="touch_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} → {self.to} ({self.status})"

    @staticmethod
    def key_for(enrollment_id: int, step_id: int) -> str:
        """The idempotency key: one touch per enrollment and step, whatever happens."""
        return f"t{enrollment_id}-{step_id}"
