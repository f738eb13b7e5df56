"""Cohorts (issue 10, item 7): clients by the month of their first purchase × months since.

Each cohort is the clients whose first purchase fell in one calendar month (the business's
time zone); for every month after it, how many of them bought again (the repeat rate, over
the cohort's size) and what they spent. One grouped SQL query over the purchases, each
tagged with its buyer's first purchase by a correlated subquery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Sum
from django.db.models.functions import ExtractMonth, ExtractYear

from kasatka.accounts.models import Business
from kasatka.sales.models import Purchase

from .filters import EVERYONE, Filters
from .touches import first_purchase_at


@dataclass
class Cohort:
    year: int
    month: int
    size: int = 0  # clients whose first purchase fell in this month
    buyers: dict[int, int] = field(default_factory=dict)  # months since → clients buying
    revenue: dict[int, Decimal] = field(default_factory=dict)  # months since → their spend

    def repeat_rate(self, months_since: int) -> float | None:
        """The share of the cohort that bought `months_since` months after its first month."""
        return self.buyers.get(months_since, 0) / self.size if self.size else None


def cohorts(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE
) -> list[Cohort]:
    """The cohorts of the clients `filters` picks whose first purchase falls in
    [start, end), oldest first; their later months run up to the last purchase recorded."""
    zone = ZoneInfo(business.time_zone)
    first_at = first_purchase_at("contact_id")
    rows = (
        Purchase.objects.filter(filters.contacts("contact__"), business=business)
        .annotate(first_at=first_at)
        .filter(first_at__gte=start, first_at__lt=end)
        .annotate(
            cohort_year=ExtractYear("first_at", tzinfo=zone),
            cohort_month=ExtractMonth("first_at", tzinfo=zone),
            since=(ExtractYear("purchased_at", tzinfo=zone) - F("cohort_year")) * 12
            + ExtractMonth("purchased_at", tzinfo=zone) - F("cohort_month"),
        )
        .order_by()
        .values("cohort_year", "cohort_month", "since")
        .annotate(buyers=Count("contact_id", distinct=True), spent=Sum("amount"))
    )
    found: dict[tuple[int, int], Cohort] = {}
    for row in rows:
        key = (row["cohort_year"], row["cohort_month"])
        cohort = found.setdefault(key, Cohort(*key))
        cohort.buyers[row["since"]] = row["buyers"]
        cohort.revenue[row["since"]] = row["spent"]
        if row["since"] == 0:
            cohort.size = row["buyers"]
    return [found[key] for key in sorted(found)]
