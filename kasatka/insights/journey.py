"""The "touches before purchase" figures of a big book, from a rollup rebuilt in the background.

Counting, for every first purchase of a year, the touches that came before it — and, for
every contact whose warming ended, the warming touches that reached them — reads hundreds
of thousands of contacts' touches on each page view: seconds on a book of a million
contacts (docs/performance.md). For a business with at least
`KASATKA_INSIGHTS["ROLLUP_CONTACTS"]` contacts the task worker keeps a rollup instead: one
`Journey` row per contact (first purchase, touches before it, how the warming ended) and
its touches per channel, rebuilt from scratch every `ROLLUP_MINUTES`, a chunk of contacts
per sweep. The page reads the last complete rebuild and says "as of" when; a smaller
business is computed live (`touches.touches_before_purchase`).

The rollup holds exactly what the live query computes at the moment a contact's chunk is
rebuilt — `tests/insights/test_journey.py` compares the two on a hand-built shop, and the
benchmark on a million contacts.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from datetime import time as dt_time

from django.conf import settings
from django.db import transaction
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate

from kasatka.accounts.models import Business, method_settings
from kasatka.chains.models import LIVE_ENROLLMENT_STATES, ChainKind, Enrollment, Touch
from kasatka.contacts.models import Contact
from kasatka.engine.clock import now as clock_now

from .filters import EVERYONE, Filters
from .models import Journey, JourneyChannel, JourneyRebuild, TouchDay
from .touches import (
    REACHED,
    TouchesBeforePurchase,
    _count,
    _reached,
    assemble,
    first_purchase_at,
)

_checked: dict[int, float] = {}  # business id → when its size was last looked at


def _conf(name: str) -> int:
    return int(settings.KASATKA_INSIGHTS[name])


def _build(business: Business, ids: list[int]) -> tuple[list[Journey], list[JourneyChannel]]:
    """The rollup rows of these contacts, computed as the live figures compute them."""
    warming = Enrollment.objects.filter(contact_id=OuterRef("pk"), chain__kind=ChainKind.WARMING)
    last_end = Subquery(
        warming.filter(ended_at__isnull=False).order_by("-ended_at").values("ended_at")[:1]
    )
    rows = (
        Contact.objects.filter(pk__in=ids)
        .annotate(first_at=first_purchase_at())
        .annotate(
            # The same definitions as the live figures (`touches`).
            before=_count(_reached().filter(sent_at__lt=OuterRef("first_at"),
                                            sent_at__gte=OuterRef("created_at"))),
            ended_at=last_end,
            live=Exists(warming.filter(state__in=LIVE_ENROLLMENT_STATES)),
            warmed=_count(_reached().filter(step__chain__kind=ChainKind.WARMING)),
        )
        .values_list("pk", "first_at", "before", "ended_at", "live", "warmed")
    )
    journeys = [
        Journey(business=business, contact_id=pk, first_purchase_at=first_at,
                touches_before=before, warming_ended_at=ended_at, warming_live=live,
                warming_touches=warmed)
        for pk, first_at, before, ended_at, live, warmed in rows
    ]
    first = {j.contact_id: j.first_purchase_at for j in journeys if j.first_purchase_at}
    channels = [
        JourneyChannel(business=business, contact_id=contact_id, channel=channel,
                       first_purchase_at=first[contact_id], touches=n)
        for contact_id, channel, n in _channel_counts(first)
    ]
    return journeys, channels


def _channel_counts(first: dict[int, datetime]) -> list[tuple[int, str, int]]:
    if not first:
        return []
    return list(
        Touch.objects.filter(
            contact_id__in=list(first), status__in=REACHED, sent_at__isnull=False,
        )
        .annotate(first_at=first_purchase_at("contact_id"))
        .filter(sent_at__lt=F("first_at"), sent_at__gte=F("contact__created_at"))
        .order_by().values("contact_id", "channel").annotate(n=Count("status"))
        .values_list("contact_id", "channel", "n")
    )


def _rebuild_chunk(state: JourneyRebuild) -> int:
    """Rebuild the next chunk of contacts; how many were done (0: the rebuild is complete)."""
    business = state.business
    ids = list(
        Contact.objects.filter(business=business, pk__gt=state.cursor)
        .order_by("pk").values_list("pk", flat=True)[:_conf("ROLLUP_CHUNK")]
    )
    if not ids:
        # Contacts deleted since the last rebuild took their rows with them (CASCADE).
        _count_touch_days(business)
        state.complete_as_of, state.started_at = state.started_at, None
        state.save(update_fields=["complete_as_of", "started_at"])
        return 0
    journeys, channels = _build(business, ids)
    with transaction.atomic():  # a reader sees a contact's old rows or its new ones
        Journey.objects.filter(contact_id__in=ids).delete()
        JourneyChannel.objects.filter(contact_id__in=ids).delete()
        Journey.objects.bulk_create(journeys, batch_size=2000)
        JourneyChannel.objects.bulk_create(channels, batch_size=2000)
        state.cursor = ids[-1]
        state.save(update_fields=["cursor"])
    return len(ids)


def _count_touch_days(business: Business) -> None:
    """Replace the business's `TouchDay` rows: its touches sent, per local day, step,
    channel and status, in one grouped query (an index-only pass over `touch_sent`)."""
    rows = (
        Touch.objects.filter(business=business, sent_at__isnull=False)
        .annotate(day=TruncDate("sent_at", tzinfo=business.zone))
        .order_by().values("day", "step_id", "channel", "status").annotate(n=Count("status"))
        .values_list("day", "step_id", "channel", "status", "n")
    )
    days = [
        TouchDay(business=business, day=day, step_id=step_id, channel=channel, status=status,
                 touches=n)
        for day, step_id, channel, status, n in rows
    ]
    with transaction.atomic():
        TouchDay.objects.filter(business=business).delete()
        TouchDay.objects.bulk_create(days, batch_size=2000)


def _big(business_id: int) -> bool:
    least = _conf("ROLLUP_CONTACTS")
    return Contact.objects.filter(business_id=business_id).order_by().values("pk")[
        least - 1:least].exists()


def refresh_step(now: datetime | None = None) -> int:
    """One sweep of the task worker: start the rebuilds that are due (big businesses only)
    and rebuild one chunk of each running one; how many contacts were rebuilt."""
    now = now or clock_now()
    every = timedelta(minutes=_conf("ROLLUP_MINUTES"))
    done = 0
    for business_id in Business.objects.order_by("pk").values_list("pk", flat=True):
        known = JourneyRebuild.objects.filter(business_id=business_id).exists()
        if not known:  # not known to be big: look (not every second)
            if not _worth_a_look(business_id) or not _big(business_id):
                continue
            JourneyRebuild.objects.get_or_create(business_id=business_id)
        with transaction.atomic():
            # Another task worker rebuilding this business holds the row: leave it to it.
            state = (
                JourneyRebuild.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("business").filter(business_id=business_id).first()
            )
            if state is None:
                continue
            if state.started_at is None:
                if state.complete_as_of is not None and state.complete_as_of > now - every:
                    continue  # not due
                state.started_at, state.cursor = now, 0
                state.save(update_fields=["started_at", "cursor"])
            done += _rebuild_chunk(state)
    return done


def _worth_a_look(business_id: int) -> bool:
    """Whether to count the business's contacts now (at most once per ROLLUP_MINUTES)."""
    seen = _checked.get(business_id)
    moment = time.monotonic()
    if seen is not None and moment - seen < _conf("ROLLUP_MINUTES") * 60:
        return False
    _checked[business_id] = moment
    return True


def rebuild_now(business: Business, now: datetime | None = None) -> None:
    """Rebuild a business's journeys to the end, whatever its size (the tests and the
    benchmark)."""
    now = now or clock_now()
    state, _ = JourneyRebuild.objects.get_or_create(business=business)
    state.started_at, state.cursor = now, 0
    state.save(update_fields=["started_at", "cursor"])
    state.business = business
    while _rebuild_chunk(state):
        pass


def complete_as_of(business: Business) -> datetime | None:
    return (
        JourneyRebuild.objects.filter(business=business)
        .values_list("complete_as_of", flat=True).first()
    )


def touch_days(
    business: Business, start: datetime, end: datetime, filters: Filters = EVERYONE
) -> QuerySet[TouchDay] | None:
    """The business's `TouchDay` rows of [start, end) — whose sums are the touches sent
    in it — or None when they cannot answer: a seller or source filter (the rows are the
    whole book's), no complete rebuild, or a bound that is not a midnight of the business's
    time zone (the rows are whole days)."""
    if filters or complete_as_of(business) is None:
        return None
    days = []
    for moment in (start, end):
        local = moment.astimezone(business.zone)
        if local.time() != dt_time():
            return None
        days.append(local.date())
    return TouchDay.objects.filter(business=business, day__gte=days[0], day__lt=days[1])


def touches_before_purchase(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE
) -> TouchesBeforePurchase:
    """The figures of `touches.touches_before_purchase`, from the rollup."""
    many = method_settings(business).warming_touches
    give_up_at = settings.KASATKA_INSIGHTS["GIVE_UP_TOUCHES"]
    picked = filters.contacts("contact__")
    bought = {"first_purchase_at__gte": start, "first_purchase_at__lt": end}
    distribution = {
        row["touches_before"]: row["n"]
        for row in Journey.objects.filter(picked, business=business, **bought)
        .order_by().values("touches_before").annotate(n=Count("pk"))
    }
    by_channel = {
        row["channel"]: row["n"]
        for row in JourneyChannel.objects.filter(picked, business=business, **bought)
        .order_by().values("channel").annotate(n=Sum("touches"))
    }
    ended = Journey.objects.filter(
        picked, business=business, warming_ended_at__gte=start, warming_ended_at__lt=end,
        warming_live=False, first_purchase_at__isnull=True,
    ).aggregate(
        total=Count("pk"), gave_up=Count("pk", filter=Q(warming_touches__lte=give_up_at))
    )
    return assemble(distribution, by_channel, ended, many=many, give_up_at=give_up_at)

