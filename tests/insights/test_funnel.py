"""The funnel on a hand-built cohort; each expected value worked out in the comments."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kasatka.contacts.models import Stage, StageChange
from kasatka.insights.filters import Filters
from kasatka.insights.funnel import funnel, funnel_by
from kasatka.sales.models import LeadSource
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
MARCH = datetime(2026, 3, 1, tzinfo=MSK), datetime(2026, 4, 1, tzinfo=MSK)
DAY1 = datetime(2026, 3, 2, 10, tzinfo=MSK)


def taken(shop, tail, *, owner=None, source=None, at=DAY1):
    contact = builders.contact(shop, phone=f"+7916300{tail:04d}", owner=owner)
    contact.created_at, contact.source = at, source
    contact.save(update_fields=["created_at", "source"])
    return contact


def moved(contact, old, new, days):
    StageChange.objects.create(business=contact.business, contact=contact, old=old, new=new,
                               cause="test", changed_at=contact.created_at + timedelta(days=days))


def test_the_cohort_s_stages_conversions_and_step_times(shop, alice, bob, other_shop):
    site = LeadSource.objects.create(business=shop, name="Сайт")
    # Six leads taken in March.
    a = taken(shop, 1, owner=alice, source=site)  # new after 4 days, regular 10 days later
    moved(a, Stage.LEAD, Stage.NEW, 4)
    moved(a, Stage.NEW, Stage.REGULAR, 14)
    b = taken(shop, 2, owner=alice, source=site)  # new after 2 days
    moved(b, Stage.LEAD, Stage.NEW, 2)
    c = taken(shop, 3, owner=bob)  # straight to regular after 6 days (skips new: reaches it)
    moved(c, Stage.LEAD, Stage.REGULAR, 6)
    d = taken(shop, 4, owner=bob)  # new only after the period: not reached by its end
    moved(d, Stage.LEAD, Stage.NEW, 40)
    taken(shop, 5, owner=bob)
    taken(shop, 6, owner=alice, source=site)
    # Not in the cohort: taken in February (new in March), and another shop's lead.
    moved(taken(shop, 7, at=datetime(2026, 2, 10, tzinfo=MSK)), Stage.LEAD, Stage.NEW, 25)
    moved(taken(other_shop, 8), Stage.LEAD, Stage.NEW, 1)
    # The stage's own flags are not stage moves.
    StageChange.objects.create(business=shop, contact=b, field="is_impulsive", old="False",
                               new="True", cause="test", changed_at=DAY1)

    whole = funnel(shop, *MARCH)

    # Reached: lead 6; new a, b, c = 3; regular a, c = 2; adept 0.
    assert whole.reached == {"lead": 6, "new": 3, "regular": 2, "adept": 0}
    assert whole.conversion("new") == pytest.approx(3 / 6)
    assert whole.conversion("regular") == pytest.approx(2 / 3)
    assert whole.conversion("adept") == 0
    # Lead → new: a 4 d, b 2 d, c 6 d (its jump counts for new too) → 4 days.
    assert whole.step_time["new"] == timedelta(days=4)
    # New → regular: a 14 − 4 = 10 d; c 6 − 6 = 0 d (it reached both at once) → 5 days.
    assert whole.step_time["regular"] == timedelta(days=5)
    assert whole.step_time["adept"] is None

    by_seller = {line.key: line.reached for line in funnel_by(shop, *MARCH, by="seller")}
    assert by_seller[alice.pk] == {"lead": 3, "new": 2, "regular": 1, "adept": 0}
    assert by_seller[bob.pk] == {"lead": 3, "new": 1, "regular": 1, "adept": 0}
    by_source = {line.key: line.reached["new"] for line in funnel_by(shop, *MARCH, by="source")}
    assert by_source == {site.pk: 2, None: 1}


def test_an_empty_cohort_has_no_conversions(shop):
    whole = funnel(shop, *MARCH)
    assert whole.reached["lead"] == 0 and whole.conversion("new") is None


def test_the_filters_narrow_the_cohort(shop, alice, bob):
    site = LeadSource.objects.create(business=shop, name="Сайт")
    # Alice: a (site) new after 2 days; b (no source) new after 6 days, regular 4 later.
    # Bob: c (site) stays a lead; d (site) new after 10 days.
    a = taken(shop, 11, owner=alice, source=site)
    moved(a, Stage.LEAD, Stage.NEW, 2)
    b = taken(shop, 12, owner=alice)
    moved(b, Stage.LEAD, Stage.NEW, 6)
    moved(b, Stage.NEW, Stage.REGULAR, 10)
    taken(shop, 13, owner=bob, source=site)
    d = taken(shop, 14, owner=bob, source=site)
    moved(d, Stage.LEAD, Stage.NEW, 10)

    # Alice: lead 2, new 2 (2 d and 6 d → 4 days), regular 1.
    hers = funnel(shop, *MARCH, filters=Filters(seller=alice.pk))
    assert hers.reached == {"lead": 2, "new": 2, "regular": 1, "adept": 0}
    assert hers.step_time["new"] == timedelta(days=4)
    # The site: a, c, d → lead 3, new 2 (2 d and 10 d → 6 days), regular 0.
    site_line = funnel(shop, *MARCH, filters=Filters(source=site.pk))
    assert site_line.reached == {"lead": 3, "new": 2, "regular": 0, "adept": 0}
    assert site_line.step_time["new"] == timedelta(days=6)
    # The site split by seller: Alice 1 lead (a, new), Bob 2 leads (d new).
    by_seller = {line.key: line.reached for line in funnel_by(
        shop, *MARCH, by="seller", filters=Filters(source=site.pk))}
    assert by_seller == {alice.pk: {"lead": 1, "new": 1, "regular": 0, "adept": 0},
                         bob.pk: {"lead": 2, "new": 1, "regular": 0, "adept": 0}}


def test_the_page_s_three_views_in_one_pass_equal_the_separate_figures(shop, alice, bob):
    from kasatka.insights.funnel import funnel_views

    site = LeadSource.objects.create(business=shop, name="Сайт")
    a = taken(shop, 1, owner=alice, source=site)
    moved(a, Stage.LEAD, Stage.NEW, 4)
    moved(a, Stage.NEW, Stage.REGULAR, 14)
    moved(taken(shop, 2, owner=bob), Stage.LEAD, Stage.ADEPT, 3)
    taken(shop, 3, source=site)
    for filters in (Filters(), Filters(seller=alice.pk), Filters(source=site.pk)):
        whole, by_source, by_seller = funnel_views(shop, *MARCH, filters=filters)
        assert whole == funnel(shop, *MARCH, filters=filters)
        assert by_source == funnel_by(shop, *MARCH, by="source", filters=filters)
        assert by_seller == funnel_by(shop, *MARCH, by="seller", filters=filters)
    whole, by_source, by_seller = funnel_views(shop, *MARCH)
    # 3 leads: a new then regular, bob's straight to adept (reaches every stage), one lead.
    assert whole.reached == {"lead": 3, "new": 2, "regular": 2, "adept": 1}
    assert {line.key: line.reached["lead"] for line in by_seller} == {
        alice.pk: 1, bob.pk: 1, None: 1}
    assert {line.key: line.reached["new"] for line in by_source} == {site.pk: 1, None: 1}
