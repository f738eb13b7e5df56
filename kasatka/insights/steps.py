"""Which touches sell (issue 10, item 3): per chain step and per channel, over a period.

For the touches sent in the period: how many were sent, delivered (or read, or answered),
replied to, and unsubscribed from; and the purchases **attributed** to them — a purchase
made within the attribution window after a touch (`KASATKA_INSIGHTS["ATTRIBUTION_DAYS"]`,
7 days) is credited to the touches before it in that window, two ways:

- **last touch**: the whole purchase (one purchase, its amount) goes to the last touch that
  reached the client before it;
- **touch-weighted**: its amount is shared equally by every touch that reached the client
  in the window before it (three touches: a third each); the purchase counts as 1/3 too.

A purchase with no touch in its window is attributed to none (a walk-in). Attribution
follows the purchases of the period; the touches counted for "sent" are those of the
period. SQL aggregations: the last touch and each purchase's touch count are correlated
subqueries; the weighted share is a join of touches with the purchases after them, grouped
by the key and that count (its few sums of 1/count are added up in Python). Each
subquery is used once (a filter on an annotation would evaluate it again), and the counts
count `status`, a column of the covering indexes `touch_sent` / `touch_contact_sent`, so
PostgreSQL reads the touches from the index alone (docs/performance.md). A big book's sent
counts come from its rollup's days (`journey.touch_days`, docs/insights.md) when no filter
is set and the period starts and ends at the business's midnights.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db.models import (
    CharField,
    Count,
    DateTimeField,
    DecimalField,
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
from django.db.models.functions import Cast, Coalesce, Concat

from kasatka.accounts.models import Business
from kasatka.chains.models import Touch, TouchStatus
from kasatka.sales.models import Purchase

from . import journey
from .filters import EVERYONE, Filters
from .touches import REACHED

DELIVERED = (TouchStatus.DELIVERED, TouchStatus.OPENED, TouchStatus.REPLIED)


@dataclass
class TouchFigures:
    key: object  # a step id, or a channel
    sent: int = 0
    delivered: int = 0
    replied: int = 0
    unsubscribed: int = 0
    last_touch_purchases: int = 0
    last_touch_revenue: Decimal = Decimal(0)
    weighted_purchases: float = 0.0
    weighted_revenue: Decimal = Decimal(0)
    labels: dict[str, str] = field(default_factory=dict)


def attribution_days() -> int:
    return int(settings.KASATKA_INSIGHTS["ATTRIBUTION_DAYS"])


def _window_touches(days: int) -> Q:
    """Touches to the purchase's client that reached them in the window before it."""
    opened = ExpressionWrapper(
        OuterRef("purchased_at") - timedelta(days=days), output_field=DateTimeField()
    )
    return Q(contact_id=OuterRef("contact_id"), status__in=REACHED, sent_at__isnull=False,
             sent_at__lt=OuterRef("purchased_at"), sent_at__gte=opened)


def _sent(
    business: Business, start: datetime, end: datetime, columns: tuple[str, ...],
    filters: Filters, *, live: bool,
) -> QuerySet[Any]:
    """Per key: the touches sent in the period, and how many were delivered, replied to
    and unsubscribed from. From the days of a big book's rollup when it can answer (no
    filter, a complete rebuild, bounds at the business's midnights), else live."""
    days = None if live else journey.touch_days(business, start, end, filters)
    if days is not None:
        def counted(q: Q | None = None) -> Coalesce:
            return Coalesce(Sum("touches", filter=q), 0)

        rows: QuerySet[Any] = days.order_by().values(*columns).annotate(
            n=counted(), delivered=counted(Q(status__in=DELIVERED)),
            replied=counted(Q(status=TouchStatus.REPLIED)),
            unsubscribed=counted(Q(status=TouchStatus.UNSUBSCRIBED)),
        )
        return rows
    sent = Touch.objects.filter(
        filters.contacts("contact__"), business=business, sent_at__gte=start, sent_at__lt=end,
        sent_at__isnull=False,
    )
    rows = sent.order_by().values(*columns).annotate(
        n=Count("status"),  # never null: as many as the touches
        delivered=Count("status", filter=Q(status__in=DELIVERED)),
        replied=Count("status", filter=Q(status=TouchStatus.REPLIED)),
        unsubscribed=Count("status", filter=Q(status=TouchStatus.UNSUBSCRIBED)),
    )
    return rows


@dataclass
class _Pair:
    """The running figures of one (step, channel): exact until they are split."""

    sent: int = 0
    delivered: int = 0
    replied: int = 0
    unsubscribed: int = 0
    last_touch_purchases: int = 0
    last_touch_revenue: Decimal = Decimal(0)
    weight: Fraction = field(default_factory=Fraction)
    weighted_revenue: Decimal = Decimal(0)


PAIR = ("step_id", "channel")
_SEP = "|"


def _pairs(
    business: Business, start: datetime, end: datetime, filters: Filters, live: bool
) -> dict[tuple[object, object], _Pair]:
    """Every figure per (step id, channel), in one pass: the page splits it both ways."""
    picked = filters.contacts("contact__")
    days = attribution_days()
    pairs: dict[tuple[object, object], _Pair] = defaultdict(_Pair)

    for row in _sent(business, start, end, PAIR, filters, live=live):
        f = pairs[(row["step_id"], row["channel"])]
        f.sent, f.delivered = row["n"], row["delivered"]
        f.replied, f.unsubscribed = row["replied"], row["unsubscribed"]

    purchases = Purchase.objects.filter(
        picked, business=business, purchased_at__gte=start, purchased_at__lt=end
    )
    # The last touch's step and channel as one value: one index probe per purchase.
    last = Subquery(
        Touch.objects.filter(_window_touches(days)).order_by("-sent_at", "-pk")
        .annotate(pair=Concat(Cast("step_id", CharField()), Value(_SEP), "channel",
                              output_field=CharField()))
        .values("pair")[:1]
    )
    money: DecimalField[Decimal, Decimal] = DecimalField(max_digits=14, decimal_places=2)
    for row in purchases.annotate(last=last).order_by().values("last").annotate(
        n=Count("pk"), revenue=Sum("amount", output_field=money)
    ):
        if row["last"] is None:
            continue  # walk-ins: no touch in their window
        step, channel = row["last"].split(_SEP, 1)
        f = pairs[(int(step), channel)]
        f.last_touch_purchases, f.last_touch_revenue = row["n"], row["revenue"]

    # Touch-weighted: each (touch, purchase after it within the window) pair carries
    # 1 / (the purchase's touches in its window) of the purchase and of its amount.
    in_window = Subquery(
        Touch.objects.filter(_window_touches(days)).order_by().values("contact_id")
        .annotate(n=Count("status")).values("n"),
        output_field=IntegerField(),
    )
    # No filter on `touches` > 0: the join on a touch in the window implies one. Grouped by
    # the key and the purchase's window count (a few values), so that the count subquery
    # is written once; the shares 1/n are added up here, exactly.
    shares = (
        purchases.annotate(touches=in_window)
        .filter(
            contact__touches__status__in=REACHED,
            contact__touches__sent_at__lt=F("purchased_at"),
            contact__touches__sent_at__gte=ExpressionWrapper(
                F("purchased_at") - timedelta(days=days), output_field=DateTimeField()
            ),
        )
        .order_by()
        .values("contact__touches__step_id", "contact__touches__channel", "touches")
        .annotate(pairs=Count("pk"), spent=Sum("amount", output_field=money))
    )
    for row in shares:
        f = pairs[(row["contact__touches__step_id"], row["contact__touches__channel"])]
        touches = row["touches"]
        f.weight += Fraction(row["pairs"], touches)
        f.weighted_revenue += row["spent"] / touches
    return pairs


def _split(pairs: dict[tuple[object, object], _Pair], by: str) -> dict[object, TouchFigures]:
    """The pairs' figures added up per step (`by="step"`) or per channel."""
    side = {"step": 0, "channel": 1}[by]
    totals: dict[object, _Pair] = defaultdict(_Pair)
    for key, f in pairs.items():
        t = totals[key[side]]
        t.sent += f.sent
        t.delivered += f.delivered
        t.replied += f.replied
        t.unsubscribed += f.unsubscribed
        t.last_touch_purchases += f.last_touch_purchases
        t.last_touch_revenue += f.last_touch_revenue
        t.weight += f.weight
        t.weighted_revenue += f.weighted_revenue
    return {
        key: TouchFigures(
            key, t.sent, t.delivered, t.replied, t.unsubscribed, t.last_touch_purchases,
            t.last_touch_revenue, round(float(t.weight), 6),
            t.weighted_revenue.quantize(Decimal("0.01")),
        )
        for key, t in totals.items()
    }


def touch_figures(
    business: Business, start: datetime, end: datetime, by: str = "step", *,
    filters: Filters = EVERYONE, live: bool = False,
) -> dict[object, TouchFigures]:
    """Figures per chain step (`by="step"`, keyed by step id) or per channel (`"channel"`),
    of the touches to and purchases by the contacts `filters` picks. The sent counts of a
    big book come from its rollup (as of its last rebuild, `journey.complete_as_of`) unless
    `live`; the purchases are always live."""
    return _split(_pairs(business, start, end, filters, live), by)


def touch_figures_both(
    business: Business, start: datetime, end: datetime, *,
    filters: Filters = EVERYONE, live: bool = False,
) -> tuple[dict[object, TouchFigures], dict[object, TouchFigures]]:
    """Per step and per channel from one pass over the touches and purchases."""
    pairs = _pairs(business, start, end, filters, live)
    return _split(pairs, "step"), _split(pairs, "channel")
