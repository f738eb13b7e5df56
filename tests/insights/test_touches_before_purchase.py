"""Touches before purchase, on a small business built by hand; each expected figure is
worked out in the comments."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kasatka.chains.models import ChainKind, Enrollment, EnrollmentState, Touch, TouchStatus
from kasatka.insights.filters import Filters
from kasatka.insights.touches import touches_before_purchase
from kasatka.sales.models import LeadSource, Purchase
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
TAKEN = datetime(2026, 3, 1, 10, tzinfo=MSK)
START, END = datetime(2026, 4, 1, tzinfo=MSK), datetime(2026, 5, 1, tzinfo=MSK)
_keys = itertools.count()


class Shop:
    def __init__(self, shop):
        self.shop = shop
        self.warming = builders.chain(shop, kind=ChainKind.WARMING)
        self.loyalty = builders.chain(shop, kind=ChainKind.LOYALTY, name="Лояльность")

    def client(self, phone_tail: int):
        contact = builders.contact(self.shop, phone=f"+7916100{phone_tail:04d}")
        contact.created_at = TAKEN
        contact.save(update_fields=["created_at"])
        return contact

    def enrol(self, contact, chain=None, state=EnrollmentState.ACTIVE, ended_at=None):
        chain = chain or self.warming
        return Enrollment.objects.create(
            business=self.shop, contact=contact, chain=chain, step=chain.steps.first(),
            state=state, enrolled_at=TAKEN, ended_at=ended_at,
        )

    def touches(self, enrollment, n, *, first_at=TAKEN + timedelta(days=1), channel="email",
                status=TouchStatus.DELIVERED):
        for i in range(n):
            Touch.objects.create(
                business=self.shop, enrollment=enrollment, step=enrollment.step,
                contact=enrollment.contact, channel=channel, status=status,
                idempotency_key=f"k{next(_keys)}", sent_at=first_at + timedelta(days=2 * i),
            )

    def buy(self, contact, at):
        Purchase.objects.create(business=self.shop, contact=contact, amount=Decimal(1000),
                                purchased_at=at)


@pytest.fixture
def world(shop):
    return Shop(shop)


def test_three_first_purchases_after_2_7_and_9_touches(world):
    # Anna: 2 touches, then buys on 10 April. Boris: 7 (5 e-mails, 2 SMS), buys 15 April.
    # Vera: 9, buys 20 April. Only Vera bought after more than 7 touches: 1/3.
    anna, boris, vera = world.client(1), world.client(2), world.client(3)
    world.touches(world.enrol(anna), 2)
    b = world.enrol(boris)
    world.touches(b, 5)
    world.touches(b, 2, channel="sms", first_at=TAKEN + timedelta(days=20))
    world.touches(world.enrol(vera), 9)
    world.buy(anna, datetime(2026, 4, 10, tzinfo=MSK))
    world.buy(boris, datetime(2026, 4, 15, tzinfo=MSK))
    world.buy(vera, datetime(2026, 4, 20, tzinfo=MSK))

    figures = touches_before_purchase(world.shop, START, END)

    assert figures.buyers == 3
    assert figures.distribution == {2: 1, 7: 1, 9: 1}
    assert figures.by_channel == {"email": 2 + 5 + 9, "sms": 2}
    assert figures.many == 7 and figures.after_many == 1
    assert figures.share_after_many == pytest.approx(1 / 3)
    assert figures.median == 7


def test_only_what_reached_the_client_before_the_first_purchase_counts(world):
    # Gleb: 4 delivered touches before his first purchase (12 April), 1 bounced and 1 failed
    # before it (not reached), 3 more after it (not before), a second purchase on 25 April
    # (not a first), and 2 touches from before he was taken (an old list): 4.
    gleb = world.client(4)
    e = world.enrol(gleb)
    world.touches(e, 4)
    world.touches(e, 1, status=TouchStatus.BOUNCED)
    world.touches(e, 1, status=TouchStatus.FAILED)
    world.touches(e, 3, first_at=datetime(2026, 4, 13, tzinfo=MSK))
    world.touches(e, 2, first_at=TAKEN - timedelta(days=10))
    world.buy(gleb, datetime(2026, 4, 12, tzinfo=MSK))
    world.buy(gleb, datetime(2026, 4, 25, tzinfo=MSK))
    # Dina bought first in March: outside the period, though she buys again in April.
    dina = world.client(5)
    world.touches(world.enrol(dina), 3)
    world.buy(dina, datetime(2026, 3, 20, tzinfo=MSK))
    world.buy(dina, datetime(2026, 4, 5, tzinfo=MSK))
    # Egor bought without a single touch (walked in): 0.
    egor = world.client(6)
    world.buy(egor, datetime(2026, 4, 2, tzinfo=MSK))

    figures = touches_before_purchase(world.shop, START, END)

    assert figures.distribution == {0: 1, 4: 1}
    assert figures.buyers == 2 and figures.after_many == 0
    assert figures.median == 2  # (0 + 4) / 2


def test_where_warming_gives_up_too_early(world, settings):
    # Ended in April without a purchase: Zoya after 2 touches, Ivan after 3, Kira after 7
    # → 2 of 3 gave up at ≤ 3. Not counted: Lev (ended, but still in a second warming),
    # Mila (ended after 1 touch, but bought), Nina (ended in March).
    ended = datetime(2026, 4, 10, tzinfo=MSK)
    for tail, n in ((7, 2), (8, 3), (9, 7)):
        contact = world.client(tail)
        world.touches(world.enrol(contact, state=EnrollmentState.FINISHED, ended_at=ended), n)
    lev = world.client(10)
    world.touches(world.enrol(lev, state=EnrollmentState.EXITED, ended_at=ended), 1)
    world.enrol(lev, chain=builders.chain(world.shop, name="Второй прогрев"))
    mila = world.client(11)
    world.touches(world.enrol(mila, state=EnrollmentState.EXITED, ended_at=ended), 1)
    world.buy(mila, datetime(2026, 4, 9, tzinfo=MSK))
    nina = world.client(12)
    world.touches(world.enrol(nina, state=EnrollmentState.FINISHED,
                              ended_at=datetime(2026, 3, 30, tzinfo=MSK)), 1)

    figures = touches_before_purchase(world.shop, START, END)
    assert (figures.warming_ended, figures.gave_up, figures.give_up_at) == (3, 2, 3)
    assert figures.share_gave_up == pytest.approx(2 / 3)

    settings.KASATKA_INSIGHTS = {"GIVE_UP_TOUCHES": 1}  # the figure is a setting
    assert touches_before_purchase(world.shop, START, END).gave_up == 0


def test_the_method_figure_is_the_business_setting(world):
    from kasatka.accounts.models import method_settings

    anna = world.client(13)
    world.touches(world.enrol(anna), 5)
    world.buy(anna, datetime(2026, 4, 10, tzinfo=MSK))
    assert touches_before_purchase(world.shop, START, END).after_many == 0  # 5 ≤ 7
    settings_row = method_settings(world.shop)
    settings_row.warming_touches = 4
    settings_row.save()
    assert touches_before_purchase(world.shop, START, END).after_many == 1  # 5 > 4


def test_an_empty_period_has_no_shares(world):
    figures = touches_before_purchase(world.shop, START, END)
    assert figures.buyers == 0 and figures.share_after_many is None
    assert figures.share_gave_up is None and figures.median is None


def test_the_seller_and_source_filters_narrow_every_figure(world, alice, bob):
    site = LeadSource.objects.create(business=world.shop, name="Сайт")

    def mine(contact, seller, source=None):
        contact.owner, contact.source = seller, source
        contact.save(update_fields=["owner", "source"])
        return contact

    # Alice's buyers: Anna (site) 2 e-mails, buys 10 April; Boris (no source) 9 SMS, buys
    # 12 April. Bob's buyer: Vera (site) 4 e-mails, buys 15 April.
    anna = mine(world.client(20), alice, site)
    boris = mine(world.client(21), alice)
    vera = mine(world.client(22), bob, site)
    world.touches(world.enrol(anna), 2)
    world.touches(world.enrol(boris), 9, channel="sms")
    world.touches(world.enrol(vera), 4)
    world.buy(anna, datetime(2026, 4, 10, tzinfo=MSK))
    world.buy(boris, datetime(2026, 4, 12, tzinfo=MSK))
    world.buy(vera, datetime(2026, 4, 15, tzinfo=MSK))
    # Warming ended in April without a purchase: Alice's Zoya after 1 touch (gave up),
    # Bob's Ivan (site) after 5 (did not).
    ended = datetime(2026, 4, 10, tzinfo=MSK)
    zoya = mine(world.client(23), alice)
    ivan = mine(world.client(24), bob, site)
    world.touches(world.enrol(zoya, state=EnrollmentState.FINISHED, ended_at=ended), 1)
    world.touches(world.enrol(ivan, state=EnrollmentState.FINISHED, ended_at=ended), 5)

    # Everyone: 3 buyers (2, 4, 9 touches), 9 > 7 once; 2 ended, 1 gave up.
    everyone = touches_before_purchase(world.shop, START, END)
    assert everyone.distribution == {2: 1, 4: 1, 9: 1} and everyone.after_many == 1
    assert (everyone.warming_ended, everyone.gave_up) == (2, 1)

    # Alice: Anna and Boris → {2: 1, 9: 1}, e-mail 2, SMS 9, one after many, median 5.5;
    # of the ended, Zoya only, who gave up.
    a = touches_before_purchase(world.shop, START, END, filters=Filters(seller=alice.pk))
    assert a.distribution == {2: 1, 9: 1} and a.by_channel == {"email": 2, "sms": 9}
    assert (a.buyers, a.after_many, a.median) == (2, 1, 5.5)
    assert (a.warming_ended, a.gave_up) == (1, 1)

    # The site: Anna and Vera → {2: 1, 4: 1}, e-mail 6, none after many; Ivan ended, 5 > 3.
    s = touches_before_purchase(world.shop, START, END, filters=Filters(source=site.pk))
    assert s.distribution == {2: 1, 4: 1} and s.by_channel == {"email": 6}
    assert (s.after_many, s.warming_ended, s.gave_up) == (0, 1, 0)

    # Both: Alice's site buyers are Anna alone; no ended warming of hers from the site.
    both = touches_before_purchase(world.shop, START, END,
                                   filters=Filters(seller=alice.pk, source=site.pk))
    assert both.distribution == {2: 1} and both.by_channel == {"email": 2}
    assert both.warming_ended == 0
