"""Admin for provider accounts: secrets are typed in, never shown back in full."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .models import ProviderAccount


class ProviderAccountForm(forms.ModelForm[ProviderAccount]):
    new_secrets = forms.JSONField(
        label=_("new secrets"),
        required=False,
        help_text=_('JSON, e.g. {"api_id": "…"}; leave empty to keep the stored ones'),
    )

    class Meta:
        model = ProviderAccount
        fields = ("business", "channel", "provider", "name", "options", "is_active",
                  "rate_per_second")

    def clean(self) -> dict[str, Any]:
        from .registry import PROVIDERS

        data = super().clean() or {}
        provider, channel = data.get("provider"), data.get("channel")
        cls = PROVIDERS.get(provider or "")
        if provider and cls is None:
            known = ", ".join(sorted(PROVIDERS))
            self.add_error("provider", _("Unknown provider; known: %(known)s") % {"known": known})
        elif cls is not None and channel and cls.code != channel:
            self.add_error(
                "provider",
                _("%(provider)s sends %(its)s, not %(channel)s")
                % {"provider": provider, "its": cls.code, "channel": channel},
            )
        return data

    def save(self, commit: bool = True) -> ProviderAccount:
        account = super().save(commit=False)
        entered = self.cleaned_data.get("new_secrets")
        if entered:
            account.set_secrets({str(k): str(v) for k, v in entered.items()})
        if commit:
            account.save()
        return account


@admin.register(ProviderAccount)
class ProviderAccountAdmin(admin.ModelAdmin[ProviderAccount]):
    form = ProviderAccountForm
    list_display = ("__str__", "business", "provider", "is_active", "rate_per_second")
    list_filter = ("channel", "provider", "is_active")
    readonly_fields = ("stored_secrets", "webhook_address")
    fields = (
        *ProviderAccountForm.Meta.fields, "stored_secrets", "new_secrets", "webhook_address"
    )

    @admin.display(description=_("webhook address"))
    def webhook_address(self, obj: ProviderAccount) -> str:
        """What to give the provider for statuses and replies (known once saved)."""
        from .views import hook_url

        return hook_url(obj) if obj.pk else str(_("shown once the account is saved"))

    @admin.display(description=_("stored secrets"))
    def stored_secrets(self, obj: ProviderAccount) -> str:
        try:
            return ", ".join(f"{k}: {v}" for k, v in obj.masked_secrets().items()) or "—"
        except ValueError as exc:
            return str(exc)
