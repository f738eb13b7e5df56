"""Lead sources, visits and purchases."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kasatka.accounts.models import BusinessScoped


class LeadSource(BusinessScoped):
    """Where leads come from, so that ad spend can be judged."""

    name = models.CharField(_("name"), max_length=200)
    channel = models.CharField(_("channel"), max_length=100, blank=True)
    utm_source = models.CharField("utm_source", max_length=200, blank=True)
    utm_medium = models.CharField("utm_medium", max_length=200, blank=True)
    utm_campaign = models.CharField("utm_campaign", max_length=200, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("lead source")
        verbose_name_plural = _("lead sources")
        constraints = [
            models.UniqueConstraint(fields=["business", "name"], name="lead_source_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class LeadSourceCost(BusinessScoped):
    """What a lead source cost over a period: the cost per lead and per client comes from it."""

    source = models.ForeignKey(
        LeadSource, verbose_name=_("source"), on_delete=models.CASCADE, related_name="costs"
    )
    period_start = models.DateField(pgettext_lazy("a period", "from"))
    period_end = models.DateField(pgettext_lazy("a period", "to"))
    amount = models.DecimalField(_("cost"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("lead source cost")
        verbose_name_plural = _("lead source costs")
        ordering = ["source", "period_start"]

    def __str__(self) -> str:
        return f"{self.source}: {self.amount} ({self.period_start}–{self.period_end})"


class LossKind(models.TextChoices):
    """Why a visit ended without a sale (METHOD.md §1)."""

    OBJECTIVE = "objective", _("objective (outside the seller's control)")
    NON_OBJECTIVE = "non_objective", _("non-objective (a seller's error)")


class LossReason(BusinessScoped):
    """One reason from the business's own list of why a client did not buy."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=15, choices=LossKind.choices)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("loss reason")
        verbose_name_plural = _("loss reasons")
        ordering = ["kind", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["business", "name"], name="loss_reason_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class VisitType(models.IntegerChoices):
    """The four outcomes of a visit (METHOD.md §1)."""

    BOUGHT_CONTACTS_TAKEN = 1, _("1: bought, contacts taken")
    BOUGHT_CONTACTS_REFUSED = 2, _("2: bought, contacts refused")
    LEFT_CONTACTS_TAKEN = 3, _("3: did not buy, contacts taken")
    LEFT_CONTACTS_REFUSED = 4, _("4: did not buy, contacts refused")

    @classmethod
    def classify(cls, bought: bool, contacts_taken: bool) -> VisitType:
        if bought:
            return cls.BOUGHT_CONTACTS_TAKEN if contacts_taken else cls.BOUGHT_CONTACTS_REFUSED
        return cls.LEFT_CONTACTS_TAKEN if contacts_taken else cls.LEFT_CONTACTS_REFUSED


class Visit(BusinessScoped):
    """A visit or conversation recorded by a seller."""

    contact = models.ForeignKey(
        "contacts.Contact",
        verbose_name=_("contact"),
        on_delete=models.CASCADE,
        related_name="visits",
        null=True,
        blank=True,
        help_text=_("Empty when the client refused to leave contacts"),
    )
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("seller"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="visits",
    )
    occurred_at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    bought = models.BooleanField(_("bought"))
    contacts_taken = models.BooleanField(_("contacts taken"))
    visit_type = models.PositiveSmallIntegerField(_("type"), choices=VisitType.choices)
    amount = models.DecimalField(
        _("amount"), max_digits=12, decimal_places=2, null=True, blank=True
    )
    loss_reason = models.ForeignKey(
        LossReason, verbose_name=_("why not bought"), on_delete=models.PROTECT,
        null=True, blank=True, related_name="visits",
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")

    def __str__(self) -> str:
        return f"{self.get_visit_type_display()} {self.occurred_at:%Y-%m-%d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.visit_type = VisitType.classify(self.bought, self.contacts_taken)
        super().save(*args, **kwargs)


class Purchase(BusinessScoped):
    """A purchase: the event that ends warming chains and starts loyalty."""

    contact = models.ForeignKey(
        "contacts.Contact",
        verbose_name=_("contact"),
        on_delete=models.CASCADE,
        related_name="purchases",
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    purchased_at = models.DateTimeField(_("when"), default=timezone.now)
    seller = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("seller"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="purchases",
    )
    on_promotion = models.BooleanField(
        _("on promotion"), default=False, help_text=_("Bought at a discount or in a sale")
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    # The sending system's id (a till's receipt number): a retry with the same one is
    # recognised instead of counted twice (the API's purchase ingestion).
    external_id = models.CharField(_("external id"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        indexes = [
            models.Index(fields=["contact", "purchased_at"]),
            # A business's purchases in a period (the insights, issue 10).
            models.Index(fields=["business", "purchased_at"], name="purchase_by_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["business", "external_id"], condition=~models.Q(external_id=""),
                name="purchase_unique_external_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount} {self.purchased_at:%Y-%m-%d}"


class Referral(BusinessScoped):
    """A client recommended someone: what makes an adept (METHOD.md §4)."""

    referrer = models.ForeignKey(
        "contacts.Contact", verbose_name=_("recommended by"), on_delete=models.CASCADE,
        related_name="referrals",
    )
    referred = models.ForeignKey(
        "contacts.Contact", verbose_name=_("recommended"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="referred_by",
    )
    note = models.CharField(_("note"), max_length=300, blank=True)
    recorded_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")

    def __str__(self) -> str:
        return f"{self.referrer_id} → {self.referred_id}"


class LeadOutcome(models.TextChoices):
    """How a lead's conversion window ended (METHOD.md §3)."""

    BOUGHT = "bought", _("bought")
    COMPETITOR = "competitor", _("bought from a competitor")
    NOT_RELEVANT = "not_relevant", _("no longer relevant")
    NOT_RIPE = "not_ripe", _("has not ripened yet")
    NO_ANSWER = "no_answer", _("no answer")


class LeadConversion(BusinessScoped):
    """A new lead's window of intense touches, and where it led."""

    contact = models.ForeignKey(
        "contacts.Contact", verbose_name=_("contact"), on_delete=models.CASCADE,
        related_name="lead_conversions",
    )
    source = models.ForeignKey(
        LeadSource, verbose_name=_("source"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="conversions",
    )
    started_at = models.DateTimeField(_("started"))
    ends_at = models.DateTimeField(_("window ends"), db_index=True)
    outcome = models.CharField(
        _("outcome"), max_length=12, choices=LeadOutcome.choices, blank=True
    )
    outcome_at = models.DateTimeField(_("outcome recorded"), null=True, blank=True)
    answered_by = models.CharField(
        _("answered by"), max_length=10, blank=True,
        help_text=_("contact (one click), seller (a call) or the system (no answer)"),
    )
    call_task = models.OneToOneField(
        "calls.CallTask", verbose_name=_("question call"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="lead_conversion",
    )

    class Meta:
        verbose_name = _("lead conversion")
        verbose_name_plural = _("lead conversions")
        constraints = [
            models.UniqueConstraint(
                fields=["contact"], condition=models.Q(outcome=""),
                name="lead_conversion_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}: {self.outcome or 'open'}"
