"""Provider accounts: which SMS gateway or bot a business sends through, with its secrets."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped
from kasatka.contacts.models import Channel

from . import secrets


class ProviderAccount(BusinessScoped):
    """One connection to a provider (SMS.ru, SMSC.ru, Twilio, a Telegram bot…)."""

    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    provider = models.CharField(_("provider"), max_length=30)
    name = models.CharField(_("name"), max_length=100, blank=True)
    options = models.JSONField(
        _("options"), default=dict, blank=True,
        help_text=_("Settings that are not secret: sender name, API address"),
    )
    secrets_encrypted = models.TextField(_("secrets (encrypted)"), blank=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    rate_per_second = models.FloatField(
        _("messages per second"), null=True, blank=True,
        help_text=_("The provider's limit, shared by all workers; empty: no limit"),
    )

    class Meta:
        verbose_name = _("provider account")
        verbose_name_plural = _("provider accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["business", "channel"],
                condition=models.Q(is_active=True),
                name="provider_one_active_per_channel",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.name or self.provider}"

    @property
    def secrets(self) -> dict[str, str]:
        return secrets.decrypt(self.secrets_encrypted)

    def set_secrets(self, values: dict[str, str]) -> None:
        self.secrets_encrypted = secrets.encrypt(values)

    def masked_secrets(self) -> dict[str, Any]:
        return {name: secrets.mask(value) for name, value in self.secrets.items()}
