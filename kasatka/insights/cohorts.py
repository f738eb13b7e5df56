"""Cohorts (issue 10, item 7): clients by the month of their first purchase × months since.

Each cohort is the clients whose first purchase fell in one calendar month (the business's
time zone); for every month after it, how many of them bought again (the repeat rate, over
the cohort's size) and what they spent. One grouped SQL query over the purchases of the
period's first buyers (`touches.first_buyers`), each tagged with the month of its buyer's
first purchase by a correlated subquery, written once: grouped by that month and the
purchase's month, the months since are counted here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum
from django.db.models.functions import TruncMonth

from kasatka.accounts.models import Business
from kasatka.sales.models import Purchase

from .filters import EVERYONE, Filters
from .touches import first_buyers, first_purchase_at


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
    buyers = first_buyers(business, start, end, filters=filters).values("pk")
    rows = (
        Purchase.objects.filter(business=business, contact__in=buyers)
        # Grouping by the two months (not by the year, month and months since, each
        # repeating the subquery) keeps the first-purchase lookup to one per purchase.
        .annotate(
            cohort=TruncMonth(first_purchase_at("contact_id"), tzinfo=zone),
            bought=TruncMonth("purchased_at", tzinfo=zone),
        )
        .order_by()
        .values("cohort", "bought")
        .annotate(buyers=Count("contact_id", distinct=True), spent=Sum("amount"))
    )
    found: dict[tuple[int, int], Cohort] = {}
    for row in rows:
        first, bought = row["cohort"], row["bought"]
        key = (first.year, first.month)
        since = (bought.year - first.year) * 12 + bought.month - first.month
        cohort = found.setdefault(key, Cohort(*key))
        cohort.buyers[since] = row["buyers"]
        cohort.revenue[since] = row["spent"]
        if since == 0:
            cohort.size = row["buyers"]
    return [found[key] for key in sorted(found)]
