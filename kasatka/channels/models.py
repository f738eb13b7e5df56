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


class RateLimit(models.Model):
    """The next free sending slot of one limit (a provider account, a channel), in Unix time.

    Workers reserve slots with one atomic UPDATE (see ratelimit.py), so a limit holds
    for all of them together, on one host or many.
    """

    key = models.CharField(_("key"), max_length=100, unique=True)
    next_free_at = models.FloatField(_("next free slot"), default=0.0)

    class Meta:
        verbose_name = _("rate limit")
        verbose_name_plural = _("rate limits")

    def __str__(self) -> str:
        return self.key


class InboundMessage(BusinessScoped):
    """A message from a contact (or from an address no contact has yet): nothing is dropped."""

    contact = models.ForeignKey(
        "contacts.Contact", verbose_name=_("contact"), on_delete=models.CASCADE,
        null=True, blank=True, related_name="inbound_messages",
    )
    address = models.ForeignKey(
        "contacts.Address", verbose_name=_("address"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    sender = models.CharField(_("from"), max_length=500)
    text = models.TextField(_("text"), blank=True)
    payload = models.JSONField(_("details"), default=dict, blank=True)
    provider_message_id = models.CharField(_("provider message id"), max_length=300, blank=True)
    touch = models.ForeignKey(
        "chains.Touch", verbose_name=_("in reply to"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="replies",
    )
    received_at = models.DateTimeField(_("received"), db_index=True)

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        constraints = [
            # A provider that repeats a webhook must not make a second message.
            models.UniqueConstraint(
                fields=["business", "channel", "provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="inbound_once",
            )
        ]
        indexes = [models.Index(fields=["contact", "received_at"])]

    def __str__(self) -> str:
        return f"{self.channel} from {self.sender}: {self.text[:40]}"
