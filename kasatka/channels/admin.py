"""Admin for provider accounts: secrets are typed in, never shown back in full."""

from __future__ import annotations

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
    readonly_fields = ("stored_secrets",)
    fields = (*ProviderAccountForm.Meta.fields, "stored_secrets", "new_secrets")

    @admin.display(description=_("stored secrets"))
    def stored_secrets(self, obj: ProviderAccount) -> str:
        try:
            return ", ".join(f"{k}: {v}" for k, v in obj.masked_secrets().items()) or "—"
        except ValueError as exc:
            return str(exc)
