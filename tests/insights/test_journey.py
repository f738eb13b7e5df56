"""The touches-before-purchase rollup holds what the live query computes: built on a shop with
every case of the live tests, its figures equal the live ones for each period and filter;
the task worker rebuilds it in chunks, for big businesses only, and again when it is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


# --- The sent counts of "which touches sell" (TouchDay) --------------------------------------


def msk(day, hour=12, minute=0, second=0):
    return datetime(2026, 3, day, hour, minute, second, tzinfo=MSK)


@pytest.fixture
def sent(shop, other_shop):
    """Touches of three steps (e-mail, SMS, e-mail; one SMS step's touch went by Telegram)
    from 9 to 13 March, some minutes either side of Moscow's midnight, which is 21:00 UTC the
    day before; a queued touch (not sent) and a touch of the other shop."""
    from kasatka.chains.models import Enrollment, Touch
    from tests import builders

    chain = builders.chain(shop, steps=[{"channels": ["email"]}, {"channels": ["sms"]},
                                        {"channels": ["email"]}])
    s1, s2, s3 = chain.steps.order_by("position")
    contact = builders.contact(shop, phone="+79166000001")
    enrollment = Enrollment.objects.create(business=shop, contact=contact, chain=chain, step=s1)
    keys = iter(range(1000))

    def touch(step, at, status, channel=None, business=shop, enrolled=enrollment):
        Touch.objects.create(
            business=business, enrollment=enrolled, step=step, contact=enrolled.contact,
            channel=channel or step.channels[0], status=status,
            idempotency_key=f"day{next(keys)}", sent_at=at,
        )

    touch(s1, msk(9, 23, 30), TouchStatus.DELIVERED)  # 20:30 UTC on the 9th: MSK the 9th
    touch(s1, msk(10, 0, 30), TouchStatus.REPLIED)  # 21:30 UTC on the 9th: MSK the 10th
    touch(s2, msk(10, 2, 59), TouchStatus.UNSUBSCRIBED)  # 23:59 UTC on the 9th
    touch(s2, msk(10, 3, 0), TouchStatus.SENT)  # 00:00 UTC on the 10th
    touch(s3, msk(11), TouchStatus.OPENED)
    touch(s3, msk(11), TouchStatus.BOUNCED)
    touch(s1, msk(11), TouchStatus.FAILED)
    touch(s2, msk(12, 23, 59, 59), TouchStatus.DELIVERED, channel="telegram")
    touch(s1, msk(13, 0, 0), TouchStatus.DELIVERED)  # the 13th's first second
    touch(s1, None, TouchStatus.QUEUED)  # not sent: never counted
    theirs = builders.chain(other_shop)
    stranger = builders.contact(other_shop, phone="+79166000002")
    elsewhere = Enrollment.objects.create(business=other_shop, contact=stranger, chain=theirs,
                                          step=theirs.steps.first())
    touch(theirs.steps.first(), msk(11), TouchStatus.DELIVERED, business=other_shop,
          enrolled=elsewhere)
    return shop, (s1, s2, s3), touch


def _counts(figures):
    return {k: (f.sent, f.delivered, f.replied, f.unsubscribed) for k, f in figures.items()}


SENT_PERIODS = {
    "10–12 March": (msk(10, 0), msk(13, 0)),
    "9–13 March": (msk(9, 0), msk(14, 0)),
    "11 March": (msk(11, 0), msk(12, 0)),
    "February": (datetime(2026, 2, 1, tzinfo=MSK), datetime(2026, 3, 1, tzinfo=MSK)),
}


def test_the_sent_counts_from_the_rollup_equal_the_live_ones_on_the_shops_days(sent, clock):
    from kasatka.insights.steps import touch_figures

    shop, (s1, s2, s3), _ = sent
    journey.rebuild_now(shop, clock.now())
    start, end = SENT_PERIODS["10–12 March"]
    assert journey.touch_days(shop, start, end) is not None  # the rollup answers
    # 10–12 March in Moscow: s1 the reply at 00:30 and the failure (not the 9th's 23:30, nor
    # the 13th's 00:00); s2 the unsubscribe, the SMS at 03:00 and the Telegram at 23:59:59;
    # s3 opened and bounced. Delivered counts delivered, opened and replied.
    by_step = _counts(touch_figures(shop, start, end, "step"))
    assert by_step == {s1.pk: (2, 1, 1, 0), s2.pk: (3, 1, 0, 1), s3.pk: (2, 1, 0, 0)}
    by_channel = _counts(touch_figures(shop, start, end, "channel"))
    assert by_channel == {"email": (4, 2, 1, 0), "sms": (2, 0, 0, 1), "telegram": (1, 1, 0, 0)}
    # Counted by UTC days, 10–12 March would lose the reply and the unsubscribe (the 9th in
    # UTC) and gain the 13th's 00:00 (21:00 UTC on the 12th).
    for name, (start, end) in SENT_PERIODS.items():
        for by in ("step", "channel"):
            rolled = touch_figures(shop, start, end, by)
            assert rolled == touch_figures(shop, start, end, by, live=True), (name, by)


def test_the_sent_counts_stay_live_with_a_filter_a_bound_off_midnight_or_no_rebuild(
    sent, clock, alice
):
    from kasatka.insights.steps import touch_figures

    shop, (s1, _, _), touch = sent
    start, end = SENT_PERIODS["11 March"]
    assert journey.touch_days(shop, start, end) is None  # no rebuild yet
    journey.rebuild_now(shop, clock.now())
    touch(s1, msk(11, 15), TouchStatus.DELIVERED)  # after the rebuild
    # From the rollup (as of the rebuild): 11 March's s1 failure only.
    assert _counts(touch_figures(shop, start, end))[s1.pk] == (1, 0, 0, 0)
    # Live: the new touch too.
    assert _counts(touch_figures(shop, start, end, live=True))[s1.pk] == (2, 1, 0, 0)
    # A bound that is not a Moscow midnight (midnight UTC): live, 03:00 11 March → 12 March.
    utc_midnight = datetime(2026, 3, 11, tzinfo=UTC)
    assert journey.touch_days(shop, utc_midnight, end) is None
    assert _counts(touch_figures(shop, utc_midnight, end))[s1.pk] == (2, 1, 0, 0)
    # A filter: live (the contact has no seller, Alice's pick is empty).
    everyone_of_alice = touch_figures(shop, start, end, filters=Filters(seller=alice.pk))
    assert everyone_of_alice == {}
    assert touch_figures(shop, start, end, filters=Filters(source=None)) == touch_figures(
        shop, start, end)


def test_the_steps_page_says_as_of_when_it_reads_the_rollup(client, owner, sent, clock):
    shop, (s1, _, _), touch = sent
    client.force_login(owner)
    query = {"start": "2026-03-10", "end": "2026-03-12"}
    live = client.get("/insights/steps/", query)
    assert live.context["report"].note == ""
    journey.rebuild_now(shop, clock.now())
    touch(s1, msk(11, 15), TouchStatus.DELIVERED)  # after the rebuild: not counted yet
    rolled = client.get("/insights/steps/", query)
    assert rolled.context["report"].note  # "… as of …"
    # Sent on 10–12 March, as in the test above: 4 e-mails, 2 SMS, 1 Telegram.
    assert sum(row[1] for row in rolled.context["report"].table("channels").rows) == 7
    filtered = client.get("/insights/steps/", {**query, "seller": str(owner.pk)})
    assert filtered.context["report"].note == ""  # a filter: live
