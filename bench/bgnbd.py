"""BG/NBD benchmark: build (x, t_x, T), fit and score 100,000 clients' purchase histories.

Run from the repository root:

    .venv/bin/python bench/bgnbd.py [--customers N] [--seed S] [--repeat R]
                                    [--params r,alpha,a,b] [--db N] [--pg-url [URL]]

The histories are drawn from a BG/NBD process with known parameters (the CDNOW estimates
by default, in weeks): clients' first purchases spread over the first 12 weeks, at a random
time of day, then repeat purchases while alive, all observed up to the end of week 39 and
kept at day precision, as Kasatka keeps them. The script times, in one run:

- building (x, t_x, T) from the purchase rows (`bgnbd.summarise`);
- the fit on the distinct (x, t_x, T) rows with weights (what Kasatka does), and the same fit
  on one row per client (the baseline without aggregation);
- scoring every client: P(alive) and the expected purchases in the next 52 weeks;
- one evaluation of the log-likelihood over all clients, vectorised and in pure Python
  (`math.lgamma`, a loop over clients), the baseline of the vectorisation;

and prints the recovered parameters beside the true ones, on the day-precision summary and
on the exact (continuous) one. The target of the issue: fitting and scoring 100,000 clients
in less than a minute.

`--db N` also times the path lapse detection takes every day on a database: N clients and
their purchases in a throw-away SQLite file (or `kasatka_bench_bgnbd` on the PostgreSQL of
`--pg-url`, created and dropped), then `refresh_business(force=True)`: the per-day history
query, the fit, the scoring and the upsert of N `ClientRisk` rows, phase by phase.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from kasatka.insights import bgnbd  # noqa: E402  (needs the path above)

CDNOW = (0.243, 4.414, 0.793, 2.426)
OBSERVED_DAYS = 273  # 1997-01-01 .. 1997-09-30, the CDNOW calibration period
COHORT_DAYS = 84  # first purchases over the first 12 weeks
HORIZON_WEEKS = 52.0
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
T = TypeVar("T")


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def histories(
    n: int, params: tuple[float, float, float, float], seed: int
) -> tuple[np.ndarray, np.ndarray, bgnbd.Summary]:
    """Purchase rows (client, day) of n clients, and their exact continuous summary."""
    rng = np.random.default_rng(seed)
    first_day = rng.integers(0, COHORT_DAYS, n)
    time_of_day = rng.uniform(0.0, 1.0, n)  # the first purchase's moment within its day
    weeks_observed = (OBSERVED_DAYS - first_day - time_of_day) / 7.0
    who, when = bgnbd.simulate(rng, params, weeks_observed)
    x = np.bincount(who, minlength=n).astype(np.float64)
    t_x = np.zeros(n)
    np.maximum.at(t_x, who, when)
    exact = bgnbd.Summary(x, t_x, weeks_observed)
    repeat_day = np.floor(first_day[who] + time_of_day[who] + when * 7.0).astype(np.int64)
    client = np.r_[np.arange(n), who]
    day = np.r_[first_day, repeat_day]
    return client, day, exact


def python_log_likelihood(
    params: tuple[float, float, float, float], x: list[float], t_x: list[float], T: list[float]
) -> float:
    """Eq. (6) of the paper, one client at a time, in plain Python."""
    r, alpha, a, b = params

    def lbeta(u: float, v: float) -> float:
        return math.lgamma(u) + math.lgamma(v) - math.lgamma(u + v)

    total = 0.0
    base = lbeta(a, b)
    for xi, ti, Ti in zip(x, t_x, T, strict=True):
        common = math.lgamma(r + xi) - math.lgamma(r) + r * math.log(alpha)
        one = lbeta(a, b + xi) - base - (r + xi) * math.log(alpha + Ti)
        if xi > 0:
            two = lbeta(a + 1, b + xi - 1) - base - (r + xi) * math.log(alpha + ti)
            top = max(one, two)
            total += common + top + math.log(math.exp(one - top) + math.exp(two - top))
        else:
            total += common + one
    return total


def relative_errors(model: bgnbd.BGNBD, true: tuple[float, ...]) -> str:
    return ", ".join(
        f"{name} {fitted:.4f} ({100 * (fitted / wanted - 1):+.1f} %)"
        for name, fitted, wanted in zip(("r", "α", "a", "b"), model.params, true, strict=True)
    )


def median(values: list[float]) -> float:
    return float(np.median(values))


def one_round(
    client: np.ndarray, day: np.ndarray, params: tuple[float, float, float, float]
) -> tuple[bgnbd.Summary, bgnbd.BGNBD, bgnbd.BGNBD, np.ndarray, np.ndarray, dict[str, float]]:
    times: dict[str, float] = {}
    (_ids, summary), times["build"] = timed(lambda: bgnbd.summarise(client, day, OBSERVED_DAYS))
    model, times["fit"] = timed(lambda: bgnbd.fit(summary))
    plain, times["plain"] = timed(lambda: bgnbd.fit(summary, aggregate_rows=False))

    def score() -> tuple[np.ndarray, np.ndarray]:
        return (
            model.p_alive(summary.x, summary.t_x, summary.T),
            model.conditional_expected_number_of_purchases_up_to_time(
                HORIZON_WEEKS, summary.x, summary.t_x, summary.T
            ),
        )

    (alive, ahead), times["score"] = timed(score)
    _ll, times["ll"] = timed(lambda: bgnbd.log_likelihood(params, summary).sum())
    lists = summary.x.tolist(), summary.t_x.tolist(), summary.T.tolist()
    _pll, times["pll"] = timed(lambda: python_log_likelihood(params, *lists))
    return summary, model, plain, alive, ahead, times


def numpy_bench(n: int, params: tuple[float, float, float, float], seed: int, repeat: int) -> None:
    (client, day, exact), t_generate = timed(lambda: histories(n, params, seed))
    print(f"BG/NBD benchmark: {n:,} clients, true r={params[0]} α={params[1]} "
          f"a={params[2]} b={params[3]} (weeks), seed {seed}, medians of {repeat} rounds")
    print(f"  generated {client.size:,} purchase rows in {t_generate:.2f} s")

    rounds: dict[str, list[float]] = {}
    for _round in range(repeat):
        # Interleaved, so that a burst of other load on the machine hits both sides.
        summary, model, plain, alive, ahead, times = one_round(client, day, params)
        for key, seconds in times.items():
            rounds.setdefault(key, []).append(seconds)
    rows, _weights = bgnbd.aggregate(summary)
    exact_model = bgnbd.fit(exact)
    t_build, t_fit, t_fit_plain, t_score, t_ll, t_pll = (
        median(rounds[k]) for k in ("build", "fit", "plain", "score", "ll", "pll")
    )
    print(f"  build (x, t_x, T)           {t_build:8.3f} s   "
          f"({len(rows):,} distinct rows of {len(summary):,})")
    print(f"  fit, aggregated rows        {t_fit:8.3f} s")
    print(f"  fit, one row per client     {t_fit_plain:8.3f} s   (baseline: "
          f"{t_fit_plain / t_fit:.1f}× the aggregated fit; same optimum: "
          f"ΔLL {abs(model.log_likelihood - plain.log_likelihood):.1e})")
    print(f"  score P(alive), E[Y(52)]    {t_score:8.3f} s   "
          f"(P(alive) mean {alive.mean():.3f}, E[Y] mean {ahead.mean():.3f})")
    total = t_build + t_fit + t_score
    verdict = "PASS" if t_fit + t_score < 60 else "FAIL"
    print(f"  build + fit + score         {total:8.3f} s   (target: fit + score < 60 s: "
          f"{verdict})")
    print(f"  log-likelihood, one pass    {t_ll:8.4f} s vectorised, {t_pll:.3f} s pure "
          f"Python ({t_pll / t_ll:.0f}×)")
    print(f"  recovered, day precision:   {relative_errors(model, params)}; "
          f"LL {model.log_likelihood:,.1f}")
    print(f"  recovered, exact times:     {relative_errors(exact_model, params)}")
    for key, label in (("fit", "fit aggregated"), ("plain", "fit per client"),
                       ("score", "score")):
        print(f"  rounds, {label}: " + " / ".join(f"{t:.3f}" for t in rounds[key]))


# --- the database path ------------------------------------------------------------


@contextmanager
def database(pg_url: str | None) -> Iterator[str]:
    if pg_url is None:
        with tempfile.TemporaryDirectory(prefix="kasatka-bgnbd-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        return
    import psycopg

    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS kasatka_bench_bgnbd")
        conn.execute("CREATE DATABASE kasatka_bench_bgnbd")
    try:
        yield pg_url.rsplit("/", 1)[0] + "/kasatka_bench_bgnbd"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS kasatka_bench_bgnbd WITH (FORCE)")


def db_bench(n: int, params: tuple[float, float, float, float], seed: int, url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kasatka.settings")
    import django

    django.setup()
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from django.core.management import call_command

    from kasatka.accounts.models import Business, method_settings
    from kasatka.contacts.models import Contact
    from kasatka.insights import lapse
    from kasatka.sales.models import Purchase

    call_command("migrate", verbosity=0, interactive=False)
    business = Business.objects.create(name="Bench", slug="bench", time_zone="UTC")
    client, day, _exact = histories(n, params, seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = start + timedelta(days=OBSERVED_DAYS, hours=23)

    def load() -> None:
        contacts = Contact.objects.bulk_create(
            (Contact(business=business, first_name=f"#{i}", gender="male", language="ru")
             for i in range(n)),
            batch_size=2000,
        )
        ids = [c.pk for c in contacts]
        Purchase.objects.bulk_create(
            (Purchase(business=business, contact_id=ids[c], amount=Decimal(100 + c % 50),
                      purchased_at=start + timedelta(days=int(d), hours=12))
             for c, d in zip(client.tolist(), day.tolist(), strict=True)),
            batch_size=2000,
        )

    _none, t_load = timed(load)
    settings = method_settings(business)
    print(f"\nDatabase path ({url.split(':', 1)[0]}): {n:,} clients, {client.size:,} purchases "
          f"(loaded in {t_load:.1f} s)")
    history, t_history = timed(lambda: lapse.load_history(business, now))
    fitted, t_fit = timed(lambda: lapse.fit_business(business, history, now.date()))
    rows, t_score = timed(lambda: lapse.score(business, settings, fitted[0], history, now))
    _none2, t_save = timed(lambda: lapse._save(rows))
    print(f"  history query (per client and day)  {t_history:7.2f} s")
    print(f"  fit                                  {t_fit:7.2f} s")
    print(f"  score (P(alive), rhythm, lapse, value) {t_score:5.2f} s")
    print(f"  upsert ClientRisk rows               {t_save:7.2f} s")
    scored, t_refresh = timed(lambda: lapse.refresh_business(business, now, force=True))
    print(f"  refresh_business(force=True), all    {t_refresh:7.2f} s   ({scored:,} clients, "
          f"second run: rows updated in place)")
    if fitted[0] is not None:
        print(f"  recovered: {relative_errors(fitted[0], params)}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2005)
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are shown")
    parser.add_argument("--params", default=",".join(map(str, CDNOW)),
                        help="true r,alpha,a,b (weeks); default: the CDNOW estimates")
    parser.add_argument("--db", type=int, default=0, metavar="N",
                        help="also time lapse scoring through the database for N clients")
    parser.add_argument("--pg-url", nargs="?", const=DEFAULT_PG_URL, default=None,
                        help=f"with --db: PostgreSQL instead of SQLite ({DEFAULT_PG_URL})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    values: Any = tuple(float(v) for v in args.params.split(","))
    if len(values) != 4 or min(values) <= 0 or min(args.customers, args.repeat) < 1:
        raise SystemExit("--params needs four positive numbers, --customers and --repeat "
                         "positive counts")
    numpy_bench(args.customers, values, args.seed, args.repeat)
    if args.db:
        with database(args.pg_url) as url:
            db_bench(args.db, values, args.seed, url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
