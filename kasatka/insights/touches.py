"""Touches before purchase (METHOD.md §7; issue 10, item 2): how many touches it took.

For every first purchase of a period: the touches that reached the client (sent, and not
refused on the way) from the moment the contact was taken until that purchase; their
distribution, the channels they went through, and the share of sales that came only after
more touches than the method's figure (`MethodSettings.warming_touches`, 7) — the seeds'
claim that most sales need many touches. Beside it, "where you give up too early": of the
contacts whose warming ended without a purchase, the share that had been touched at most
`KASATKA_INSIGHTS["GIVE_UP_TOUCHES"]` (3) times.

Every figure is one SQL aggregation in the database (correlated subqueries on the
contact's first purchase, grouped); nothing is loaded row by row into Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from kasatka.accounts.models import Business, method_settings
from kasatka.chains.models import (
    LIVE_ENROLLMENT_STATES,
    ChainKind,
    Enrollment,
    Touch,
    TouchStatus,
)
from kasatka.contacts.models import Contact
from kasatka.sales.models import Purchase

from .filters import EVERYONE, Filters

# A touch that reached the client: it left us and was not refused on the way.
REACHED = (
    TouchStatus.SENT, TouchStatus.DELIVERED, TouchStatus.OPENED, TouchStatus.REPLIED,
    TouchStatus.COMPLAINED, TouchStatus.UNSUBSCRIBED,
)


@dataclass(frozen=True)
class TouchesBeforePurchase:
    """The figures of one period."""

    buyers: int  # first purchases in the period
    distribution: dict[int, int]  # touches before the first purchase → how many buyers
    by_channel: dict[str, int]  # touches before first purchases, by channel
    many: int  # the method's figure (warming touches, 7)
    after_many: int  # buyers who bought only after more than `many` touches
    give_up_at: int  # "gave up" means at most this many touches (3)
    warming_ended: int  # contacts whose warming ended in the period without a purchase
    gave_up: int  # … of them touched at most `give_up_at` times
    median: float | None = field(default=None)

    @property
    def share_after_many(self) -> float | None:
        return self.after_many / self.buyers if self.buyers else None

    @property
    def share_gave_up(self) -> float | None:
        return self.gave_up / self.warming_ended if self.warming_ended else None


def first_purchase_at(contact: str = "pk") -> Subquery:
    """When the contact (the outer row's `contact` column) first bought."""
    return Subquery(
        Purchase.objects.filter(contact_id=OuterRef(contact))
        .order_by("purchased_at").values("purchased_at")[:1]
    )


def _reached(contact_ref: str = "pk") -> QuerySet[Touch]:
    return Touch.objects.filter(
        contact_id=OuterRef(contact_ref), status__in=REACHED, sent_at__isnull=False
    )


def _count(queryset: QuerySet[Touch]) -> Coalesce:
    counted = queryset.order_by().values("contact_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def buyers_in(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE
) -> QuerySet[Contact]:
    """The contacts `filters` picks whose first purchase falls in [start, end), with
    `first_at` and `touches_before`: the touches that reached them from when they were
    taken until then."""
    return (
        Contact.objects.filter(filters.contacts(), business=business)
        .annotate(first_at=first_purchase_at())
        .filter(first_at__gte=start, first_at__lt=end)
        .annotate(touches_before=_count(_reached().filter(
            sent_at__lt=OuterRef("first_at"), sent_at__gte=OuterRef("created_at"),
        )))
    )


def touches_before_purchase(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE
) -> TouchesBeforePurchase:
    """The figures of [start, end) for the contacts `filters` picks."""
    many = method_settings(business).warming_touches
    give_up_at = settings.KASATKA_INSIGHTS["GIVE_UP_TOUCHES"]
    buyers = buyers_in(business, start, end, filters=filters)
    distribution = {
        row["touches_before"]: row["buyers"]
        for row in buyers.order_by().values(*["touches_before"]).annotate(buyers=Count("pk"))
    }
    first_at = first_purchase_at("contact_id")
    by_channel = {
        row["channel"]: row["n"]
        for row in Touch.objects.filter(
            filters.contacts("contact__"),
            business=business, status__in=REACHED, sent_at__isnull=False,
        )
        .annotate(first_at=first_at)
        .filter(
            first_at__gte=start, first_at__lt=end, sent_at__lt=F("first_at"),
            sent_at__gte=F("contact__created_at"),
        )
        .order_by().values("channel").annotate(n=Count("pk"))
    }
    ended = _warming_ended(business, start, end, filters)
    return TouchesBeforePurchase(
        buyers=sum(distribution.values()),
        distribution=dict(sorted(distribution.items())),
        by_channel=dict(sorted(by_channel.items())),
        many=many,
        after_many=sum(n for touches, n in distribution.items() if touches > many),
        give_up_at=give_up_at,
        warming_ended=ended.count(),
        gave_up=ended.filter(**{"warming_touches__lte": give_up_at}).count(),
        median=_median(distribution),
    )


def _warming_ended(
    business: Business, start: datetime, end: datetime, filters: Filters
) -> QuerySet[Contact]:
    """Contacts whose last warming enrollment ended in the period, none still live, who
    never bought; annotated with the warming touches that reached them."""
    warming = Enrollment.objects.filter(contact_id=OuterRef("pk"), chain__kind=ChainKind.WARMING)
    last_end = Subquery(
        warming.filter(ended_at__isnull=False).order_by("-ended_at").values("ended_at")[:1]
    )
    return (
        Contact.objects.filter(filters.contacts(), business=business)
        .annotate(warming_ended_at=last_end)
        .filter(warming_ended_at__gte=start, warming_ended_at__lt=end)
        .exclude(Exists(warming.filter(state__in=LIVE_ENROLLMENT_STATES)))
        .exclude(Exists(Purchase.objects.filter(contact_id=OuterRef("pk"))))
        .annotate(warming_touches=_count(_reached().filter(
            Q(enrollment__chain__kind=ChainKind.WARMING)
        )))
    )


def _median(distribution: dict[int, int]) -> float | None:
    """The median number of touches before a first purchase, from the distribution."""
    total = sum(distribution.values())
    if not total:
        return None
    middle = [(total - 1) // 2, total // 2]
    values: list[int] = []
    seen = 0
    for touches, n in sorted(distribution.items()):
        for position in middle:
            if seen <= position < seen + n:
                values.append(touches)
        seen += n
    return sum(values) / len(values)
