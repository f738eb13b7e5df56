"""The owner's form of a webhook subscription."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import EventType


class SubscriptionForm(forms.Form):
    name = forms.CharField(
        label=_("name"), max_length=100, required=False,
        help_text=_("What receives the events, for you: “1C”, “the site”"),
    )
    url = forms.CharField(
        label=_("URL"), max_length=500,
        help_text=_("Where the events are POSTed; https:// (http:// only for this machine)"),
        widget=forms.URLInput(attrs={"placeholder": "https://example.ru/kasatka-hooks"}),
    )
    event_types = forms.MultipleChoiceField(
        label=_("events"), choices=EventType.choices, widget=forms.CheckboxSelectMultiple,
    )


class EditSubscriptionForm(SubscriptionForm):
    is_active = forms.BooleanField(
        label=_("active"), required=False,
        help_text=_("Unticked: no events are recorded for this receiver"),
    )
