"""Lapsing now and win-back results on hand-built data; expected values worked out in the
comments."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kasatka.chains.actions import enroll
from kasatka.chains.models import Chain, ChainKind, Enrollment, EnrollmentState, Touch, TouchStatus
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.insights.filters import Filters
from kasatka.insights.models import ClientRisk
from kasatka.insights.winback import lapsing_now, winback_results
from kasatka.sales.models import Purchase
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
MARCH = datetime(2026, 3, 1, tzinfo=MSK), datetime(2026, 4, 1, tzinfo=MSK)
_tails = itertools.count(1)


def march(day, hour=12):
    return datetime(2026, 3, day, hour, tzinfo=MSK)


def client(shop, seller=None):
    n = next(_tails)
    return builders.contact(shop, email=f"client{n}@example.com", phone=f"+7916600{n:04d}",
                            owner=seller)


def buy(contact, amount, at):
    Purchase.objects.create(business_id=contact.business_id, contact=contact,
                            amount=Decimal(amount), purchased_at=at)


def winback(shop, name, active=True):
    chain = builders.chain(shop, kind=ChainKind.WINBACK, name=name)
    if not active:
        Chain.objects.filter(pk=chain.pk).update(is_active=False)
    return chain


def touch(enrollment, sent_at):
    step = enrollment.chain.steps.first()
    Touch.objects.create(
        business_id=enrollment.business_id, enrollment=enrollment, step=step,
        contact_id=enrollment.contact_id, channel="email",
        status=TouchStatus.SENT if sent_at else TouchStatus.QUEUED, sent_at=sent_at,
        idempotency_key=f"test-{next(_tails)}",
    )


def call(contact, at, outcome=""):
    CallTask.objects.create(business_id=contact.business_id, contact=contact, phone="+79160000000",
                            created_at=at, due_at=at, outcome=outcome,
                            closed_at=at + timedelta(hours=1) if outcome else None)


# --- lapsing now -------------------------------------------------------------------------


def risk(contact, p_alive, value, flagged="last"):
    last = march(1)
    flagged_for = {"last": last, "older": last - timedelta(days=90), None: None}[flagged]
    ClientRisk.objects.create(
        business_id=contact.business_id, contact=contact, purchase_days=2,
        first_purchase_at=last - timedelta(days=100), last_purchase_at=last,
        average_order=Decimal(1000), p_alive=p_alive, value_at_risk=Decimal(value),
        flagged_for=flagged_for, lapsed_since=march(2) if flagged else None,
    )


@pytest.fixture
def risks(shop, other_shop, alice, bob):
    # Lapsed (flagged for their last purchase), P(alive) and value at risk:
    risk(client(shop, alice), 0.10, 1000)  # band < 25 %
    risk(client(shop, bob), 0.30, 2000)  # band 25–50 %
    risk(client(shop, bob), 0.25, 500)  # exactly 25 %: band 25–50 %
    risk(client(shop, alice), 0.80, 4000)  # band ≥ 75 %
    risk(client(shop, bob), 1.0, 100)  # 100 %: still band ≥ 75 %
    risk(client(shop, alice), None, 300)  # no model: unknown
    # Not lapsed now: flagged for an older purchase (came back since), or never flagged.
    risk(client(shop, alice), 0.05, 9000, flagged="older")
    risk(client(shop, alice), 0.50, 7000, flagged=None)
    # Another business's lapsed client.
    risk(client(other_shop), 0.10, 50000)


def test_lapsing_now_counts_value_and_p_alive_bands(shop, risks, django_assert_num_queries):
    with django_assert_num_queries(1):
        now = lapsing_now(shop)
    # 6 lapsed; value 1,000 + 2,000 + 500 + 4,000 + 100 + 300 = 7,900.
    assert now.clients == 6
    assert now.value_at_risk == Decimal(7900)
    # Mean P(alive) over the 5 known: (0.10 + 0.30 + 0.25 + 0.80 + 1.0) / 5 = 2.45 / 5 = 0.49.
    assert now.with_p_alive == 5
    assert now.mean_p_alive == pytest.approx(0.49)
    # Bands: <25 %: 1 (1,000); 25–50 %: 2 (2,000 + 500); 50–75 %: 0; ≥75 %: 2 (4,000 + 100);
    # unknown: 1 (300).
    assert [(b.low, b.high, b.clients, b.value_at_risk) for b in now.bands] == [
        (0.0, 0.25, 1, Decimal(1000)),
        (0.25, 0.5, 2, Decimal(2500)),
        (0.5, 0.75, 0, Decimal(0)),
        (0.75, 1.0, 2, Decimal(4100)),
        (None, None, 1, Decimal(300)),
    ]
    assert now.bands[-1].is_unknown and not now.bands[0].is_unknown


def test_lapsing_now_of_one_seller(shop, risks, alice):
    now = lapsing_now(shop, Filters(seller=alice.pk))
    # Alice's lapsed: 0.10 (1,000), 0.80 (4,000), unknown (300) → 3, 5,300, mean 0.45.
    assert (now.clients, now.value_at_risk, now.with_p_alive) == (3, Decimal(5300), 2)
    assert now.mean_p_alive == pytest.approx(0.45)
    assert [b.clients for b in now.bands] == [1, 0, 0, 1, 1]


def test_lapsing_now_with_no_one_lapsed(shop):
    now = lapsing_now(shop)
    assert (now.clients, now.value_at_risk, now.mean_p_alive) == (0, Decimal(0), None)
    assert [b.clients for b in now.bands] == [0] * 5


# --- win-back results --------------------------------------------------------------------


@pytest.fixture
def winbacks(shop, other_shop, alice, bob):
    back = winback(shop, "Возвращение")
    calling = winback(shop, "Звонок")
    winback(shop, "Архив", active=False)  # no enrollment, paused: not listed
    winback(shop, "Пустая")  # no enrollment but active: listed with zeros

    # «Возвращение», 4 enrollments on 5 and 20 March:
    # A (Alice) buys 5,000 four days after → back, 4 days; an April purchase is past the end.
    a = client(shop, alice)
    ea = enroll(a, back, march(5))
    buy(a, 5000, march(9))
    buy(a, 2000, datetime(2026, 4, 3, 12, tzinfo=MSK))
    touch(ea, march(5, 13))
    touch(ea, march(7, 13))
    call(a, march(5), CallOutcome.REACHED)  # the lapse's call, made with the enrollment
    # B (Bob) bought on 1 March, before the enrollment: not back.
    b = client(shop, bob)
    buy(b, 3000, march(1))
    enroll(b, back, march(5))
    call(b, march(5), CallOutcome.NO_ANSWER)
    # C (Bob) never buys; one touch sent, one still queued; a call from before the enrollment.
    c = client(shop, bob)
    ec = enroll(c, back, march(5))
    touch(ec, march(5, 13))
    touch(ec, None)
    call(c, march(4))
    # D (Alice) enrolled on 20 March buys 2,000 on the 30th → back, 10 days; its touch was
    # sent in April, past the end.
    d = client(shop, alice)
    ed = enroll(d, back, march(20))
    buy(d, 2000, march(30))
    touch(ed, datetime(2026, 4, 2, 12, tzinfo=MSK))
    # «Возвращение»: 4 enrolled, 2 back (1/2), 5,000 + 2,000 = 7,000, (4 + 10) / 2 = 7 days,
    # touches 2 (A) + 1 (C) = 3, calls 2 (A, B; C's came before), both closed, 1 reached.

    # «Звонок»: F (Alice) enrolled 10 March buys 4,000 a day later; the call is still open.
    f = client(shop, alice)
    enroll(f, calling, march(10))
    buy(f, 4000, march(11))
    call(f, march(10))
    # «Звонок»: 1 enrolled, 1 back, 4,000, 1 day, 1 call, none closed.

    # Not counted: enrolled in February (bought in March); a warming chain; another shop.
    g = client(shop, alice)
    enroll(g, back, datetime(2026, 2, 25, tzinfo=MSK))
    buy(g, 8000, march(3))
    h = client(shop, alice)
    enroll(h, builders.chain(shop), march(5))
    buy(h, 8000, march(6))
    x = client(other_shop)
    enroll(x, winback(other_shop, "Их возвращение"), march(5))
    buy(x, 8000, march(6))


def test_winback_results_per_chain_and_total(shop, winbacks, django_assert_num_queries):
    # Grouped SQL, not a query per client: the figures, the touches, the chains' names.
    with django_assert_num_queries(3):
        lines = winback_results(shop, *MARCH)
    # Chains by name, then the total.
    assert [line.chain_name for line in lines] == ["Возвращение", "Звонок", "Пустая", ""]
    back, calling, empty, total = lines

    assert (back.enrolled, back.returned, back.return_rate) == (4, 2, 0.5)
    assert back.revenue == Decimal(7000)
    assert back.mean_days_to_return == pytest.approx(7.0)
    assert back.touches_sent == 3
    assert (back.calls, back.calls_closed, back.calls_reached) == (2, 2, 1)

    assert (calling.enrolled, calling.returned, calling.revenue) == (1, 1, Decimal(4000))
    assert calling.mean_days_to_return == pytest.approx(1.0)
    assert (calling.calls, calling.calls_closed, calling.touches_sent) == (1, 0, 0)

    assert (empty.enrolled, empty.return_rate, empty.mean_days_to_return) == (0, None, None)

    # Total: 5 enrolled, 3 back (3/5), 11,000, (4 + 10 + 1) / 3 = 5 days, 3 touches, 3 calls.
    assert total.chain_id is None
    assert (total.enrolled, total.returned, total.return_rate) == (5, 3, 0.6)
    assert total.revenue == Decimal(11000)
    assert total.mean_days_to_return == pytest.approx(5.0)
    assert (total.touches_sent, total.calls, total.calls_closed, total.calls_reached) == (
        3, 3, 2, 1)


def test_winback_results_of_one_seller(shop, winbacks, alice):
    lines = winback_results(shop, *MARCH, Filters(seller=alice.pk))
    back, calling, _empty, total = lines
    # Alice's: A and D in «Возвращение» (both back, 7,000, 7 days, A's 2 touches and call),
    # F in «Звонок».
    assert (back.enrolled, back.returned, back.revenue) == (2, 2, Decimal(7000))
    assert (back.touches_sent, back.calls, back.calls_reached) == (2, 1, 1)
    assert (calling.enrolled, calling.returned) == (1, 1)
    assert (total.enrolled, total.returned, total.return_rate) == (3, 3, 1.0)
    assert total.revenue == Decimal(11000)


def test_a_client_lapsing_twice_is_credited_once_per_attempt(shop, alice):
    back = winback(shop, "Возвращение")
    e = client(shop, alice)
    # First attempt on 2 March: back on the 6th with 1,500 (4 days); its enrollment ends.
    first = enroll(e, back, march(2))
    buy(e, 1500, march(6))
    Enrollment.objects.filter(pk=first.pk).update(state=EnrollmentState.FINISHED)
    # Second attempt on 15 March: back on the 25th with 2,500 (10 days). The first attempt's
    # window stops at the second's start, so its revenue is 1,500, not 4,000.
    enroll(e, back, march(15))
    buy(e, 2500, march(25))

    line, total = winback_results(shop, *MARCH)
    # 2 attempts, both back, 1,500 + 2,500 = 4,000, (4 + 10) / 2 = 7 days.
    assert (line.enrolled, line.returned, line.revenue) == (2, 2, Decimal(4000))
    assert line.mean_days_to_return == pytest.approx(7.0)
    assert total.revenue == Decimal(4000)


def test_no_winback_chain_gives_only_an_empty_total(shop):
    (total,) = winback_results(shop, *MARCH)
    assert (total.chain_id, total.enrolled, total.return_rate) == (None, 0, None)
