"""The form that makes an API key: a name to recognise it by and what it may do."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.forms import Capitalised

from .models import Scope


class ApiKeyForm(Capitalised, forms.Form):
    name = forms.CharField(
        label=_("name"), max_length=100,
        help_text=_("Which system uses it, e.g. “Website form” or “1C”"),
    )
    scope = forms.ChoiceField(
        label=_("may"), choices=Scope.choices, initial=Scope.LEADS,
        help_text=_("Leads only is enough for a website form; a till or 1C needs read and write"),
    )
