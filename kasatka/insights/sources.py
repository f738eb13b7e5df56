"""Lead sources (METHOD.md §7; issue 10, item 5): which advertising brings clients and money.

Per source, for the leads taken in a period (`Contact.created_at`, attributed to the source
of their first touch): how many leads, how many became clients (bought before the period's
end), their revenue (purchases before the end), what the source cost in the period, and
from it the cost per lead, the cost per client and the ROI. Leads without a source are one
line of their own ("direct").

A cost entered for a span that straddles the period counts in proportion to the days that
fall inside it (a March campaign of 31,000 ₽ costs 10,000 ₽ in a 1–10 March report). The
counts and sums are SQL aggregations; only the cost entries, a handful per source, are read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, DecimalField, Exists, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce

from kasatka.accounts.models import Business
from kasatka.contacts.models import Contact
from kasatka.sales.models import LeadSource, LeadSourceCost, Purchase

from .filters import EVERYONE, Filters

CENT = Decimal("0.01")


@dataclass(frozen=True)
class SourceLine:
    source_id: int | None  # None: leads with no source (direct)
    name: str
    campaign: str
    leads: int
    clients: int
    revenue: Decimal
    cost: Decimal

    @property
    def cost_per_lead(self) -> Decimal | None:
        return (self.cost / self.leads).quantize(CENT) if self.leads and self.cost else None

    @property
    def cost_per_client(self) -> Decimal | None:
        return (self.cost / self.clients).quantize(CENT) if self.clients and self.cost else None

    @property
    def roi(self) -> Decimal | None:
        """(revenue − cost) / cost; None without a cost."""
        if not self.cost:
            return None
        return ((self.revenue - self.cost) / self.cost).quantize(Decimal("0.0001"))

    @property
    def conversion(self) -> float | None:
        return self.clients / self.leads if self.leads else None


def source_lines(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE
) -> list[SourceLine]:
    """One line per source with leads or cost in [start, end), then the direct line; of
    the leads `filters` picks (a source filter: that source's line only). A source's cost
    is not split by seller: under a seller filter the line still shows the whole of it."""
    bought = Purchase.objects.filter(contact_id=OuterRef("pk"), purchased_at__lt=end)
    leads = (
        Contact.objects.filter(
            filters.contacts(), business=business, created_at__gte=start, created_at__lt=end
        )
        .annotate(bought=Exists(bought))
        .order_by().values("source_id")
        .annotate(leads=Count("pk"), clients=Count("pk", filter=Q(bought=True)))
    )
    money: DecimalField[Decimal, Decimal] = DecimalField(max_digits=14, decimal_places=2)
    revenue = (
        Purchase.objects.filter(
            filters.contacts("contact__"), business=business, purchased_at__lt=end,
            contact__created_at__gte=start, contact__created_at__lt=end,
        )
        .order_by().values("contact__source_id")
        .annotate(revenue=Coalesce(Sum("amount"), Value(Decimal(0)), output_field=money))
    )
    counts: dict[int | None, tuple[int, int]] = {
        row["source_id"]: (row["leads"], row["clients"]) for row in leads
    }
    earned: dict[int | None, Decimal] = {
        row["contact__source_id"]: row["revenue"] for row in revenue
    }
    costs = _costs(business, start, end, filters.source)
    keys = set(counts) | set(earned) | set(costs)
    sources = {
        s.pk: s for s in LeadSource.objects.filter(
            business=business, pk__in=[k for k in keys if k is not None]
        )
    }
    lines = []
    for source_id in keys:
        source = sources.get(source_id) if source_id is not None else None
        lead_count, client_count = counts.get(source_id, (0, 0))
        lines.append(SourceLine(
            source_id=source_id,
            name=source.name if source else "",
            campaign=source.utm_campaign if source else "",
            leads=lead_count,
            clients=client_count,
            revenue=earned.get(source_id, Decimal(0)),
            cost=costs.get(source_id, Decimal(0)),
        ))
    lines.sort(key=lambda line: (line.source_id is None, line.name.casefold()))
    return lines


def _costs(
    business: Business, start: datetime, end: datetime, source: int | None = None
) -> dict[int | None, Decimal]:
    """What each source (or only `source`) cost within [start, end): each entry in
    proportion to its days inside the period (both the entry's days and the period's are
    whole local days)."""
    zone = ZoneInfo(business.time_zone)
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    cost: dict[int | None, Decimal] = defaultdict(Decimal)
    entries = LeadSourceCost.objects.filter(
        business=business, period_start__lte=last, period_end__gte=first
    )
    if source is not None:
        entries = entries.filter(source_id=source)
    rows = entries.values_list("source_id", "period_start", "period_end", "amount")
    for source_id, entry_start, entry_end, amount in rows:
        days = (entry_end - entry_start).days + 1
        inside = (min(entry_end, last) - max(entry_start, first)).days + 1
        cost[source_id] += (amount * inside / days).quantize(CENT)
    return dict(cost)
