"""The touches-before-purchase rollup holds what the live query computes: built on a shop with
every case of the live tests, its figures equal the live ones for each period and filter;
the task worker rebuilds it in chunks, for big businesses only, and again when it is due."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kasatka.chains.models import EnrollmentState, TouchStatus
from kasatka.insights import journey
from kasatka.insights.filters import Filters
from kasatka.insights.models import Journey, JourneyRebuild
from kasatka.insights.touches import touches_before_purchase
from kasatka.sales.models import LeadSource

from .test_touches_before_purchase import END, MSK, START, TAKEN, Shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(shop, alice, bob):
    """Buyers after 2, 7 and 9 touches (e-mail and SMS); touches bounced, failed, after the
    purchase and before the contact was taken; a walk-in; a first purchase in March; warmings
    that ended in April after 2, 3 and 7 touches, one still running, one that bought, one that
    ended in March; Alice's and Bob's contacts, two sources."""
    w = Shop(shop)
    ads = LeadSource.objects.create(business=shop, name="Директ")
    anna, boris, vera = w.client(1), w.client(2), w.client(3)
    w.touches(w.enrol(anna), 2)
    b = w.enrol(boris)
    w.touches(b, 5)
    w.touches(b, 2, channel="sms", first_at=TAKEN + timedelta(days=20))
    w.touches(w.enrol(vera), 9)
    w.buy(anna, datetime(2026, 4, 10, tzinfo=MSK))
    w.buy(boris, datetime(2026, 4, 15, tzinfo=MSK))
    w.buy(vera, datetime(2026, 4, 20, tzinfo=MSK))
    gleb = w.client(4)
    e = w.enrol(gleb)
    w.touches(e, 4)
    w.touches(e, 1, status=TouchStatus.BOUNCED)
    w.touches(e, 1, status=TouchStatus.FAILED)
    w.touches(e, 3, first_at=datetime(2026, 4, 13, tzinfo=MSK))
    w.touches(e, 2, first_at=TAKEN - timedelta(days=10))
    w.buy(gleb, datetime(2026, 4, 12, tzinfo=MSK))
    w.buy(gleb, datetime(2026, 4, 25, tzinfo=MSK))
    dina = w.client(5)
    w.touches(w.enrol(dina), 3)
    w.buy(dina, datetime(2026, 3, 20, tzinfo=MSK))
    w.buy(w.client(6), datetime(2026, 4, 2, tzinfo=MSK))
    ended = datetime(2026, 4, 10, tzinfo=MSK)
    for tail, n in ((7, 2), (8, 3), (9, 7)):
        w.touches(w.enrol(w.client(tail), state=EnrollmentState.FINISHED, ended_at=ended), n)
    lev = w.client(10)
    w.touches(w.enrol(lev, state=EnrollmentState.EXITED, ended_at=ended), 1)
    w.enrol(lev, chain=w.loyalty)
    from tests import builders

    w.enrol(lev, chain=builders.chain(shop, name="Второй прогрев"))
    mila = w.client(11)
    w.touches(w.enrol(mila, state=EnrollmentState.EXITED, ended_at=ended), 1)
    w.buy(mila, datetime(2026, 4, 9, tzinfo=MSK))
    nina = w.client(12)
    w.touches(w.enrol(nina, state=EnrollmentState.FINISHED,
                      ended_at=datetime(2026, 3, 30, tzinfo=MSK)), 1)
    for i, contact in enumerate([anna, boris, vera, gleb, dina, lev, mila, nina]):
        contact.owner = alice if i % 2 else bob
        contact.source = ads if i % 3 else None
        contact.save(update_fields=["owner", "source"])
    w.ads, w.alice = ads, alice
    return w


PERIODS = {
    "April": (START, END),
    "March": (datetime(2026, 3, 1, tzinfo=MSK), START),
    "spring": (datetime(2026, 3, 1, tzinfo=MSK), datetime(2026, 6, 1, tzinfo=MSK)),
    "empty": (datetime(2025, 1, 1, tzinfo=MSK), datetime(2025, 2, 1, tzinfo=MSK)),
}


def test_the_rollup_equals_the_live_figures_for_every_period_and_filter(world, clock):
    journey.rebuild_now(world.shop, clock.now())
    assert Journey.objects.filter(business=world.shop).count() == 12  # every contact
    live_april = touches_before_purchase(world.shop, START, END)
    # April's first purchases: Anna, Boris, Vera, Gleb, the walk-in and Mila.
    assert live_april.buyers == 6 and live_april.warming_ended == 3
    for filters in (Filters(), Filters(seller=world.alice.pk), Filters(source=world.ads.pk)):
        for name, (start, end) in PERIODS.items():
            live = touches_before_purchase(world.shop, start, end, filters=filters)
            rolled = journey.touches_before_purchase(world.shop, start, end, filters=filters)
            assert rolled == live, (name, filters)


def test_the_task_worker_rebuilds_big_businesses_in_chunks_and_again_when_due(
    world, clock, settings, other_shop
):
    settings.KASATKA_INSIGHTS = {
        **settings.KASATKA_INSIGHTS, "ROLLUP_CONTACTS": 10, "ROLLUP_CHUNK": 5,
        "ROLLUP_MINUTES": 60,
    }
    journey._checked.clear()
    # 12 contacts here (≥ 10: big), none in the other shop (not rebuilt).
    assert journey.refresh_step(clock.now()) == 5
    assert journey.complete_as_of(world.shop) is None  # half-way: not read yet
    assert journey.refresh_step(clock.now()) == 5
    assert journey.refresh_step(clock.now()) == 2
    assert journey.refresh_step(clock.now()) == 0  # reached the end
    assert journey.complete_as_of(world.shop) == clock.now()
    assert not JourneyRebuild.objects.filter(business=other_shop).exists()
    assert journey.refresh_step(clock.now()) == 0  # not due again yet
    # A new first purchase is in the next rebuild, an hour later.
    newcomer = world.client(20)
    world.touches(world.enrol(newcomer), 4)
    world.buy(newcomer, datetime(2026, 4, 28, tzinfo=MSK))
    before = journey.touches_before_purchase(world.shop, START, END)
    later = clock.now() + timedelta(minutes=61)
    while journey.refresh_step(later):
        pass
    after = journey.touches_before_purchase(world.shop, START, END)
    assert after.buyers == before.buyers + 1
    assert after.distribution.get(4, 0) == before.distribution.get(4, 0) + 1
    assert after == touches_before_purchase(world.shop, START, END)
    assert journey.complete_as_of(world.shop) == later


def test_the_page_reads_the_rollup_when_it_is_complete_and_says_as_of_when(
    client, owner, world, clock
):
    client.force_login(owner)
    query = {"start": "2026-04-01", "end": "2026-04-30"}
    live = client.get("/insights/touches/", query)
    assert live.context["report"].note == ""
    journey.rebuild_now(world.shop, clock.now())
    # A purchase after the rebuild: the page (from the rollup) does not see it yet.
    late = world.client(30)
    world.buy(late, datetime(2026, 4, 29, tzinfo=MSK))
    rolled = client.get("/insights/touches/", query)
    summary = rolled.context["report"].table("summary")
    assert summary.rows[0][1] == 6  # first purchases: the 6 of the rebuild, not the 7th
    assert rolled.context["report"].note  # "as of …"
