"""Which touches sell, per step and per channel, last-touch and touch-weighted; each
expected value worked out in the comments (attribution window: 7 days)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kasatka.chains.models import Enrollment, Touch, TouchStatus
from kasatka.insights.filters import Filters
from kasatka.insights.steps import touch_figures
from kasatka.sales.models import LeadSource, Purchase
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
MARCH = datetime(2026, 3, 1, tzinfo=MSK), datetime(2026, 4, 1, tzinfo=MSK)
_keys = itertools.count()


def day(n, hour=12):
    return datetime(2026, 3, n, hour, tzinfo=MSK)


@pytest.fixture
def chain(shop):
    return builders.chain(shop, steps=[{"channels": ["email"]}, {"channels": ["sms"]},
                                       {"channels": ["email"]}])


def touch(enrollment, step, at, status=TouchStatus.DELIVERED):
    Touch.objects.create(
        business=enrollment.business, enrollment=enrollment, step=step,
        contact=enrollment.contact, channel=step.channels[0], status=status,
        idempotency_key=f"s{next(_keys)}", sent_at=at,
    )


def test_last_touch_and_touch_weighted_per_step_and_channel(shop, chain):
    s1, s2, s3 = chain.steps.order_by("position")

    def client(tail):
        contact = builders.contact(shop, phone=f"+7916600{tail:04d}")
        return Enrollment.objects.create(business=shop, contact=contact, chain=chain, step=s1)

    def buy(enrollment, at, amount):
        Purchase.objects.create(business=shop, contact=enrollment.contact,
                                amount=Decimal(amount), purchased_at=at)

    # A: s1 on the 1st (replied), s2 on the 3rd; buys 3,000 on the 5th: both in the window.
    #    Last touch: s2 (1, 3,000). Weighted: s1 ½ and 1,500; s2 ½ and 1,500.
    a = client(1)
    touch(a, s1, day(1), TouchStatus.REPLIED)
    touch(a, s2, day(3))
    buy(a, day(5), 3000)
    # B: s1 on the 1st, s3 on the 10th (unsubscribed); buys on the 20th: the window opens on
    #    the 13th, no touch in it: attributed to none.
    b = client(2)
    touch(b, s1, day(1), TouchStatus.SENT)
    touch(b, s3, day(10), TouchStatus.UNSUBSCRIBED)
    buy(b, day(20), 5000)
    # C: s1 on the 2nd and the 4th, s3 on the 6th, a bounced s2 on the 6th (did not reach);
    #    buys 900 on the 7th. Last: s3 (1, 900). Weighted: 300 a touch — s1 ⅔ and 600,
    #    s3 ⅓ and 300.
    c = client(3)
    touch(c, s1, day(2))
    touch(c, s1, day(4), TouchStatus.OPENED)
    touch(c, s3, day(6))
    touch(c, s2, day(6, 13), TouchStatus.BOUNCED)
    buy(c, day(7), 900)

    steps = touch_figures(shop, *MARCH, by="step")

    # s1 sent 4 (A replied, B sent, C delivered and opened): 3 delivered or better, 1 reply.
    assert (steps[s1.pk].sent, steps[s1.pk].delivered, steps[s1.pk].replied) == (4, 3, 1)
    assert (steps[s2.pk].sent, steps[s2.pk].delivered) == (2, 1)  # the bounce was sent
    assert (steps[s3.pk].sent, steps[s3.pk].unsubscribed) == (2, 1)
    assert (steps[s1.pk].last_touch_purchases, steps[s1.pk].last_touch_revenue) == (0, 0)
    assert (steps[s2.pk].last_touch_purchases, steps[s2.pk].last_touch_revenue) == (
        1, Decimal(3000))
    assert (steps[s3.pk].last_touch_purchases, steps[s3.pk].last_touch_revenue) == (
        1, Decimal(900))
    assert steps[s1.pk].weighted_purchases == pytest.approx(1 / 2 + 2 / 3)
    assert steps[s1.pk].weighted_revenue == Decimal("2100.00")
    assert steps[s2.pk].weighted_purchases == pytest.approx(1 / 2)
    assert steps[s2.pk].weighted_revenue == Decimal("1500.00")
    assert steps[s3.pk].weighted_purchases == pytest.approx(1 / 3)
    assert steps[s3.pk].weighted_revenue == Decimal("300.00")

    channels = touch_figures(shop, *MARCH, by="channel")
    # E-mail is s1 and s3: last touch 1 (900), weighted 1½ and 2,400; SMS is s2.
    assert (channels["email"].sent, channels["sms"].sent) == (6, 2)
    assert (channels["email"].last_touch_purchases, channels["email"].last_touch_revenue) == (
        1, Decimal(900))
    assert channels["email"].weighted_purchases == pytest.approx(1.5)
    assert channels["email"].weighted_revenue == Decimal("2400.00")
    assert channels["sms"].weighted_revenue == Decimal("1500.00")


def test_the_window_is_a_setting(shop, chain, settings):
    s1 = chain.steps.order_by("position").first()
    contact = builders.contact(shop, phone="+79166009999")
    e = Enrollment.objects.create(business=shop, contact=contact, chain=chain, step=s1)
    touch(e, s1, day(1))
    Purchase.objects.create(business=shop, contact=contact, amount=Decimal(100),
                            purchased_at=day(1) + timedelta(days=10))
    assert touch_figures(shop, *MARCH)[s1.pk].last_touch_purchases == 0  # 10 days > 7
    settings.KASATKA_INSIGHTS = {**settings.KASATKA_INSIGHTS, "ATTRIBUTION_DAYS": 14}
    assert touch_figures(shop, *MARCH)[s1.pk].last_touch_purchases == 1


def test_the_filters_narrow_touches_and_attribution(shop, chain, alice, bob):
    s1, s2, _ = chain.steps.order_by("position")
    site = LeadSource.objects.create(business=shop, name="Сайт")

    def client(tail, seller, source=None):
        contact = builders.contact(shop, phone=f"+7916610{tail:04d}", owner=seller)
        contact.source = source
        contact.save(update_fields=["source"])
        return Enrollment.objects.create(business=shop, contact=contact, chain=chain, step=s1)

    # Alice's A: s1 on the 1st, s2 on the 3rd, buys 1,000 on the 4th → last s2; ½ each.
    a = client(1, alice)
    touch(a, s1, day(1))
    touch(a, s2, day(3))
    Purchase.objects.create(business=shop, contact=a.contact, amount=Decimal(1000),
                            purchased_at=day(4))
    # Bob's B (site): s1 on the 2nd and the 5th (replied), buys 600 on the 6th → last s1;
    # both touches s1, so s1 takes the whole purchase weighted too.
    b = client(2, bob, site)
    touch(b, s1, day(2))
    touch(b, s1, day(5), TouchStatus.REPLIED)
    Purchase.objects.create(business=shop, contact=b.contact, amount=Decimal(600),
                            purchased_at=day(6))

    # Everyone: s1 sent 3, last touch 1 (600), weighted ½ + 1 = 1½, 500 + 600 = 1,100.
    steps = touch_figures(shop, *MARCH)
    assert (steps[s1.pk].sent, steps[s1.pk].last_touch_purchases) == (3, 1)
    assert steps[s1.pk].weighted_revenue == Decimal("1100.00")

    # Alice: s1 sent 1, no last touch, weighted ½ and 500; s2 sent 1, last touch 1 (1,000).
    hers = touch_figures(shop, *MARCH, filters=Filters(seller=alice.pk))
    assert (hers[s1.pk].sent, hers[s1.pk].replied, hers[s1.pk].last_touch_purchases) == (
        1, 0, 0)
    assert hers[s1.pk].weighted_purchases == pytest.approx(1 / 2)
    assert hers[s1.pk].weighted_revenue == Decimal("500.00")
    assert (hers[s2.pk].last_touch_purchases, hers[s2.pk].last_touch_revenue) == (
        1, Decimal(1000))

    # The site (Bob's B only): s1 sent 2, 1 replied, last touch 1 (600), weighted 1 and
    # 600; no s2 line at all.
    by_site = touch_figures(shop, *MARCH, filters=Filters(source=site.pk))
    assert set(by_site) == {s1.pk}
    assert (by_site[s1.pk].sent, by_site[s1.pk].replied) == (2, 1)
    assert (by_site[s1.pk].last_touch_purchases, by_site[s1.pk].last_touch_revenue) == (
        1, Decimal(600))
    assert by_site[s1.pk].weighted_purchases == pytest.approx(1.0)
    assert by_site[s1.pk].weighted_revenue == Decimal("600.00")
    # By channel, the site's e-mail (s1) is the same 2 touches.
    assert touch_figures(shop, *MARCH, "channel",
                         filters=Filters(source=site.pk))["email"].sent == 2
