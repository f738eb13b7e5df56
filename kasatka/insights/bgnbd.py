"""The BG/NBD model of repeat buying (Fader, Hardie & Lee 2005), fitted with NumPy/SciPy.

"Counting Your Customers the Easy Way: An Alternative to the Pareto/NBD Model",
Marketing Science 24(2), 275-284. While alive a customer buys at a Poisson rate λ, and
λ ~ Gamma(r, α) across customers; after each *repeat* purchase they drop out with
probability p, and p ~ Beta(a, b). A customer is summarised by (x, t_x, T): the number of
repeat purchases, the time of the last one and the time observed, both counted from the
first purchase. The equation numbers below are the paper's.

Everything is vectorised over customers, and the fit works on the distinct (x, t_x, T)
rows with a weight each: at day precision many customers share a row (all one-time buyers
who came on the same day, for a start), so the likelihood is evaluated far fewer times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

FloatArray = NDArray[np.float64]

# Bounds of the log-parameters: e^±20 is far beyond any real shop's figures in days or
# weeks, and keeps exp() finite while the optimiser explores.
_LOG_BOUND = 20.0


class FitError(Exception):
    """The likelihood could not be maximised (too little data, or a degenerate sample)."""


@dataclass(frozen=True)
class Summary:
    """Customers as the model sees them: (x, t_x, T), times in the fitted time unit."""

    x: FloatArray
    t_x: FloatArray
    T: FloatArray

    def __len__(self) -> int:
        return int(self.x.shape[0])


def summarise(
    customer: ArrayLike, day: ArrayLike, end_day: ArrayLike, days_per_unit: float = 7.0
) -> tuple[NDArray[np.int64], Summary]:
    """(x, t_x, T) of each customer from their purchase days (integers, e.g. days since an
    epoch), the paper's convention: purchases counted once per distinct day, t_x and T from
    the first purchase, in units of `days_per_unit` days (weeks by default) at day precision.

    `end_day` is the last observed day, one for all or one per purchase row (equal within
    a customer). Returns the customers (sorted) and their summary.
    """
    cust = np.asarray(customer, dtype=np.int64)
    days = np.asarray(day, dtype=np.int64)
    end = np.broadcast_to(np.asarray(end_day, dtype=np.int64), cust.shape)
    if cust.size == 0:
        empty = np.zeros(0)
        return np.zeros(0, dtype=np.int64), Summary(empty, empty.copy(), empty.copy())
    # One row per (customer, day): several purchases on a day are one transaction.
    order = np.lexsort((days, cust))
    cust, days, end = cust[order], days[order], end[order]
    keep = np.ones(cust.shape, dtype=bool)
    keep[1:] = (cust[1:] != cust[:-1]) | (days[1:] != days[:-1])
    cust, days, end = cust[keep], days[keep], end[keep]
    starts = np.flatnonzero(np.r_[True, cust[1:] != cust[:-1]])
    stops = np.r_[starts[1:], cust.size] - 1
    first, last = days[starts], days[stops]
    x = (stops - starts).astype(np.float64)
    t_x = (last - first) / days_per_unit
    T = (end[starts] - first) / days_per_unit
    return cust[starts], Summary(x, t_x.astype(np.float64), T.astype(np.float64))


def aggregate(summary: Summary) -> tuple[Summary, FloatArray]:
    """The distinct (x, t_x, T) rows and how many customers share each."""
    rows = np.stack([summary.x, summary.t_x, summary.T], axis=1)
    unique, counts = np.unique(rows, axis=0, return_counts=True)
    return Summary(unique[:, 0], unique[:, 1], unique[:, 2]), counts.astype(np.float64)


def _log_dead_odds(
    params: tuple[float, float, float, float], x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """log of a/(b+x-1) · ((α+T)/(α+t_x))^(r+x): the odds that a customer has dropped out,
    -inf for one with no repeat purchase (the model lets no one drop out before)."""
    r, alpha, a, b = params
    repeat = x > 0
    # x = 1 stands in for x = 0 so that the log never sees b - 1 <= 0; masked out below.
    x1 = np.where(repeat, x, 1.0)
    odds = np.log(a) - np.log(b + x1 - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    result: FloatArray = np.where(repeat, odds, -np.inf)
    return result


def _parts(
    params: tuple[float, float, float, float], s: Summary
) -> tuple[FloatArray, FloatArray]:
    """Eq. (6) as log L = A + log(B₁) + log(1 + B₂/B₁): the first part, and the dead odds.

    B₂/B₁ = a/(b+x-1) · ((α+T)/(α+t_x))^(r+x) is the odds of having dropped out, so the
    second term of eq. (6) is a softplus of `_log_dead_odds`: the same log-sum-exp, but
    the beta functions cancel into three gammaln arrays instead of four betaln ones.
    """
    r, alpha, a, b = params
    x, T = s.x, s.T
    first = (
        gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        + gammaln(b + x) - gammaln(a + b + x) + gammaln(a + b) - gammaln(b)
        - (r + x) * np.log(alpha + T)
    )
    return first, _log_dead_odds(params, x, s.t_x, T)


def log_likelihood(params: tuple[float, float, float, float], summary: Summary) -> FloatArray:
    """Each customer's log-likelihood, eq. (6), in a numerically stable form."""
    first, odds = _parts(params, summary)
    result: FloatArray = first + np.logaddexp(0.0, odds)
    return result


def _negative_ll_and_gradient(
    log_params: FloatArray, summary: Summary, weights: FloatArray
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood and its gradient in the log-parameters.

    The analytic gradient (digamma for the gamma functions) makes each L-BFGS-B step one
    evaluation instead of five, and lets it converge tightly.
    """
    r, alpha, a, b = (float(v) for v in np.exp(log_params))
    x, t_x, T = summary.x, summary.t_x, summary.T
    first, odds = _parts((r, alpha, a, b), summary)
    dead = expit(odds)  # the weight of eq. (6)'s second term: P(dropped out | data)
    x1 = np.where(x > 0, x, 1.0)
    log_t, log_tx = np.log(alpha + T), np.log(alpha + t_x)
    psi_abx = digamma(a + b + x)
    d_r = digamma(r + x) - digamma(r) + np.log(alpha) - log_t + dead * (log_t - log_tx)
    d_alpha = r / alpha - (r + x) * ((1.0 - dead) / (alpha + T) + dead / (alpha + t_x))
    d_a = digamma(a + b) - psi_abx + dead / a
    d_b = digamma(b + x) - psi_abx - digamma(b) + digamma(a + b) - dead / (b + x1 - 1)
    n = float(weights.sum())
    # Weighted sums as one einsum each, not `weights @ …`: a BLAS dot wakes OpenBLAS's
    # threads, which costs milliseconds per call here, more than all the arithmetic.
    value = -float(np.einsum("i,i->", weights, first + np.logaddexp(0.0, odds))) / n
    grad = -np.einsum("i,ki->k", weights, np.stack([d_r, d_alpha, d_a, d_b]))
    grad *= np.array([r, alpha, a, b]) / n
    return value, grad


def _starts(summary: Summary, weights: FloatArray) -> list[FloatArray]:
    """Starting points: λ's mean from the observed repeat rate, dropout from the share of
    repeat buyers; then a plain one, tried only if the first does not converge."""
    n = weights.sum()
    rate = max(float(weights @ summary.x) / max(float(weights @ summary.T), 1e-9), 1e-6)
    r0 = 1.0
    alpha0 = r0 / rate
    share_repeat = float(weights @ (summary.x > 0)) / n
    a0, b0 = 1.0, max(1.0, 4.0 * share_repeat)
    guessed = np.log([r0, alpha0, a0, b0])
    plain = np.log([1.0, max(float(weights @ summary.T) / n, 1e-3), 1.0, 1.0])
    return [np.clip(guessed, -_LOG_BOUND, _LOG_BOUND), np.clip(plain, -_LOG_BOUND, _LOG_BOUND)]


@dataclass(frozen=True)
class BGNBD:
    """A fitted model: r, α (the purchase rate's gamma), a, b (the dropout's beta)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    customers: int = 0

    @property
    def params(self) -> tuple[float, float, float, float]:
        return self.r, self.alpha, self.a, self.b

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
        """P(alive | x, t_x, T), eq. (13): 1 for a customer with no repeat purchase yet."""
        xa, ta, Ta = _arrays(x, t_x, T)
        result: FloatArray = expit(-_log_dead_odds(self.params, xa, ta, Ta))
        return result

    def conditional_expected_number_of_purchases_up_to_time(
        self, t: ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[Y(t) | x, t_x, T], eq. (10): expected purchases in the next t time units.

        The factor ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; z) is rewritten by
        Euler's transformation as (1-z)^(a-1) · 2F1(a+b-1-r, a-1; a+b+x-1; z), with
        z = t/(α+T+t): the same value, but the big (r+x) power and the diverging series
        of a frequent buyer cancel out instead of overflowing.
        """
        xa, ta, Ta = _arrays(x, t_x, T)
        horizon = np.asarray(t, dtype=np.float64)
        r, alpha, a, b = self.params
        if abs(a - 1.0) < 1e-9:
            a = 1.0 + 1e-9  # eq. (10) has a removable singularity at a = 1
        z = horizon / (alpha + Ta + horizon)
        # With r and α run off to millions the series overflows: NaN, which the caller
        # replaces with the client's own rhythm (lapse.score); no warning for it.
        with np.errstate(invalid="ignore", over="ignore"):
            series = hyp2f1(a + b - 1.0 - r, a - 1.0, a + b + xa - 1.0, z)
            bracket = 1.0 - (1.0 - z) ** (a - 1.0) * series
        alive_share = expit(-_log_dead_odds(self.params, xa, ta, Ta))
        result: FloatArray = (a + b + xa - 1.0) / (a - 1.0) * bracket * alive_share
        return result

    def expected_number_of_purchases_up_to_time(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] of a new customer, eq. (9)."""
        tt = np.asarray(t, dtype=np.float64)
        r, alpha, a, b = self.params
        if abs(a - 1.0) < 1e-9:
            a = 1.0 + 1e-9
        z = tt / (alpha + tt)
        result: FloatArray = (a + b - 1.0) / (a - 1.0) * (
            1.0 - (alpha / (alpha + tt)) ** r * hyp2f1(r, b, a + b - 1.0, z)
        )
        return result


def _arrays(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
    xa = np.asarray(x, dtype=np.float64)
    ta = np.asarray(t_x, dtype=np.float64)
    Ta = np.asarray(T, dtype=np.float64)
    if np.any(xa < 0) or np.any(ta < 0) or np.any(ta > Ta) or np.any((xa == 0) & (ta != 0)):
        raise ValueError("need x >= 0 and 0 <= t_x <= T, with t_x = 0 when x = 0")
    return xa, ta, Ta


def fit(summary: Summary, *, aggregate_rows: bool = True) -> BGNBD:
    """Maximum-likelihood r, α, a, b: L-BFGS-B on the log-parameters, analytic gradient.

    Raises FitError when no start converges (e.g. no repeat purchase at all: then the
    dropout has nothing to be estimated from).
    """
    if len(summary) == 0 or not np.any(summary.x > 0):
        raise FitError("no repeat purchases to fit")
    _arrays(summary.x, summary.t_x, summary.T)
    if aggregate_rows:
        rows, weights = aggregate(summary)
    else:
        rows, weights = summary, np.ones(len(summary))
    best = None
    for start in _starts(rows, weights):
        result = minimize(
            _negative_ll_and_gradient,
            start,
            args=(rows, weights),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
            options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-8},
        )
        if np.isfinite(result.fun) and (best is None or result.fun < best.fun):
            best = result
        if result.success and np.isfinite(result.fun):
            break  # the next start is only for a first one that failed
    if best is None or not np.all(np.isfinite(best.x)):
        raise FitError("the likelihood could not be maximised")
    r, alpha, a, b = (float(v) for v in np.exp(best.x))
    total = -float(best.fun) * float(weights.sum())
    return BGNBD(r, alpha, a, b, log_likelihood=total, customers=len(summary))


def simulate(
    rng: np.random.Generator,
    params: tuple[float, float, float, float],
    T: ArrayLike,
) -> tuple[NDArray[np.int64], FloatArray]:
    """Purchase histories drawn from the BG/NBD process: for each customer observed for
    T[i] time units after a first purchase at 0, the times of their repeat purchases.

    Returns (customer index, time) per repeat purchase, sorted by customer then time.
    Exact and vectorised: the number of Poisson events in [0, T] is K ~ Poisson(λT), the
    customer dies after the G-th repeat with G ~ Geometric(p), so min(K, G) are seen; the
    first of K sorted uniforms on [0, T] come from exponential spacings.
    """
    r, alpha, a, b = params
    Ta = np.asarray(T, dtype=np.float64)
    n = Ta.shape[0]
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    k = rng.poisson(lam * Ta)
    g = rng.geometric(np.clip(p, 1e-12, 1.0))
    seen = np.minimum(k, g)
    customer = np.repeat(np.arange(n), seen)
    spacing = rng.exponential(1.0, customer.size)
    csum = np.cumsum(spacing)
    starts = np.cumsum(seen) - seen
    offset = np.repeat(csum[starts - 1] if customer.size else np.zeros(0), seen)
    offset = np.where(np.repeat(starts, seen) == 0, 0.0, offset)
    within = csum - offset  # cumulative spacings restarted for each customer
    seen_total = np.zeros(n)
    np.add.at(seen_total, customer, spacing)
    # The remaining K + 1 - seen spacings, summed: a gamma draw.
    rest = rng.gamma(np.maximum(k + 1 - seen, 1e-12), 1.0)
    scale = Ta / (seen_total + rest)
    return customer, within * scale[customer]
