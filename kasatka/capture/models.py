"""Lead capture: the forms a business puts on its sites, the consent texts leads were shown,
and the answers kept for `Idempotency-Key` retries."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped


def new_token() -> str:
    """The form's public token: in the page's HTML, so it is an address, not a secret."""
    return secrets.token_urlsafe(12)


class CaptureForm(BusinessScoped):
    """A lead form of one business, embedded in a site as a snippet posting to
    `/capture/<token>/`. The business's default form answers `/capture/<slug>/` too."""

    name = models.CharField(_("name"), max_length=200)
    token = models.CharField(_("token"), max_length=32, unique=True, default=new_token)
    allowed_origins = models.TextField(
        _("allowed sites"), blank=True,
        help_text=_(
            "One origin a line, e.g. https://shop.example; empty: any site may post the form"
        ),
    )
    default_source = models.CharField(
        _("lead source"), max_length=200, blank=True,
        help_text=_("The source of leads that bring no UTM tags and no source of their own"),
    )
    consent_text = models.TextField(
        _("consent text"), blank=True,
        help_text=_("Shown beside the boxes; kept with each consent the form records"),
    )
    # Keys of kasatka.sales.forms.CONSENT_CHOICES, comma-separated.
    channels = models.CharField(_("channels offered"), max_length=100, default="email,sms")
    thank_you_url = models.URLField(
        _("thank-you page"), blank=True,
        help_text=_("Where a plain form post is sent after success; empty: Kasatka's own page"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    is_default = models.BooleanField(_("answers the business's address"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Posts whose honeypot was filled: answered like a success, nothing stored but this.
    trapped = models.PositiveIntegerField(_("bots caught"), default=0)

    class Meta:
        verbose_name = _("capture form")
        verbose_name_plural = _("capture forms")
        constraints = [
            models.UniqueConstraint(
                fields=["business"], condition=Q(is_default=True), name="capture_one_default_form"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def channel_keys(self) -> list[str]:
        return [c for c in self.channels.split(",") if c]

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(
            o.strip().rstrip("/").lower() for o in self.allowed_origins.split() if o.strip()
        )


class ConsentText(BusinessScoped):
    """A consent text as leads were shown it, kept whole once; each consent entry names it by
    its digest (the entry's `source` has room for 300 characters only)."""

    digest = models.CharField(_("SHA-256"), max_length=64)
    text = models.TextField(_("text"))
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)

    class Meta:
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        constraints = [
            models.UniqueConstraint(fields=["business", "digest"], name="capture_consent_text")
        ]

    def __str__(self) -> str:
        return f"{self.digest[:12]}: {self.text[:60]}"


class IdempotentAnswer(models.Model):
    """The first answer to a request sent with an `Idempotency-Key`, replayed to its retries.

    `scope` is whose key space it is ("form:<id>", "apikey:<id>"); `fingerprint` the
    SHA-256 of the request's content, so the same key with other content is refused.
    """

    scope = models.CharField(_("scope"), max_length=40)
    key = models.CharField(_("key"), max_length=255)
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    status = models.PositiveSmallIntegerField(_("status"))
    body = models.TextField(_("body"))
    created_at = models.DateTimeField(_("created"))
    expires_at = models.DateTimeField(_("expires"), db_index=True)

    class Meta:
        verbose_name = _("idempotent answer")
        verbose_name_plural = _("idempotent answers")
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="capture_idempotency_key")
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}: {self.status}"


class LeadInbox(BusinessScoped):
    """A lead a public form accepted, waiting for the intake (`process_inbox`).

    The public endpoint checks what needs no database (the phone's and the e-mail's form,
    the boxes ticked), writes this one row and answers at once; the task worker hands the
    row to the lead intake a moment later. So a burst of posts costs one insert each, and a
    form's visitor never waits on the contact book. A row is kept after it is processed
    (with its contact, or the reason it was refused) for `KASATKA_IDEMPOTENCY_HOURS`: its
    `Idempotency-Key` is answered from it.
    """

    form = models.ForeignKey(
        CaptureForm, verbose_name=_("form"), on_delete=models.CASCADE, related_name="+"
    )
    submission = models.JSONField(_("submission"))
    idempotency_key = models.CharField(_("Idempotency-Key"), max_length=255, blank=True)
    fingerprint = models.CharField(_("fingerprint"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("received"))
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)
    contact = models.ForeignKey(
        "contacts.Contact", verbose_name=_("contact"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+",
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("accepted lead")
        verbose_name_plural = _("accepted leads")
        constraints = [
            models.UniqueConstraint(
                fields=["form", "idempotency_key"], condition=~Q(idempotency_key=""),
                name="capture_inbox_idempotency_key",
            )
        ]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(processed_at__isnull=True), name="capture_inbox_due"
            ),
            models.Index(fields=["received_at"], name="capture_inbox_received"),
        ]

    def __str__(self) -> str:
        return f"{self.form_id} {self.received_at:%Y-%m-%d %H:%M}"
