"""Lead sources, visits and purchases."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        indexes = [models.Index(fields=["contact", "purchased_at"])]

    def __str__(self) -> str:
        return f"{self.amount} {self.purchased_at:%Y-%m-%d}"
