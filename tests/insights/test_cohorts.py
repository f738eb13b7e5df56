"""Monthly cohorts on hand-built purchases; each expected value worked out in the comments."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kasatka.insights.cohorts import cohorts
from kasatka.insights.filters import Filters
from kasatka.sales.models import LeadSource, Purchase
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")


def buys(shop, tail, *moments_and_amounts):
    contact = builders.contact(shop, phone=f"+7916400{tail:04d}")
    for moment, amount in moments_and_amounts:
        Purchase.objects.create(business=shop, contact=contact, amount=Decimal(amount),
                                purchased_at=moment)
    return contact


def at(month, day, hour=12, year=2026):
    return datetime(year, month, day, hour, tzinfo=MSK)


def test_cohorts_by_first_month_repeat_rates_and_revenue(shop, other_shop):
    # January cohort: Anna (Jan 5, again Feb 10 and Mar 3), Boris (Jan 20, again Mar 15),
    # Vera (Jan 31 23:30 Moscow — still January there, though February 1 in some zones;
    # two purchases in January, none later). Size 3.
    buys(shop, 1, (at(1, 5), 1000), (at(2, 10), 500), (at(3, 3), 700))
    buys(shop, 2, (at(1, 20), 2000), (at(3, 15), 300))
    buys(shop, 3, (at(1, 31, 23), 100), (at(1, 31, 23), 50))
    # February cohort: Gleb (Feb 2, again in January of the next year: 11 months later).
    buys(shop, 4, (at(2, 2), 400), (at(1, 7, year=2027), 900))
    # Outside: a first purchase in December 2025, and another shop's client.
    buys(shop, 5, (at(12, 30, year=2025), 10), (at(1, 10), 20))
    buys(other_shop, 6, (at(1, 9), 5000))

    found = cohorts(shop, at(1, 1, 0), at(3, 1, 0))

    assert [(c.year, c.month, c.size) for c in found] == [(2026, 1, 3), (2026, 2, 1)]
    january, february = found
    # January: month 0 — 3 buyers, 1000 + 2000 + 150 = 3150; month 1 (Feb) — Anna: 1/3,
    # 500; month 2 (Mar) — Anna and Boris: 2/3, 700 + 300 = 1000.
    assert january.buyers == {0: 3, 1: 1, 2: 2}
    assert january.revenue == {0: Decimal(3150), 1: Decimal(500), 2: Decimal(1000)}
    assert january.repeat_rate(1) == pytest.approx(1 / 3)
    assert january.repeat_rate(2) == pytest.approx(2 / 3)
    assert january.repeat_rate(5) == 0
    # February: Gleb again 11 months later.
    assert february.buyers == {0: 1, 11: 1} and february.repeat_rate(11) == 1


def test_the_filters_narrow_the_cohorts(shop, alice, bob):
    site = LeadSource.objects.create(business=shop, name="Сайт")

    def owned(contact, seller, source=None):
        contact.owner, contact.source = seller, source
        contact.save(update_fields=["owner", "source"])

    # January: Alice's Anna (site; again in February, 300), Alice's Boris (no source);
    # Bob's Vera (site; again in February, 700 and 100).
    owned(buys(shop, 11, (at(1, 5), 1000), (at(2, 5), 300)), alice, site)
    owned(buys(shop, 12, (at(1, 6), 2000)), alice)
    owned(buys(shop, 13, (at(1, 7), 4000), (at(2, 7), 700), (at(2, 9), 100)), bob, site)

    # Alice: size 2 (Anna, Boris), month 1 Anna alone: 1/2, 300.
    [january] = cohorts(shop, at(1, 1, 0), at(2, 1, 0), filters=Filters(seller=alice.pk))
    assert january.size == 2 and january.buyers == {0: 2, 1: 1}
    assert january.revenue == {0: Decimal(3000), 1: Decimal(300)}
    assert january.repeat_rate(1) == pytest.approx(1 / 2)
    # The site: Anna and Vera, both again in February: 2/2, 300 + 700 + 100 = 1,100.
    [january] = cohorts(shop, at(1, 1, 0), at(2, 1, 0), filters=Filters(source=site.pk))
    assert january.size == 2 and january.repeat_rate(1) == 1
    assert january.revenue == {0: Decimal(5000), 1: Decimal(1100)}
