"""Printed letters: a touch the shop prints, puts in an envelope and posts."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped


class LetterStatus(models.TextChoices):
    TO_PRINT = "to_print", _("to print")
    PRINTED = "printed", _("printed")
    POSTED = "posted", _("posted")


class Letter(BusinessScoped):
    """One letter as it will be printed: frozen when the touch is sent, like an e-mail's text.

    The name, greeting and signature are declined and chosen once, at send time, so the
    letter printed next week reads as the touch the engine recorded.
    """

    touch = models.OneToOneField(
        "chains.Touch",
        verbose_name=_("touch"),
        on_delete=models.CASCADE,
        related_name="letter",
        null=True,
        blank=True,
    )
    contact = models.ForeignKey(
        "contacts.Contact",
        verbose_name=_("contact"),
        on_delete=models.CASCADE,
        related_name="letters",
    )
    postal_address = models.TextField(
        _("postal address"), help_text=_("As it goes on the envelope; one line per line")
    )
    recipient = models.CharField(
        _("recipient"), max_length=300, blank=True, help_text=_("The name in the dative case")
    )
    greeting = models.CharField(_("greeting"), max_length=300, blank=True)
    body = models.TextField(_("text"), blank=True)
    signature = models.CharField(
        _("signature"), max_length=300, blank=True, help_text=_("The seller who signs it")
    )
    language = models.CharField(_("language"), max_length=8, blank=True)
    due_date = models.DateField(_("due"), default=date.today)
    status = models.CharField(
        _("status"), max_length=10, choices=LetterStatus.choices, default=LetterStatus.TO_PRINT
    )
    printed_at = models.DateTimeField(_("printed"), null=True, blank=True)
    posted_at = models.DateTimeField(_("posted"), null=True, blank=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("posted by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        verbose_name = _("letter")
        verbose_name_plural = _("letters")
        indexes = [
            # The print queue: a business's letters not yet posted, by due date.
            models.Index(
                fields=["business", "status", "due_date"],
                condition=~models.Q(status="posted"),
                name="letter_queue",
            )
        ]

    def __str__(self) -> str:
        return f"{self.recipient or self.contact_id} ({self.get_status_display()})"

    @property
    def address_lines(self) -> list[str]:
        """The postal address as printed, one entry per line."""
        return address_lines(self.postal_address)


def address_lines(value: str) -> list[str]:
    """A stored address as its printed lines; a long line wraps where it is printed."""
    return [line.strip() for line in value.replace("\r", "").split("\n") if line.strip()]
