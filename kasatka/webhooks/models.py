"""Outbound webhooks: a business's subscriptions, the events it emitted, one delivery per
event and subscription (the outbox), and the log of every attempt."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped, User
from kasatka.channels import secrets


class EventType(models.TextChoices):
    CONTACT_CREATED = "contact.created", _("a contact was created")
    VISIT_RECORDED = "visit.recorded", _("a visit was recorded")
    TOUCH_SENT = "touch.sent", _("a touch was sent")
    TOUCH_DELIVERED = "touch.delivered", _("a touch was delivered")
    TOUCH_FAILED = "touch.failed", _("a touch failed")
    REPLY_RECEIVED = "reply.received", _("a reply came in")
    DEAL_STAGE_CHANGED = "deal.stage_changed", _("a deal changed stage")
    CONSENT_CHANGED = "consent.changed", _("a consent changed")


# Sent only by the "send a test event" button, to the one subscription it was pressed on.
TEST_EVENT = "webhook.test"


class WebhookSubscription(BusinessScoped):
    """A receiver of the business's events: where they go and how they are signed."""

    name = models.CharField(_("name"), max_length=100, blank=True)
    url = models.URLField(_("URL"), max_length=500)
    event_types = models.JSONField(_("events"), default=list)
    # The signing secret "whsec_…", encrypted at rest (kasatka.channels.secrets).
    secret_encrypted = models.TextField(_("signing secret (encrypted)"))
    is_active = models.BooleanField(
        _("active"), default=True,
        help_text=_("Unticked: no events are recorded for this receiver"),
    )
    paused_at = models.DateTimeField(_("paused"), null=True, blank=True)
    pause_reason = models.CharField(_("why paused"), max_length=300, blank=True)
    # Since when every attempt has failed (cleared by any accepted delivery).
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    created_by = models.ForeignKey(
        User, verbose_name=_("created by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Real time, whatever the clock: the emitters' cache compares it to see a change.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name or self.url

    @property
    def secret(self) -> str:
        return secrets.decrypt(self.secret_encrypted).get("secret", "")

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = secrets.encrypt({"secret": value})

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    def event_labels(self) -> list[str]:
        labels = dict(EventType.choices)
        return [str(labels.get(t, t)) for t in self.event_types]


class WebhookEvent(BusinessScoped):
    """Something that happened, as sent: its id (the `webhook-id`) and its exact body."""

    uid = models.CharField(_("id"), max_length=40, unique=True)
    type = models.CharField(_("type"), max_length=40)
    # The JSON exactly as it is signed and sent, on every attempt.
    body = models.TextField(_("body"))
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")

    def __str__(self) -> str:
        return f"{self.type} {self.uid}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("pending")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed, given up")
    HELD = "held", _("held while paused")


class WebhookDelivery(BusinessScoped):
    """One event for one subscription: written with the event, in the emitter's
    transaction, and attempted until the receiver answers 2xx or the window closes."""

    subscription = models.ForeignKey(
        WebhookSubscription, verbose_name=_("subscription"), on_delete=models.CASCADE,
        related_name="deliveries",
    )
    event = models.ForeignKey(
        WebhookEvent, verbose_name=_("event"), on_delete=models.CASCADE,
        related_name="deliveries",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    # Read with Kasatka's clock, so that tests move time across days.
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    give_up_at = models.DateTimeField(_("retried until"))
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("last answer"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"))

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event"], name="webhook_delivery_once"
            ),
        ]
        indexes = [
            # What the sweep polls.
            models.Index(
                fields=["next_attempt_at"], name="webhook_delivery_due",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_log"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.subscription_id}: {self.status}"


class DeliveryAttempt(BusinessScoped):
    """One POST to the receiver and what came of it."""

    delivery = models.ForeignKey(
        WebhookDelivery, verbose_name=_("delivery"), on_delete=models.CASCADE,
        related_name="attempt_log",
    )
    at = models.DateTimeField(_("time"))
    status_code = models.PositiveSmallIntegerField(_("answer"), null=True, blank=True)
    response = models.TextField(_("response (start)"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration, ms"), default=0)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"{self.delivery_id} at {self.at}: {self.status_code or self.error}"

    @property
    def accepted(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

