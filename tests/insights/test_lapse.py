"""Lapse detection: the coffee drinker and the furniture buyer of METHOD.md §6, the win-back
it starts, once per lapse, and the scores kept per client."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from kasatka.accounts.models import method_settings
from kasatka.chains.models import ChainKind, Enrollment, EnrollmentState
from kasatka.channels.call.models import CallTask
from kasatka.contacts.actions import withdraw_consent
from kasatka.contacts.models import Channel, ConsentBasis
from kasatka.insights import bgnbd
from kasatka.insights.lapse import (
    DAYS_PER_WEEK,
    MIN_REPEAT_BUYERS,
    detect_lapses,
    load_history,
    median_gaps,
)
from kasatka.insights.models import ChurnModel, ClientRisk
from kasatka.sales.actions import record_purchase
from kasatka.sales.models import Purchase
from tests.builders import chain, contact


def _settings(shop, **values):
    settings = method_settings(shop)
    for name, value in values.items():
        setattr(settings, name, value)
    settings.save()
    return settings


def _winback(shop):
    return chain(shop, kind=ChainKind.WINBACK, exit_on_purchase=True, name="Возвращение")


def _coffee_weeks(client, seller, last, weeks=4):
    """Five coffees a week, Monday to Friday, the last one at `last`."""
    for week in range(weeks):
        for weekday in range(5):
            at = last - timedelta(days=7 * week + (4 - weekday))
            record_purchase(client, Decimal("250.00"), seller, at)


def _risk(client):
    return ClientRisk.objects.get(contact=client)


@pytest.fixture
def drinker(shop, alice):
    return contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)


def test_coffee_client_absent_three_days_is_flagged_by_the_shops_period(
    shop, alice, drinker, clock
):
    _settings(shop, lapse_period_days=3)
    winback = _winback(shop)
    last = clock.now() - timedelta(days=3)  # Friday morning
    _coffee_weeks(drinker, alice, last)

    clock.set(last + timedelta(days=2, hours=23))
    assert detect_lapses(clock.now()) == 0
    assert not _risk(drinker).is_lapsed

    clock.set(last + timedelta(days=3, hours=1))
    assert detect_lapses(clock.now()) == 1

    risk = _risk(drinker)
    assert risk.is_lapsed and risk.lapsed_since == clock.now()
    assert risk.lapse_after == timedelta(days=3)
    assert Enrollment.objects.filter(
        contact=drinker, chain=winback, state=EnrollmentState.ACTIVE
    ).exists()
    task = CallTask.objects.get(contact=drinker)
    assert (task.assignee, task.phone, task.due_at) == (alice, "+79161234567", clock.now())
    assert risk.call_task == task
    # In the shop's language, with the last purchase's date in the shop's zone.
    assert task.reason.startswith("Клиент перестал покупать")
    assert "27.02.2026" in task.reason


def test_coffee_client_absent_three_days_is_flagged_by_their_own_rhythm(
    shop, alice, drinker, clock
):
    settings = _settings(shop, lapse_period_days=None)
    last = clock.now() - timedelta(days=3)  # Friday morning
    _coffee_weeks(drinker, alice, last)

    clock.set(last + timedelta(days=1, hours=12))
    assert detect_lapses(clock.now()) == 0
    risk = _risk(drinker)
    # Gaps Mon→Tue…Thu→Fri are 1 day, Fri→Mon 3: the median is 1, times the factor 2.
    assert risk.usual_gap == timedelta(days=1)
    assert risk.lapse_after == timedelta(days=float(settings.lapse_factor))

    clock.set(last + timedelta(days=3))
    assert detect_lapses(clock.now()) == 1
    assert _risk(drinker).is_lapsed


@pytest.fixture
def furniture_buyer(shop, alice, clock):
    client = contact(shop, email="ivan@example.com", phone="+79169876543", owner=alice)
    record_purchase(client, Decimal("85000.00"), alice, clock.now() - timedelta(days=400))
    record_purchase(client, Decimal("42000.00"), alice, clock.now())
    return client


def test_furniture_client_is_not_lapsed_at_ten_months_and_is_at_nineteen(
    shop, alice, furniture_buyer, clock
):
    _settings(shop, lapse_period_days=540)
    _winback(shop)
    last = clock.now()

    clock.set(last + timedelta(days=304))  # ten months
    assert detect_lapses(clock.now()) == 0
    assert not _risk(furniture_buyer).is_lapsed
    assert not CallTask.objects.filter(contact=furniture_buyer).exists()

    clock.set(last + timedelta(days=578))  # nineteen months
    assert detect_lapses(clock.now()) == 1
    assert _risk(furniture_buyer).is_lapsed
    assert CallTask.objects.filter(contact=furniture_buyer, assignee=alice).count() == 1


def test_a_second_run_does_nothing(shop, alice, furniture_buyer, clock):
    _settings(shop, lapse_period_days=540)
    _winback(shop)
    clock.advance(timedelta(days=578))
    assert detect_lapses(clock.now()) == 1

    clock.advance(timedelta(minutes=1))
    assert detect_lapses(clock.now()) == 0
    clock.advance(timedelta(days=1))  # a new day: everything is refitted and rescored
    assert detect_lapses(clock.now()) == 0
    assert CallTask.objects.filter(contact=furniture_buyer).count() == 1
    assert Enrollment.objects.filter(contact=furniture_buyer).count() == 1


def test_a_client_who_comes_back_and_lapses_again_is_flagged_again(
    shop, alice, furniture_buyer, clock
):
    _settings(shop, lapse_period_days=540)
    clock.advance(timedelta(days=578))
    assert detect_lapses(clock.now()) == 1

    clock.advance(timedelta(days=10))
    record_purchase(furniture_buyer, Decimal("30000.00"), alice, clock.now())
    clock.advance(timedelta(minutes=1))
    assert detect_lapses(clock.now()) == 0
    risk = _risk(furniture_buyer)
    assert not risk.is_lapsed
    assert risk.lapse_at == risk.last_purchase_at + timedelta(days=540)

    clock.advance(timedelta(days=541))
    assert detect_lapses(clock.now()) == 1
    assert CallTask.objects.filter(contact=furniture_buyer).count() == 2


def test_a_lapse_found_long_after_is_listed_but_starts_nothing(
    shop, alice, furniture_buyer, clock
):
    """History imported years after the fact: no calls about clients gone for years."""
    _settings(shop, lapse_period_days=540)
    _winback(shop)
    clock.advance(timedelta(days=540 * 2 + 1))
    assert detect_lapses(clock.now()) == 1
    assert _risk(furniture_buyer).is_lapsed
    assert not CallTask.objects.exists()
    assert not Enrollment.objects.filter(contact=furniture_buyer, chain__kind="winback").exists()


def test_no_call_without_a_phone_or_after_a_refusal_but_the_winback_starts(shop, alice, clock):
    _settings(shop, lapse_period_days=30)
    winback = _winback(shop)
    no_phone = contact(shop, email="olga@example.com", owner=alice, first_name="Ольга")
    refused = contact(shop, email="petr@example.com", phone="+79160000001", owner=alice,
                      first_name="Пётр", patronymic="Ильич", last_name="Петров")
    withdraw_consent(refused, Channel.CALL, ConsentBasis.VERBAL)
    for client in (no_phone, refused):
        record_purchase(client, Decimal("1000.00"), alice, clock.now() - timedelta(days=60))
        record_purchase(client, Decimal("1000.00"), alice, clock.now())
    clock.advance(timedelta(days=31))

    assert detect_lapses(clock.now()) == 2
    assert not CallTask.objects.exists()
    assert Enrollment.objects.filter(chain=winback).count() == 2


def test_one_purchase_day_cannot_lapse(shop, alice, drinker, clock):
    _settings(shop, lapse_period_days=3)
    record_purchase(drinker, Decimal("250.00"), alice, clock.now())
    record_purchase(drinker, Decimal("90.00"), alice, clock.now() + timedelta(minutes=5))
    clock.advance(timedelta(days=10))
    assert detect_lapses(clock.now()) == 0
    risk = _risk(drinker)
    assert risk.purchase_days == 1 and risk.lapse_after is None


def test_too_little_history_gives_no_probability(shop, alice, furniture_buyer, clock):
    clock.advance(timedelta(days=1))
    detect_lapses(clock.now())
    model = ChurnModel.objects.get(business=shop)
    assert not model.is_fitted
    assert model.repeat_buyers == 1 and str(MIN_REPEAT_BUYERS) in model.note
    risk = _risk(furniture_buyer)
    assert risk.p_alive is None and risk.expected_purchases is None
    # Without a model: the average purchase times the purchases of a year at their rhythm.
    assert risk.value_at_risk == Decimal("63500.00") * 365 / 400


def _simulated_shop(shop, clock, customers=300, seed=7):
    """Clients whose purchases follow a BG/NBD process, weekly parameters of the CDNOW kind."""
    rng = np.random.default_rng(seed)
    contacts = [
        contact(shop, email=f"c{i}@example.com", consent=(), first_name=f"Клиент{i}")
        for i in range(customers)
    ]
    weeks_observed = rng.uniform(20, 52, customers)
    who, when = bgnbd.simulate(rng, (0.5, 4.0, 0.8, 2.5), weeks_observed)
    now = clock.now()
    starts = [now - timedelta(weeks=float(w)) for w in weeks_observed]
    rows = [Purchase(business=shop, contact=c, amount=Decimal(100 + i % 7 * 50),
                     purchased_at=starts[i]) for i, c in enumerate(contacts)]
    rows += [Purchase(business=shop, contact=contacts[i], amount=Decimal("150.00"),
                      purchased_at=min(starts[i] + timedelta(weeks=float(t)), now))
             for i, t in zip(who.tolist(), when.tolist(), strict=True)]
    Purchase.objects.bulk_create(rows)
    return contacts


def test_probability_alive_comes_from_the_business_model(shop, clock):
    contacts = _simulated_shop(shop, clock)
    detect_lapses(clock.now())

    model = ChurnModel.objects.get(business=shop)
    assert model.is_fitted and model.repeat_buyers >= MIN_REPEAT_BUYERS
    fitted = bgnbd.BGNBD(model.r, model.alpha, model.a, model.b)
    history = load_history(shop, clock.now())
    ids, summary = bgnbd.summarise(
        history.contact, history.day, clock.now().astimezone(shop.zone).date().toordinal(),
        DAYS_PER_WEEK,
    )
    expected = dict(zip(ids.tolist(), fitted.p_alive(summary.x, summary.t_x, summary.T),
                        strict=True))
    risks = {r.contact_id: r for r in ClientRisk.objects.filter(business=shop)}
    assert len(risks) == len(contacts)
    for contact_id, p in expected.items():
        assert risks[contact_id].p_alive == pytest.approx(p)
        assert 0.0 <= risks[contact_id].p_alive <= 1.0
    one_timers = [risks[c].p_alive for c, x in zip(ids.tolist(), summary.x, strict=True)
                  if x == 0]
    assert one_timers and all(p == 1.0 for p in one_timers)


def test_median_gaps_per_client():
    contact_ids = np.array([1, 1, 1, 1, 2, 2, 3])
    days = np.array([10, 11, 12, 20, 5, 9, 1])
    assert median_gaps(contact_ids, days) == {1: 1.0, 2: 4.0}


def test_within_a_day_only_clients_with_new_purchases_are_rescored(
    shop, alice, furniture_buyer, drinker, clock
):
    _settings(shop, lapse_period_days=540)
    record_purchase(drinker, Decimal("250.00"), alice, clock.now() - timedelta(days=1))
    detect_lapses(clock.now())
    fitted_at = ChurnModel.objects.get(business=shop).fitted_at
    before = _risk(drinker).computed_at

    clock.advance(timedelta(minutes=1))
    record_purchase(furniture_buyer, Decimal("5000.00"), alice, clock.now())
    clock.advance(timedelta(minutes=1))
    detect_lapses(clock.now())

    risk = _risk(furniture_buyer)
    assert risk.last_purchase_at == clock.now() - timedelta(minutes=1)
    assert risk.average_order == Decimal("66000.00")  # 85,000 + (42,000 + 5,000 the same day)
    assert risk.computed_at == clock.now()
    assert _risk(drinker).computed_at == before  # not touched: nothing new
    assert ChurnModel.objects.get(business=shop).fitted_at == fitted_at  # no refit


def test_a_quiet_minute_costs_a_handful_of_queries(
    shop, alice, furniture_buyer, clock, django_assert_num_queries
):
    detect_lapses(clock.now())
    clock.advance(timedelta(minutes=1))
    # The businesses; then per business: settings, model state, newest purchase, due lapses.
    with django_assert_num_queries(5):
        assert detect_lapses(clock.now()) == 0


def test_a_model_whose_expectation_is_not_a_number_falls_back_to_the_clients_rhythm(
    shop, alice, clock
):
    """A fit on look-alike buyers can run r and α off to millions; eq. (10) then gives NaN,
    and the value at risk must not silently become 0."""
    from kasatka.insights.lapse import load_history, score

    settings = _settings(shop, lapse_period_days=30)
    client = contact(shop, email="r@example.com", owner=alice)
    # Three purchases of 2,000, 10 days apart: the usual gap is 10 days.
    for days_ago in (20, 10, 0):
        record_purchase(client, Decimal("2000.00"), alice, clock.now() - timedelta(days=days_ago))
    runaway = bgnbd.BGNBD(r=3e6, alpha=5e7, a=0.5, b=2.0)
    history = load_history(shop, clock.now())
    [risk] = score(shop, settings, runaway, history, clock.now())
    assert risk.expected_purchases is None
    # 2,000 a purchase day × (the regular period / 10 days).
    expected = Decimal(2000 * settings.regular_period_days / 10).quantize(Decimal("0.01"))
    assert risk.value_at_risk == expected > 0
