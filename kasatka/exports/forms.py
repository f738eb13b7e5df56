"""The export request form: what, in which format, and which rows."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.forms import Capitalised, DateInput
from kasatka.accounts.models import Business, User
from kasatka.contacts.models import Stage
from kasatka.sales.models import LeadSource

from .models import ExportFormat, ExportKind, Separator


class UserChoice(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.full_name)


class ExportForm(Capitalised, forms.Form):
    kind = forms.ChoiceField(label=_("what"), choices=ExportKind.choices)
    format = forms.ChoiceField(label=_("format"), choices=ExportFormat.choices)
    separator = forms.ChoiceField(
        label=_("separator"), choices=Separator.choices, initial=Separator.SEMICOLON,
        help_text=_("For CSV only: Excel in Russian reads the semicolon"),
    )
    date_from = forms.DateField(label=_("from"), required=False, widget=DateInput())
    date_to = forms.DateField(label=_("to"), required=False, widget=DateInput())
    stage = forms.ChoiceField(
        label=_("client's stage"), required=False,
        choices=[("", _("any")), *Stage.choices],
    )
    seller = UserChoice(label=_("seller"), required=False, queryset=User.objects.none(),
                        empty_label=_("any"))
    source = forms.ModelChoiceField(label=_("source"), required=False,
                                    queryset=LeadSource.objects.none(), empty_label=_("any"))

    def __init__(self, business: Business, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        seller = self.fields["seller"]
        source = self.fields["source"]
        assert isinstance(seller, forms.ModelChoiceField)
        assert isinstance(source, forms.ModelChoiceField)
        seller.queryset = User.objects.filter(business=business, is_active=True).order_by(
            "first_name", "last_name"
        )
        source.queryset = LeadSource.objects.filter(business=business).order_by("name")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The period ends before it starts."))
        return data
