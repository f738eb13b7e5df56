"""The BG/NBD model's formulas against the paper's, their known limits, and the fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import hyp2f1

from kasatka.insights import bgnbd

CDNOW = bgnbd.BGNBD(0.243, 4.414, 0.793, 2.426)

positive = st.floats(min_value=0.05, max_value=20.0)
params = st.tuples(positive, positive, positive, positive)


@st.composite
def customers(draw):
    T = draw(st.floats(min_value=0.1, max_value=200.0))
    x = draw(st.integers(min_value=0, max_value=300))
    t_x = 0.0 if x == 0 else draw(st.floats(min_value=0.0, max_value=T))
    return float(x), t_x, T


@given(params, customers())
@settings(max_examples=300, deadline=None)
def test_p_alive_is_a_probability_and_one_before_any_repeat(p, customer):
    model = bgnbd.BGNBD(*p)
    x, t_x, T = customer
    alive = float(model.p_alive(x, t_x, T))
    assert 0.0 <= alive <= 1.0
    if x == 0:
        assert alive == 1.0  # the model lets no one drop out before a repeat purchase
    else:
        # Eq. (13) in plain floats where it does not overflow.
        exponent = (p[0] + x) * math.log((p[1] + T) / (p[1] + t_x))
        if exponent < 500:
            plain = 1.0 / (1.0 + p[2] / (p[3] + x - 1) * math.exp(exponent))
            assert alive == pytest.approx(plain, rel=1e-9, abs=1e-300)


@given(params, st.integers(min_value=1, max_value=50), st.floats(min_value=0.1, max_value=100))
@settings(max_examples=200, deadline=None)
def test_p_alive_limits(p, x, T):
    model = bgnbd.BGNBD(*p)
    _r, _alpha, a, b = p
    # Bought last just now: only the chance of dropping out at that purchase is left.
    assert float(model.p_alive(x, T, T)) == pytest.approx(1.0 / (1.0 + a / (b + x - 1)))
    # Silent for longer and longer: less and less likely alive.
    later = model.p_alive(x, T, [T, 2 * T, 10 * T, 1000 * T])
    assert np.all(np.diff(later) <= 0)
    assert later[-1] < later[0] or later[0] == 0.0


def _eq10(model, t, x, t_x, T):
    r, alpha, a, b = model.params
    z = t / (alpha + T + t)
    numerator = (a + b + x - 1) / (a - 1) * (
        1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    )
    return numerator / (1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))


@pytest.mark.parametrize(
    "t, x, t_x, T",
    [(39, 2, 30.43, 38.86), (39, 0, 0, 38.86), (10, 10, 30, 38), (52, 50, 38, 38.86),
     (5, 1, 1, 30), (1, 3, 2, 2)],
)
def test_conditional_expectation_is_the_papers_equation_10(t, x, t_x, T):
    ours = CDNOW.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T)
    assert float(ours) == pytest.approx(_eq10(CDNOW, t, x, t_x, T), rel=1e-9)


def test_conditional_expectation_of_a_newcomer_is_the_unconditional_one():
    horizons = np.array([1.0, 13.0, 39.0, 78.0])
    new = CDNOW.conditional_expected_number_of_purchases_up_to_time(horizons, 0, 0, 0)
    assert new == pytest.approx(CDNOW.expected_number_of_purchases_up_to_time(horizons))


def test_conditional_expectation_stays_finite_for_a_heavy_buyer():
    # 400 repeat purchases: the plain eq. (10) overflows in the power and the series.
    value = CDNOW.conditional_expected_number_of_purchases_up_to_time(52, 400, 38.8, 38.86)
    assert np.isfinite(value) and 200 < float(value) < 800


def _plain_log_likelihood(p, x, t_x, T):
    """Eq. (6) term by term with beta functions, one customer, in plain floats."""
    r, alpha, a, b = p

    def lbeta(u, v):
        return math.lgamma(u) + math.lgamma(v) - math.lgamma(u + v)

    common = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
    first = lbeta(a, b + x) - lbeta(a, b) - (r + x) * math.log(alpha + T)
    if x == 0:
        return common + first
    second = lbeta(a + 1, b + x - 1) - lbeta(a, b) - (r + x) * math.log(alpha + t_x)
    top = max(first, second)
    return common + top + math.log(math.exp(first - top) + math.exp(second - top))


@given(params, st.lists(customers(), min_size=1, max_size=20))
@settings(max_examples=100, deadline=None)
def test_vectorised_log_likelihood_is_equation_6(p, rows):
    x, t_x, T = (np.array(c) for c in zip(*rows, strict=True))
    ours = bgnbd.log_likelihood(p, bgnbd.Summary(x, t_x, T))
    for value, row in zip(ours, rows, strict=True):
        assert value == pytest.approx(_plain_log_likelihood(p, *row), rel=1e-9, abs=1e-9)


def test_the_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    T = rng.uniform(20, 40, 500)
    who, when = bgnbd.simulate(rng, CDNOW.params, T)
    x = np.bincount(who, minlength=500).astype(float)
    t_x = np.zeros(500)
    np.maximum.at(t_x, who, when)
    summary = bgnbd.Summary(x, t_x, T)
    weights = rng.integers(1, 4, 500).astype(float)
    point = np.log([0.4, 3.0, 0.9, 2.0])
    _value, grad = bgnbd._negative_ll_and_gradient(point, summary, weights)
    step = 1e-6
    for i in range(4):
        e = np.zeros(4)
        e[i] = step
        up, _g = bgnbd._negative_ll_and_gradient(point + e, summary, weights)
        down, _g = bgnbd._negative_ll_and_gradient(point - e, summary, weights)
        assert grad[i] == pytest.approx((up - down) / (2 * step), rel=1e-5, abs=1e-8)


def test_summary_counts_purchase_days_from_the_first_one():
    customer = [5, 5, 5, 5, 9, 7, 7]
    day = [100, 100, 107, 121, 110, 103, 103]  # customer 5 bought twice on day 100
    ids, s = bgnbd.summarise(customer, day, end_day=135)
    assert ids.tolist() == [5, 7, 9]
    assert s.x.tolist() == [2, 0, 0]
    assert s.t_x.tolist() == [3.0, 0.0, 0.0]
    assert s.T.tolist() == [5.0, 32 / 7, 25 / 7]


def test_simulated_parameters_are_recovered_and_aggregation_changes_nothing():
    rng = np.random.default_rng(11)
    true = (0.5, 6.0, 0.7, 3.0)
    T = rng.uniform(30, 52, 20_000)
    who, when = bgnbd.simulate(rng, true, T)
    x = np.bincount(who, minlength=T.size).astype(float)
    t_x = np.zeros(T.size)
    np.maximum.at(t_x, who, when)
    # Day precision, as Kasatka keeps it: many customers share a row.
    summary = bgnbd.Summary(x, np.round(t_x * 7) / 7, np.round(T * 7) / 7)

    model = bgnbd.fit(summary)
    plain = bgnbd.fit(summary, aggregate_rows=False)

    assert len(bgnbd.aggregate(summary)[0]) < 0.7 * len(summary)
    assert model.params == pytest.approx(plain.params, rel=1e-4)
    assert model.log_likelihood == pytest.approx(plain.log_likelihood, rel=1e-9)
    for fitted, wanted in zip(model.params, true, strict=True):
        assert fitted == pytest.approx(wanted, rel=0.12)


def test_no_repeat_purchase_cannot_be_fitted():
    with pytest.raises(bgnbd.FitError):
        bgnbd.fit(bgnbd.Summary(np.zeros(10), np.zeros(10), np.full(10, 5.0)))


def test_inconsistent_customers_are_refused():
    with pytest.raises(ValueError):
        CDNOW.p_alive(2, 10, 5)  # last purchase after the end
