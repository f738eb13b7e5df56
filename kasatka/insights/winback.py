"""Lapse and win-back (METHOD.md §6, §7; issue 10, item 6): who is lapsing now, what it
would cost, and what the win-back chains won back.

**Lapsing now** are the clients flagged as lapsed since their last purchase (`ClientRisk`
with `flagged_for == last_purchase_at`, as on the list of lapsing clients): how many, the
value at risk they carry, their mean probability of still being a client (P(alive); None
when the business has no fitted model), and how they spread over bands of P(alive), each
band with its clients and value at risk — the chart's bars.

**Win-back results** follow the enrollments in win-back chains that *started* in the period.
An enrollment's **window** runs from its start to the period's end, or to the client's next
win-back enrollment if that comes first (a client who lapses twice is two attempts, and a
purchase is credited to the attempt it followed, never to both). In its window:

- the client **came back** if they bought after the enrollment started (a purchase before
  it, or at the same moment, does not count); the days to return are from the enrollment's
  start to the first such purchase, averaged over the returns;
- the **revenue** is every purchase of the client in the window;
- the **touches** are those of the enrollment sent before the period's end;
- the **calls** are the client's call tasks created in the window: the lapse's own call (made
  at the moment of the enrollment) and the chain's call steps; closed ones have an outcome,
  reached ones a conversation.

Counting up to the period's end, as the lead sources and the funnel do, keeps a past
period's figures fixed; a return after it is not lost but shows in a period that reaches it.
A client enrolled at the end of a period has had little time to come back: widen the period
to judge them. One grouped SQL query per figure set; the total line adds the chains' lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

from django.db.models import (
    Avg,
    Count,
    DateTimeField,
    DecimalField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Least

from kasatka.accounts.models import Business
from kasatka.chains.models import Chain, ChainKind, Enrollment
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.sales.models import Purchase

from .filters import EVERYONE, Filters
from .models import ClientRisk

# The P(alive) bands of the chart: [0, 25 %), [25 %, 50 %), [50 %, 75 %), [75 %, 100 %].
BAND_EDGES = (0.25, 0.5, 0.75)

_MONEY: DecimalField[Decimal, Decimal] = DecimalField(max_digits=16, decimal_places=2)


@dataclass(frozen=True)
class PAliveBand:
    low: float | None  # None for both: the clients without a P(alive)
    high: float | None  # exclusive, but the last band includes 1.0
    clients: int
    value_at_risk: Decimal

    @property
    def is_unknown(self) -> bool:
        return self.low is None


@dataclass(frozen=True)
class LapsingNow:
    clients: int
    value_at_risk: Decimal
    mean_p_alive: float | None  # over the clients with a P(alive)
    with_p_alive: int
    bands: list[PAliveBand]  # low to high, then the unknown band


def _bounds() -> list[tuple[float, float]]:
    edges = (0.0, *BAND_EDGES, 1.0)
    return list(pairwise(edges))


def lapsing_now(business: Business, filters: Filters = EVERYONE) -> LapsingNow:
    """The clients lapsed now, among those `filters` picks; one query."""
    lapsed = ClientRisk.objects.filter(
        filters.contacts("contact__"), business=business, flagged_for=F("last_purchase_at")
    )
    bounds = _bounds()
    conditions = []
    for i, (low, high) in enumerate(bounds):
        below = Q(p_alive__lte=high) if i == len(bounds) - 1 else Q(p_alive__lt=high)
        conditions.append(Q(p_alive__gte=low) & below if i else below)
    conditions.append(Q(p_alive__isnull=True))
    figures: dict[str, Any] = {
        "n": Count("pk"),
        "value": Sum("value_at_risk", output_field=_MONEY),
        "mean": Avg("p_alive"),
        "known": Count("p_alive"),
    }
    for i, condition in enumerate(conditions):
        figures[f"n{i}"] = Count("pk", filter=condition)
        figures[f"v{i}"] = Sum("value_at_risk", filter=condition, output_field=_MONEY)
    row = lapsed.aggregate(**figures)
    limits: list[tuple[float | None, float | None]] = [*bounds, (None, None)]
    return LapsingNow(
        clients=row["n"],
        value_at_risk=row["value"] or Decimal(0),
        mean_p_alive=row["mean"],
        with_p_alive=row["known"],
        bands=[
            PAliveBand(low, high, row[f"n{i}"], row[f"v{i}"] or Decimal(0))
            for i, (low, high) in enumerate(limits)
        ],
    )


@dataclass
class WinbackLine:
    chain_id: int | None  # None: the total of every win-back chain
    chain_name: str = ""
    enrolled: int = 0  # enrollments started in the period
    returned: int = 0  # of them, the client bought in the window
    revenue: Decimal = Decimal(0)  # purchases in the windows
    mean_days_to_return: float | None = None
    touches_sent: int = 0
    calls: int = 0
    calls_closed: int = 0
    calls_reached: int = 0

    @property
    def return_rate(self) -> float | None:
        return self.returned / self.enrolled if self.enrolled else None

    def add(self, other: WinbackLine) -> None:
        if other.returned:
            days = (self.mean_days_to_return or 0.0) * self.returned
            days += (other.mean_days_to_return or 0.0) * other.returned
            self.mean_days_to_return = days / (self.returned + other.returned)
        self.enrolled += other.enrolled
        self.returned += other.returned
        self.revenue += other.revenue
        self.touches_sent += other.touches_sent
        self.calls += other.calls
        self.calls_closed += other.calls_closed
        self.calls_reached += other.calls_reached


def _started(
    business: Business, start: datetime, end: datetime, filters: Filters
) -> QuerySet[Enrollment]:
    """The win-back enrollments started in the period."""
    return Enrollment.objects.filter(
        filters.contacts("contact__"), business=business, chain__kind=ChainKind.WINBACK,
        enrolled_at__gte=start, enrolled_at__lt=end,
    )


def _windowed(
    business: Business, start: datetime, end: datetime, filters: Filters
) -> QuerySet[Enrollment]:
    """The same, each with its window's end."""
    next_winback = Subquery(
        Enrollment.objects.filter(
            contact_id=OuterRef("contact_id"), chain__kind=ChainKind.WINBACK,
            enrolled_at__gt=OuterRef("enrolled_at"),
        ).order_by("enrolled_at").values("enrolled_at")[:1],
        output_field=DateTimeField(),
    )
    closes = Value(end, output_field=DateTimeField())
    return _started(business, start, end, filters).annotate(
        window_end=Least(Coalesce(next_winback, closes), closes)
    )


def _in_window(field: str, *, from_start: bool) -> Q:
    """Rows of the enrollment's client in its window: from its start (`from_start`, as the
    lapse's call made with it) or strictly after it (a purchase)."""
    after = f"{field}__gte" if from_start else f"{field}__gt"
    return Q(
        contact_id=OuterRef("contact_id"),
        **{after: OuterRef("enrolled_at"), f"{field}__lt": OuterRef("window_end")},
    )


def _count(queryset: QuerySet[Any]) -> Subquery:
    return Subquery(
        queryset.order_by().values("contact_id").annotate(n=Count("pk")).values("n"),
        output_field=IntegerField(),
    )


def winback_results(
    business: Business, start: datetime, end: datetime, filters: Filters = EVERYONE
) -> list[WinbackLine]:
    """One line per win-back chain (by name; the active ones even without enrollments),
    then the total line (`chain_id` None), for the clients `filters` picks."""
    purchases = Purchase.objects.filter(_in_window("purchased_at", from_start=False))
    returned_at = Subquery(
        purchases.order_by("purchased_at").values("purchased_at")[:1],
        output_field=DateTimeField(),
    )
    revenue = Subquery(
        purchases.order_by().values("contact_id").annotate(s=Sum("amount")).values("s"),
        output_field=_MONEY,
    )
    calls = CallTask.objects.filter(_in_window("created_at", from_start=True))
    rows = (
        _windowed(business, start, end, filters)
        .annotate(
            returned_at=returned_at,
            revenue=revenue,
            calls=_count(calls),
            calls_closed=_count(calls.exclude(outcome="")),
            calls_reached=_count(calls.filter(outcome=CallOutcome.REACHED)),
        )
        .annotate(
            days=ExpressionWrapper(
                F("returned_at") - F("enrolled_at"), output_field=DurationField()
            )
        )
        .order_by()
        .values("chain_id")
        .annotate(
            enrolled=Count("pk"),
            returned=Count("pk", filter=Q(returned_at__isnull=False)),
            revenue_total=Sum("revenue", output_field=_MONEY),
            days_mean=Avg("days"),
            calls_total=Sum("calls"),
            closed_total=Sum("calls_closed"),
            reached_total=Sum("calls_reached"),
        )
    )
    lines: dict[int, WinbackLine] = {}
    for row in rows:
        days: timedelta | None = row["days_mean"]
        lines[row["chain_id"]] = WinbackLine(
            row["chain_id"],
            enrolled=row["enrolled"],
            returned=row["returned"],
            revenue=row["revenue_total"] or Decimal(0),
            mean_days_to_return=days / timedelta(days=1) if days is not None else None,
            calls=row["calls_total"] or 0,
            calls_closed=row["closed_total"] or 0,
            calls_reached=row["reached_total"] or 0,
        )
    sent = (
        _started(business, start, end, filters)
        .filter(touches__sent_at__isnull=False, touches__sent_at__lt=end)
        .order_by()
        .values("chain_id")
        .annotate(n=Count("touches"))
    )
    for row in sent:
        lines[row["chain_id"]].touches_sent = row["n"]
    chains = Chain.objects.filter(business=business, kind=ChainKind.WINBACK).filter(
        Q(is_active=True) | Q(pk__in=list(lines))
    )
    result = []
    for chain_id, name in chains.order_by("name", "pk").values_list("pk", "name"):
        line = lines.get(chain_id) or WinbackLine(chain_id)
        line.chain_name = name
        result.append(line)
    total = WinbackLine(None)
    for line in result:
        total.add(line)
    return [*result, total]
