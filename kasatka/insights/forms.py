"""The filters above every insight page: the period (in the business's days), a seller, a source.

A bad filter never breaks the page: the form says what is wrong and the page shows the
default period for everyone.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import Business, Role, User
from kasatka.sales.models import LeadSource

from .filters import Filters

SELLING_ROLES = (Role.OWNER, Role.HEAD_OF_SALES, Role.SELLER)


class DateInput(forms.DateInput):
    input_type = "date"

    def format_value(self, value: Any) -> str | None:
        return value.isoformat() if isinstance(value, date) else value


class InsightFilters(forms.Form):
    start = forms.DateField(label=_("From"), widget=DateInput)
    end = forms.DateField(label=_("To"), widget=DateInput)
    seller = forms.ModelChoiceField(
        label=_("Seller"), queryset=User.objects.none(), required=False,
        empty_label=_("Everyone"),
    )
    source = forms.ModelChoiceField(
        label=_("Lead source"), queryset=LeadSource.objects.none(), required=False,
        empty_label=_("Every source"),
    )

    def __init__(self, business: Business, data: Any, *, default_days: int) -> None:
        today = timezone.now().astimezone(business.zone).date()
        self.default_start = today - timedelta(days=default_days - 1)
        self.default_end = today
        # An empty form (the page opened from the menu) is the default period, valid.
        given = {k: v for k, v in data.items() if v not in ("", None)} if data else {}
        values = {"start": self.default_start, "end": self.default_end, **given}
        super().__init__(values)
        self.business = business
        seller = self.fields["seller"]
        assert isinstance(seller, forms.ModelChoiceField)
        seller.queryset = User.objects.filter(
            business=business, role__in=SELLING_ROLES
        ).order_by("first_name", "last_name", "pk")
        seller.label_from_instance = lambda user: user.full_name  # type: ignore[method-assign,assignment]
        source = self.fields["source"]
        assert isinstance(source, forms.ModelChoiceField)
        source.queryset = LeadSource.objects.filter(business=business).order_by("name", "pk")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end:
            if end < start:
                self.add_error("end", _("The period ends before it starts."))
            elif (end - start).days >= settings.KASATKA_INSIGHTS["MAX_PERIOD_DAYS"]:
                self.add_error("start", _("The period is too long: at most %(n)s days.") % {
                    "n": settings.KASATKA_INSIGHTS["MAX_PERIOD_DAYS"]})
        return cleaned

    def _value(self, name: str, default: Any) -> Any:
        if not self.is_valid():
            return default
        return self.cleaned_data.get(name) or default

    @property
    def period(self) -> tuple[datetime, datetime]:
        """[start, end) as moments: from the first day's midnight to the one after the last
        day, in the business's time zone."""
        zone = self.business.zone
        first = self._value("start", self.default_start)
        last = self._value("end", self.default_end)
        return (
            datetime.combine(first, time(), tzinfo=zone),
            datetime.combine(last + timedelta(days=1), time(), tzinfo=zone),
        )

    @property
    def query_end(self) -> date:
        """The period's last day."""
        return (self.period[1] - timedelta(days=1)).date()

    @property
    def filters(self) -> Filters:
        seller, source = self._value("seller", None), self._value("source", None)
        return Filters(
            seller=seller.pk if seller is not None else None,
            source=source.pk if source is not None else None,
        )

    def query(self, **extra: Any) -> str:
        """The page's filters as a query string (for the CSV links)."""
        first = self.period[0]
        params: dict[str, Any] = {
            "start": first.date().isoformat(),
            "end": self.query_end.isoformat(),
        }
        chosen = self.filters
        if chosen.seller is not None:
            params["seller"] = chosen.seller
        if chosen.source is not None:
            params["source"] = chosen.source
        params.update(extra)
        return urlencode(params)
