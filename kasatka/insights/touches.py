"""Touches before purchase (METHOD.md §7; issue 10, item 2): how many touches it took.

For every first purchase of a period: the touches that reached the client (sent, and not
refused on the way) from the moment the contact was taken until that purchase; their
distribution, the channels they went through, and the share of sales that came only after
more touches than the method's figure (`MethodSettings.warming_touches`, 7) — the seeds'
claim that most sales need many touches. Beside it, "where you give up too early": of the
contacts whose warming ended without a purchase, the share that had been touched at most
`KASATKA_INSIGHTS["GIVE_UP_TOUCHES"]` (3) times.

Every figure is one SQL aggregation in the database (correlated subqueries on the
contact's first purchase, grouped); nothing is loaded row by row into Python. The queries
start from the period's first buyers (two EXISTS on the purchases), never from every
contact, and count `status` rather than the pk: on PostgreSQL the touches' covering index
`touch_contact_sent` answers them without reading the table (docs/performance.md).
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
    """How many touches `queryset` holds, per contact; 0 for none. It counts `status` (never
    null, so the same number as the pk): a column the covering index holds."""
    counted = queryset.order_by().values("contact_id").annotate(n=Count("status")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def first_buyers(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE
) -> QuerySet[Contact]:
    """The contacts `filters` picks whose first purchase falls in [start, end): they bought
    in it and never before."""
    return (
        Contact.objects.filter(filters.contacts(), business=business)
        .filter(Exists(Purchase.objects.filter(
            contact_id=OuterRef("pk"), purchased_at__gte=start, purchased_at__lt=end,
        )))
        .exclude(Exists(Purchase.objects.filter(
            contact_id=OuterRef("pk"), purchased_at__lt=start,
        )))
    )


def buyers_in(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE
) -> QuerySet[Contact]:
    """The contacts `filters` picks whose first purchase falls in [start, end), with
    `first_at` and `touches_before`: the touches that reached them from when they were
    taken until then."""
    return (
        first_buyers(business, start, end, filters=filters)
        .annotate(first_at=first_purchase_at())
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
    # Sent before the contact's first purchase ⟺ no purchase of theirs at or before it: an
    # anti-join on the touches of the period's first buyers, not a first purchase per touch.
    by_channel = {
        row["channel"]: row["n"]
        for row in Touch.objects.filter(
            business=business, status__in=REACHED, sent_at__isnull=False,
            contact__in=first_buyers(business, start, end, filters=filters).values("pk"),
            sent_at__gte=F("contact__created_at"),
        )
        .exclude(Exists(Purchase.objects.filter(
            contact_id=OuterRef("contact_id"), purchased_at__lte=OuterRef("sent_at"),
        )))
        .order_by().values("channel").annotate(n=Count("status"))
    }
    ended = _warming_ended(business, start, end, filters).aggregate(
        total=Count("pk"), gave_up=Count("pk", filter=Q(warming_touches__lte=give_up_at)),
    )
    return assemble(distribution, by_channel, ended, many=many, give_up_at=give_up_at)


def assemble(
    distribution: dict[int, int], by_channel: dict[str, int], ended: dict[str, int], *,
    many: int, give_up_at: int,
) -> TouchesBeforePurchase:
    """The figures from their grouped rows (live here, or from the rollup in `journey`)."""
    return TouchesBeforePurchase(
        buyers=sum(distribution.values()),
        distribution=dict(sorted(distribution.items())),
        by_channel=dict(sorted(by_channel.items())),
        many=many,
        after_many=sum(n for touches, n in distribution.items() if touches > many),
        give_up_at=give_up_at,
        warming_ended=ended["total"],
        gave_up=ended["gave_up"],
        median=_median(distribution),
    )


def _warming_ended(
    business: Business, start: datetime, end: datetime, filters: Filters
) -> QuerySet[Contact]:
    """Contacts whose last warming enrollment ended in the period, none still live, who
    never bought; annotated with the warming touches that reached them."""
    warming = Enrollment.objects.filter(contact_id=OuterRef("pk"), chain__kind=ChainKind.WARMING)
    return (
        Contact.objects.filter(filters.contacts(), business=business)
        # The last warming end is in [start, end) ⟺ one ended in it and none at or after end.
        .filter(Exists(warming.filter(ended_at__gte=start, ended_at__lt=end)))
        .exclude(Exists(warming.filter(ended_at__gte=end)))
        .exclude(Exists(warming.filter(state__in=LIVE_ENROLLMENT_STATES)))
        .exclude(Exists(Purchase.objects.filter(contact_id=OuterRef("pk"))))
        # A touch's step belongs to its enrollment's chain: the small step table instead
        # of a probe into the enrollments for every touch.
        .annotate(warming_touches=_count(_reached().filter(step__chain__kind=ChainKind.WARMING)))
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
