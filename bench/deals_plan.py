"""Daily-plan benchmark: one seller's plan over a business of 100,000 deals.

Run from the repository root:

    .venv/bin/python bench/deals_plan.py [--deals 100000] [--sellers 20] [--repeat 30]
                                         [--only sqlite|postgres] [--pg-url URL]

Each database is benchmarked by a child process on a throw-away database (a temp SQLite
file; `kasatka_bench_plan` on the PostgreSQL server of --pg-url). The data: one business
with N open deals over the default pipeline, spread over S sellers, 40 % of them stuck with
a proposed nudge, and N thrown nudges of the past year (for the measured conversion).

Printed per database, as medians of R warm runs:
- `daily_plan` for a seller holding 1/S of the deals, and for a seller holding all of them
  (the worst case), with their query counts (fixed: the same for both);
- the team plan (head of sales);
- the first plan of the business's day, which also measures the conversion and the average
  deal per stage (PlanFigures) by scanning the whole book;
- the baseline: the one raw SQL aggregate a plan cannot do without (stuck deals of the
  seller by stage), on the same rows.
The target is 50 ms per seller's plan.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
RESULT_PREFIX = "RESULT "
BENCH_DB = "kasatka_bench_plan"
TARGET_MS = 50.0
NOW = datetime(2026, 3, 11, 7, 0, tzinfo=UTC)


# --- inside the child ----------------------------------------------------------------


def build(n: int, sellers: int) -> dict[str, Any]:
    from django.db import transaction

    from kasatka.accounts.models import Business, Role, User, method_settings
    from kasatka.contacts.models import Contact
    from kasatka.deals.library import ensure_default_pipeline
    from kasatka.deals.models import Deal, Nudge, NudgeState

    rng = random.Random(7)
    shop = Business.objects.create(name="Мебель «Кедр»", slug="kedr")
    method_settings(shop)
    pipeline = ensure_default_pipeline(shop)
    stages = list(pipeline.stages.order_by("position"))
    waiting = [s for s in stages if s.waits_for_client]
    users = User.objects.bulk_create(
        User(username=f"seller{i}", business=shop, role=Role.SELLER, first_name=f"П{i}")
        for i in range(sellers + 1)
    )
    whale = users[-1]  # takes the whole book over for the worst case (see child)
    started = time.monotonic()
    chunk = 5000
    with transaction.atomic():
        for offset in range(0, n, chunk):
            size = min(chunk, n - offset)
            contacts = Contact.objects.bulk_create(
                Contact(business=shop, first_name="Иван", last_name=f"Сидоров{offset + i}",
                        created_at=NOW)
                for i in range(size)
            )
            deals = []
            for i, contact in enumerate(contacts):
                stuck = rng.random() < 0.4
                stage = rng.choice(waiting) if stuck or rng.random() < 0.5 else stages[0]
                deals.append(Deal(
                    business=shop, pipeline=pipeline, stage=stage, contact=contact,
                    seller=users[(offset + i) % sellers], title=f"Сделка {offset + i}",
                    amount=Decimal(rng.randrange(5_000, 500_000)),
                    stage_entered_at=NOW - timedelta(days=10),
                    stuck_since=NOW - timedelta(days=3) if stuck and stage.waits_for_client
                    else None,
                    created_at=NOW - timedelta(days=10),
                ))
            deals = Deal.objects.bulk_create(deals)
            nudges = []
            for deal in deals:
                if deal.stuck_since is not None:
                    nudges.append(Nudge(
                        business=shop, deal=deal, stage=deal.stage, seller=deal.seller,
                        number=1, text="Счёт в силе?", proposed_at=NOW - timedelta(hours=2),
                    ))
                thrown = NOW - timedelta(days=rng.randrange(1, 360))
                nudges.append(Nudge(
                    business=shop, deal=deal, stage=deal.stage, seller=deal.seller, number=1,
                    text="Прайс подошёл?", state=NudgeState.UNANSWERED, mode="message",
                    proposed_at=thrown, thrown_at=thrown,
                ))
            Nudge.objects.bulk_create(nudges)
    analyze()
    return {
        "business": shop.pk, "seller": users[0].pk, "whale": whale.pk,
        "build_seconds": round(time.monotonic() - started, 1),
    }


def analyze() -> None:
    """Statistics for the planner, and on PostgreSQL the visibility map that index-only
    scans need (autovacuum keeps both in a running database)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def per_query(function: Callable[[], Any]) -> None:
    """Print each query of one run with its time (--explain)."""
    from django.db import connection

    queries: list[tuple[str, Any]] = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append((sql, params))
        return execute(sql, params, many, context)

    function()
    with connection.execute_wrapper(wrapper):
        function()
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ANALYZE "
    for sql, params in queries:
        with connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()  # SQLite computes rows as they are fetched
            ms = (time.perf_counter() - started) * 1000
            print(f"    {ms:7.2f} ms  {sql[:110]}")
            if ms > 1:
                cursor.execute(explain + sql, params)
                for row in cursor.fetchall():
                    print("             ", row[-1])


def timed(function: Callable[[], Any], repeat: int) -> float:
    function()  # warm: settings rows, caches
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def child(args: argparse.Namespace) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kasatka.accounts.models import Business, User
    from kasatka.deals.models import Deal, Nudge, PlanFigures
    from kasatka.deals.plan import daily_plan, team_plan
    from kasatka.engine.clock import ManualClock, set_clock

    set_clock(ManualClock(NOW))
    info = build(args.deals, args.sellers)
    shop = Business.objects.get(pk=info["business"])
    seller = User.objects.get(pk=info["seller"])
    whale = User.objects.get(pk=info["whale"])
    total = Deal.objects.filter(business=shop).count()
    print(f"  built {total:,} deals in {info['build_seconds']} s", flush=True)

    table = connection.ops.quote_name(Deal._meta.db_table)

    def baseline(user_id: int) -> Callable[[], Any]:
        def run() -> Any:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT stage_id, COUNT(*), SUM(amount) FROM {table} WHERE business_id = %s"
                    " AND seller_id = %s AND status = 'open' AND stuck_since IS NOT NULL"
                    " GROUP BY stage_id",
                    [shop.pk, user_id],
                )
                return cursor.fetchall()
        return run

    def whole_book() -> User:
        # The worst case: one seller holds every deal and every nudge.
        Deal.objects.filter(business=shop).update(seller=whale)
        Nudge.objects.filter(business=shop).update(seller=whale)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        return whale

    result: dict[str, Any] = {"database": connection.vendor, "deals": total, "rows": []}

    def measure(label: str, user: User) -> None:
        daily_plan(shop, user)  # the day's figures are measured by the first plan
        if args.explain:
            per_query(lambda: daily_plan(shop, user))
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.runcall(daily_plan, shop, user)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(18)
        with CaptureQueriesContext(connection) as queries:
            plan = daily_plan(shop, user)
        result["rows"].append({
            "what": label, "deals": Deal.objects.filter(seller=user).count(),
            "nudges": plan.nudges_count, "queries": len(queries),
            "ms": timed(lambda: daily_plan(shop, user), args.repeat),
            "baseline_ms": timed(baseline(user.pk), args.repeat),
        })

    measure(f"seller (1/{args.sellers})", seller)

    def first_of_the_day() -> None:
        PlanFigures.objects.all().delete()  # the conversion and averages measured afresh
        daily_plan(shop, seller)

    with CaptureQueriesContext(connection) as queries:
        first_of_the_day()
    result["rows"].append({
        "what": "first of the day", "deals": total, "nudges": None,
        "queries": len(queries) - 1, "ms": timed(first_of_the_day, max(3, args.repeat // 3)),
        "baseline_ms": None,
    })
    with CaptureQueriesContext(connection) as queries:
        team_plan(shop)
    result["rows"].append({
        "what": "team plan", "deals": total, "nudges": None, "queries": len(queries),
        "ms": timed(lambda: team_plan(shop), max(3, args.repeat // 3)), "baseline_ms": None,
    })
    # The worst case: one seller holds every deal and every nudge.
    Deal.objects.filter(business=shop).update(seller=whale)
    Nudge.objects.filter(business=shop).update(seller=whale)
    analyze()
    measure("seller (all)", whale)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# --- the parent ----------------------------------------------------------------------


def run_child(url: str, args: argparse.Namespace) -> dict[str, Any] | None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "kasatka.settings", "DATABASE_URL": url,
           "KASATKA_DEBUG": "0", "KASATKA_LOG_LEVEL": "WARNING"}
    command = [sys.executable, str(Path(__file__).resolve()), "--child",
               "--deals", str(args.deals), "--sellers", str(args.sellers),
               "--repeat", str(args.repeat), *(["--explain"] if args.explain else [])]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True,
                               cwd=REPO_ROOT)
    assert process.stdout is not None
    result = None
    for line in process.stdout:
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
        else:
            print(line, end="", flush=True)
    if process.wait() != 0:
        print(f"  FAILED: child exited with code {process.returncode}")
        return None
    return result


@contextmanager
def postgres_database(pg_url: str) -> Iterator[str]:
    import psycopg

    drop = f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"
    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(drop)
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    try:
        yield urlunsplit(urlsplit(pg_url)._replace(path=f"/{BENCH_DB}"))
    finally:
        with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(drop)


def print_table(results: list[dict[str, Any]]) -> None:
    print(f"\nMedians of warm runs; target: a seller's plan under {TARGET_MS:.0f} ms.")
    header = (f"{'database':11} {'plan':16} {'deals':>9} {'nudges':>7} {'queries':>7}"
              f" {'ms':>8} {'raw SQL ms':>10}  result")
    print(header)
    print("-" * len(header))
    for result in results:
        for row in result["rows"]:
            seller_plan = row["what"].startswith("seller")
            verdict = ("PASS" if row["ms"] < TARGET_MS else "FAIL") if seller_plan else "—"
            base = f"{row['baseline_ms']:.2f}" if row["baseline_ms"] is not None else "—"
            nudges = f"{row['nudges']:,}" if row["nudges"] is not None else "—"
            print(f"{result['database']:11} {row['what']:16} {row['deals']:>9,} {nudges:>7}"
                  f" {row['queries']:>7} {row['ms']:>8.2f} {base:>10}  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--sellers", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--pg-url", default="postgres://postgres@127.0.0.1:5432/test")
    parser.add_argument("--explain", action="store_true", help="time each query of a plan")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    results = []
    if args.only in (None, "sqlite"):
        print(f"SQLite: temp file, {args.deals:,} deals", flush=True)
        with tempfile.TemporaryDirectory(prefix="kasatka-bench-") as tmp:
            found = run_child(f"sqlite:///{Path(tmp) / 'plan.sqlite3'}", args)
            if found:
                results.append(found)
    if args.only in (None, "postgres"):
        try:
            with postgres_database(args.pg_url) as url:
                print(f"PostgreSQL: database {BENCH_DB}, {args.deals:,} deals", flush=True)
                found = run_child(url, args)
                if found:
                    results.append(found)
        except Exception as exc:
            print(f"PostgreSQL skipped: {exc}")
    print_table(results)


if __name__ == "__main__":
    main()
