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
PostgreSQL reads the touches from the index alone (docs/performance.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db.models import (
    Count,
    DateTimeField,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
)

from kasatka.accounts.models import Business
from kasatka.chains.models import Touch, TouchStatus
from kasatka.sales.models import Purchase

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


def touch_figures(
    business: Business, start: datetime, end: datetime, by: str = "step", *,
    filters: Filters = EVERYONE,
) -> dict[object, TouchFigures]:
    """Figures per chain step (`by="step"`, keyed by step id) or per channel (`"channel"`),
    of the touches to and purchases by the contacts `filters` picks."""
    picked = filters.contacts("contact__")
    column = {"step": "step_id", "channel": "channel"}[by]
    days = attribution_days()
    figures: dict[object, TouchFigures] = defaultdict(lambda: TouchFigures(None))

    def line(key: object) -> TouchFigures:
        found = figures[key]
        found.key = key
        return found

    sent = Touch.objects.filter(
        picked, business=business, sent_at__gte=start, sent_at__lt=end, sent_at__isnull=False
    )
    for row in sent.order_by().values(column).annotate(
        n=Count("status"),  # never null: as many as the touches
        delivered=Count("status", filter=Q(status__in=DELIVERED)),
        replied=Count("status", filter=Q(status=TouchStatus.REPLIED)),
        unsubscribed=Count("status", filter=Q(status=TouchStatus.UNSUBSCRIBED)),
    ):
        f = line(row[column])
        f.sent, f.delivered = row["n"], row["delivered"]
        f.replied, f.unsubscribed = row["replied"], row["unsubscribed"]

    purchases = Purchase.objects.filter(
        picked, business=business, purchased_at__gte=start, purchased_at__lt=end
    )
    last = Subquery(
        Touch.objects.filter(_window_touches(days)).order_by("-sent_at", "-pk")
        .values(column)[:1]
    )
    money: DecimalField[Decimal, Decimal] = DecimalField(max_digits=14, decimal_places=2)
    for row in purchases.annotate(last=last).order_by().values("last").annotate(
        n=Count("pk"), revenue=Sum("amount", output_field=money)
    ):
        if row["last"] is None:
            continue  # walk-ins: no touch in their window
        f = line(row["last"])
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
        .order_by().values(f"contact__touches__{column}", "touches")
        .annotate(pairs=Count("pk"), spent=Sum("amount", output_field=money))
    )
    weight: dict[object, Fraction] = defaultdict(Fraction)
    revenue: dict[object, Decimal] = defaultdict(Decimal)
    for row in shares:
        key, touches = row[f"contact__touches__{column}"], row["touches"]
        weight[key] += Fraction(row["pairs"], touches)
        revenue[key] += row["spent"] / touches
    for key in weight:
        f = line(key)
        f.weighted_purchases = round(float(weight[key]), 6)
        f.weighted_revenue = revenue[key].quantize(Decimal("0.01"))
    return dict(figures)
