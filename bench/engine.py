"""Engine benchmark: touches per second of the Worker beside a raw SQL loop on the same database.

Run from the repository root:

    .venv/bin/python bench/engine.py [--touches N] [--batch-size B] [--repeat R]
                                     [--wait-idle SECONDS] [--only sqlite|postgres]
                                     [--pg-url URL] [--profile] [--show-queries]

Each database is benchmarked by a fresh child process (settings are read once, at start),
which migrates a throw-away database (a temp SQLite file, or `kasatka_bench` on the
PostgreSQL server of --pg-url), builds N due e-mail enrollments and times, on the same
rows reset between runs, the real `Worker` (template rendering, null channel) and a raw
DB-API loop doing the least work a touch needs, R interleaved rounds each (medians
reported). Workers are separate OS processes started together on a barrier.
`--profile` instead runs the SQLite engine scenario in-process (with `--only postgres`,
on PostgreSQL), once with phase timers and once under cProfile.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import multiprocessing
import os
import pstats
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    # `python bench/engine.py` puts bench/ on the path, not the repository root,
    # and `tests.builders` is not installed with the package.
    sys.path.insert(0, str(REPO_ROOT))

from kasatka.channels.base import BaseChannel, Outbound  # noqa: E402  (needs the path above)

BENCH_DB = "kasatka_bench"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
# Ratio targets of the issue (engine touches/s as % of the raw loop), by (database, workers).
TARGETS: dict[tuple[str, int], float] = {("sqlite", 1): 10.0, ("postgres", 2): 30.0}
LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL"}
# Issue 7: with every guardrail on, the engine keeps this share of its speed without them.
GUARDRAILS_KEEP = 70.0
RESULT_PREFIX = "RESULT "
BARRIER_TIMEOUT = 300.0

# Templates that make rendering real: a gendered greeting, a name declined by
# petrovich, the business, and the signed unsubscribe link every e-mail carries.
SUBJECT = "{{ contact.name }}, новая коллекция для вас"
BODY = (
    "{{ contact.greeting }}!\n\n"
    "Мы подготовили {{ contact.name_in('dative') }} персональное предложение: новая "
    "коллекция кухонь уже в салоне, а замер и проект — бесплатно до конца месяца.\n\n"
    "До встречи,\n{{ business.name }}\n\n"
    "Отписаться от писем: {{ unsubscribe_url }}\n"
)

# The raw loop's touch row: constants are literals, so each row binds only what differs.
TOUCH_COLUMNS = (
    'business_id, enrollment_id, step_id, contact_id, channel, "to", is_commercial, subject,'
    " body, status, idempotency_key, provider_message_id, attempts, error, route_note,"
    " created_at, sent_at, updated_at"
)
TOUCH_ROW = "(%s, %s, %s, %s, 'email', '', TRUE, '', '', 'sent', %s, '', 1, '', '', %s, %s, %s)"


class BenchError(RuntimeError):
    """A run that did not do what it claims: the numbers would be meaningless."""


class NullChannel(BaseChannel):
    """The e-mail channel with the network taken out: the engine is measured, not SMTP."""

    code = "email"
    address_kind = "email"
    idempotent = False
    # As EmailChannel: the id is the Message-ID derived from our key, so it is not stored.
    records_provider_id = False

    def deliver(self, message: Outbound) -> str:
        return f"null-{message.idempotency_key}"


# --- helpers run inside a Django process ------------------------------------------


def setup_django() -> None:
    import django

    django.setup()


def install_null_channel() -> None:
    from kasatka.channels.registry import CHANNELS

    CHANNELS["email"] = NullChannel


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def db_time(value: datetime) -> Any:
    """A datetime as the backend stores it (SQLite: naive UTC text), for raw SQL."""
    from django.db import connection

    return connection.ops.adapt_datetimefield_value(value)


def build_data(n: int, slug: str) -> tuple[int, int]:
    """A business, a one-step e-mail chain and n due enrollments; returns (chain id, step id)."""
    from kasatka.accounts.models import Business, sending_rules
    from tests import builders

    shop = Business.objects.create(
        name="Мебель «Кедр»", slug=slug, email="shop@kedr.example", phone="+7 900 000-00-00"
    )
    # Its sending rules exist from the start, as in a running installation (they are
    # made on first use): the per-batch query count then compares like with like.
    sending_rules(shop)
    chain = builders.chain(
        shop, steps=[{"subject_template": SUBJECT, "body_template": BODY}], name=f"Bench {slug}"
    )
    step = chain.steps.get()
    builders.many_enrollments(shop, chain, n, datetime.now(UTC) - timedelta(minutes=1))
    return chain.pk, step.pk


def reset(chain_id: int, step_id: int) -> None:
    """Every enrollment of the chain due again and no touches: the same start for each run."""
    from django.db import connection

    due = db_time(datetime.now(UTC) - timedelta(minutes=1))
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM chains_touch")
        cursor.execute(
            "UPDATE chains_enrollment SET state = 'active', step_id = %s, next_touch_at = %s,"
            " lease_owner = '', lease_until = NULL, last_touch_at = NULL, ended_at = NULL,"
            " exit_reason = '' WHERE chain_id = %s",
            [step_id, due, chain_id],
        )
        if connection.vendor == "postgresql":
            # Dead rows of the previous run and a checkpoint would otherwise land
            # on whichever run comes next.
            cursor.execute("VACUUM ANALYZE chains_touch")
            cursor.execute("VACUUM ANALYZE chains_enrollment")
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def verify(n: int, chain_id: int, what: str) -> None:
    """Exactly n sent touches and nothing left due, or the run does not count."""
    from kasatka.chains.models import Enrollment, Touch

    total = Touch.objects.count()
    sent = Touch.objects.filter(status="sent").count()
    left = Enrollment.objects.filter(chain_id=chain_id, state="active").count()
    if total != n or sent != n or left:
        raise BenchError(
            f"{what}: expected {n} sent touches, found {total} touches ({sent} sent)"
            f" and {left} enrollments still active"
        )


def warm_up() -> None:
    """Pay one-off costs (template compile, petrovich rules, URLconf, catalogs) before timing."""
    from django.db import connection
    from django.utils.translation import override

    from kasatka.chains.models import Enrollment
    from kasatka.chains.templating import build_context, render
    from kasatka.contacts.unsubscribe import unsubscribe_url

    connection.ensure_connection()
    Enrollment.objects.filter(pk=0).exists()
    context = build_context(
        {"first_name": "Иван", "patronymic": "Петрович", "last_name": "Сидоров", "gender": "male"},
        business={"name": "Мебель «Кедр»"},
        unsubscribe_url=unsubscribe_url(1, "email", "t0-0"),
    )
    with override("ru"):
        render(SUBJECT, context)
        render(BODY, context)


def engine_loop(worker_id: str, batch_size: int, guardrails: bool = True) -> int:
    from kasatka.engine.worker import EngineConfig, Worker

    config = EngineConfig(batch_size=batch_size, guardrails=guardrails)
    stats = Worker(config, worker_id=worker_id).run(once=True)
    return stats.claimed


def raw_loop(worker_id: str, batch_size: int, lease_seconds: float = 300) -> int:
    """The least work a touch needs: claim with a lease, insert the keyed touch, mark done."""
    from django.db import connection, transaction

    skip_locked = (
        " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    claim_sql = (
        "UPDATE chains_enrollment SET lease_owner = %s, lease_until = %s WHERE id IN ("
        "SELECT id FROM chains_enrollment WHERE state = 'active' AND next_touch_at <= %s"
        " AND (lease_until IS NULL OR lease_until < %s) ORDER BY next_touch_at LIMIT %s"
        f"{skip_locked}) RETURNING id, business_id, contact_id, step_id"
    )
    done = 0
    while True:
        now = datetime.now(UTC)
        at = db_time(now)
        until = db_time(now + timedelta(seconds=lease_seconds))
        # SQLite: atomic() begins IMMEDIATE (settings), as the engine's claim does.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(claim_sql, [worker_id, until, at, at, batch_size])
            claimed = cursor.fetchall()
        if not claimed:
            return done
        params: list[Any] = []
        for enrollment_id, business_id, contact_id, step_id in claimed:
            # The idempotency key is Touch.key_for's: the unique index is part of the cost.
            key = f"t{enrollment_id}-{step_id}"
            params += [business_id, enrollment_id, step_id, contact_id, key, at, at, at]
        ids = [row[0] for row in claimed]
        marks = ", ".join(["%s"] * len(ids))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO chains_touch ({TOUCH_COLUMNS}) VALUES "
                + ", ".join([TOUCH_ROW] * len(claimed)),
                params,
            )
            cursor.execute(
                "UPDATE chains_enrollment SET state = 'finished', next_touch_at = NULL,"
                f" lease_owner = '', lease_until = NULL WHERE lease_owner = %s AND id IN ({marks})",
                [worker_id, *ids],
            )
        done += len(claimed)


def worker_process(
    mode: str, index: int, batch_size: int, barrier: Any, results: Any
) -> None:
    """One OS process of a run; DATABASE_URL is inherited, so settings match the parent's."""
    try:
        setup_django()
        install_null_channel()
        if mode in ("engine", "bare"):
            warm_up()
        else:
            from django.db import connection

            connection.ensure_connection()
        barrier.wait(BARRIER_TIMEOUT)
        start, cpu = time.perf_counter(), time.process_time()
        worker_id = f"bench-{mode}-{index}"
        if mode == "raw":
            count = raw_loop(worker_id, batch_size)
        else:
            # "bare": the engine with its guardrails off (quiet hours, caps, suppression,
            # exit rules, the audit trail), to measure what they cost.
            count = engine_loop(worker_id, batch_size, guardrails=mode == "engine")
        end, cpu = time.perf_counter(), time.process_time() - cpu
        results.put({"index": index, "start": start, "end": end, "count": count, "cpu": cpu})
    except Exception:
        barrier.abort()
        results.put({"index": index, "error": traceback.format_exc()})


def machine_busy(seconds: float = 0.5) -> float | None:
    """The share of all CPUs busy over a short sample (Linux), to flag a shared, loaded machine."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as stat:
            values = [int(v) for v in stat.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values), idle

    try:
        total_a, idle_a = sample()
        time.sleep(seconds)
        total_b, idle_b = sample()
    except (OSError, ValueError, IndexError):
        return None
    elapsed = total_b - total_a
    return 1 - (idle_b - idle_a) / elapsed if elapsed else None


def wait_for_idle(limit: float, threshold: float = 0.2) -> float | None:
    """Wait up to `limit` seconds for other load to pass; the last busy share seen."""
    deadline = time.monotonic() + limit
    busy = machine_busy()
    while busy is not None and busy > threshold and time.monotonic() < deadline:
        busy = machine_busy(1.0)
    return busy


def run_processes(
    mode: str, workers: int, batch_size: int
) -> tuple[float, list[int], float]:
    """Start `workers` processes together: wall seconds from the first start to the last end,
    touches per worker, and the workers' CPU seconds as a share of wall time (per worker)."""
    # spawn, not fork: each child sets Django up from scratch with no inherited connection.
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    results = ctx.Queue()
    processes = [
        ctx.Process(target=worker_process, args=(mode, i, batch_size, barrier, results))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes: list[dict[str, Any]] = []
    try:
        try:
            barrier.wait(BARRIER_TIMEOUT)
        except threading.BrokenBarrierError:
            pass  # a child failed before the start; its report says why
        while len(outcomes) < workers:
            try:
                outcomes.append(results.get(timeout=1))
            except queue.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    code = dead[0].exitcode
                    raise BenchError(f"{mode} worker died with exit code {code}") from None
    finally:
        for process in processes:
            process.join(timeout=60)
    errors = [o["error"] for o in outcomes if "error" in o]
    if errors:
        raise BenchError(f"{mode} worker failed:\n{errors[0]}")
    seconds = max(o["end"] for o in outcomes) - min(o["start"] for o in outcomes)
    shares = [o["count"] for o in sorted(outcomes, key=lambda o: o["index"])]
    cpu_share = sum(o["cpu"] for o in outcomes) / workers / seconds
    return seconds, shares, cpu_share


def statement_kind(sql: str) -> str:
    """'INSERT chains_touch', 'SELECT contacts_address', 'BEGIN': what a query is, briefly."""
    verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)', sql, re.IGNORECASE)
    return f"{verb} {table.group(1)}" if table else verb


def queries_per_batch(batch_size: int, show: bool) -> dict[str, Any]:
    """Queries of Worker.run_batch() at batch sizes B and B/4: equal unless something is N+1."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from kasatka.engine.worker import EngineConfig, Worker

    small = max(1, batch_size // 4)
    # Its own chain, due before the benchmark's rows exist, so it takes only its own.
    build_data(2 * batch_size + 2 * small, "bench-queries")
    counts: dict[str, list[int]] = {}
    kinds: dict[str, dict[str, int]] = {}
    for size in (batch_size, small):
        worker = Worker(EngineConfig(batch_size=size), worker_id=f"bench-queries-{size}")
        seen: list[int] = []
        for _ in range(2):
            with CaptureQueriesContext(connection) as captured:
                held = worker.run_batch()
            if held != size:
                raise BenchError(f"query count: a batch of {size} held {held} enrollments")
            seen.append(len(captured.captured_queries))
            kinds[str(size)] = Counter(statement_kind(q["sql"]) for q in captured.captured_queries)
            if show and size == batch_size and len(seen) == 1:
                for query in captured.captured_queries:
                    print(f"    {query['sql'][:150]}", flush=True)
        counts[str(size)] = seen
    return {"counts": counts, "kinds": kinds}


# --- the child process that benchmarks one database ----------------------------------


def database_main(
    kind: str, touches: int, batch_size: int, repeat: int, wait_idle: float, show_queries: bool
) -> None:
    setup_django()
    from django.db import connection

    migrate()
    install_null_channel()
    queries = queries_per_batch(batch_size, show_queries)
    chain_id, step_id = build_data(touches, "bench")
    plan = [("engine", 1), ("bare", 1), ("raw", 1)]
    if kind == "postgres":
        plan += [("engine", 2), ("raw", 2)]
    runs: list[dict[str, Any]] = []
    # Rounds interleave engine and raw, so a slow spell of a shared machine hits both.
    for round_ in range(1, repeat + 1):
        for mode, workers in plan:
            reset(chain_id, step_id)
            connection.close()
            # On a shared machine another process eating a core would make a slow run:
            # wait a while for it to pass, and print how busy the machine was.
            busy = wait_for_idle(wait_idle)
            seconds, shares, cpu_share = run_processes(mode, workers, batch_size)
            verify(touches, chain_id, f"{kind} {mode} x{workers}")
            rate = touches / seconds
            before = "?" if busy is None else f"{busy:.0%}"
            print(
                f"  [{round_}/{repeat}] {LABELS[kind]} {mode} x{workers}: {touches} touches in"
                f" {seconds:.2f} s = {rate:,.0f}/s (per worker: {shares}; worker CPU"
                f" {cpu_share:.0%} of wall; machine busy before: {before})",
                flush=True,
            )
            runs.append({
                "mode": mode, "workers": workers, "seconds": seconds, "rate": rate,
                "cpu_share": cpu_share, "busy_before": busy,
            })
    result = {"database": kind, "queries": queries, "runs": runs, "touches": touches}
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# --- the profile ---------------------------------------------------------------------


class PhaseTimer:
    """Wall time spent inside chosen functions, with no profiler overhead on everything else."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._undo: list[tuple[Any, str, Any]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)
        totals = self.seconds

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - started

        setattr(owner, name, timed)
        self._undo.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()


@contextmanager
def phase_timers() -> Iterator[PhaseTimer]:

    from kasatka.contacts import names
    from kasatka.engine import worker as worker_module
    from kasatka.engine.worker import Worker

    timer = PhaseTimer()
    for name in ("claim", "process", "plan", "_render", "deliver", "record"):
        timer.wrap(Worker, name, name)
    # Looked up as module globals by the worker and the templates, so patchable there.
    timer.wrap(worker_module, "build_context", "build_context")
    timer.wrap(worker_module, "render", "render")
    timer.wrap(worker_module, "unsubscribe_url", "unsubscribe_url")
    timer.wrap(names, "full_name_in", "declension")
    timer.wrap(Worker, "_insert_touches", "insert")
    try:
        yield timer
    finally:
        timer.restore()


def print_phases(seconds: dict[str, float], total: float, touches: int) -> None:
    s = defaultdict(float, seconds)
    load = s["process"] - s["plan"] - s["deliver"] - s["record"]
    rows = [
        ("claim (select due + lease update)", s["claim"]),
        ("load enrollments (+ shared rows)", load),
        ("plan: loads, routes, touch rows", s["plan"] - s["_render"] - s["insert"]),
        ("  render: unsubscribe link (signing)", s["unsubscribe_url"]),
        ("  render: build_context (views)", s["build_context"]),
        ("  render: Jinja, excl. declension", s["render"] - s["declension"]),
        ("  render: declension (petrovich)", s["declension"]),
        ("  render: context and views, rest", s["_render"] - s["unsubscribe_url"]
         - s["build_context"] - s["render"]),
        ("plan: INSERT … RETURNING touches", s["insert"]),
        ("deliver (null channel)", s["deliver"]),
        ("record (grouped updates, lease-guarded)", s["record"]),
        ("loop, stats, rest", total - s["claim"] - s["process"]),
    ]
    print(f"\nWhere the time goes (phase timers, no profiler): {total:.2f} s for {touches} touches")
    print(f"  {'phase':40} {'seconds':>8} {'µs/touch':>9} {'share':>7}")
    for label, value in rows:
        print(f"  {label:40} {value:8.2f} {value / touches * 1e6:9.0f} {value / total:7.1%}")


def _key(function: Callable[..., Any]) -> tuple[str, int, str]:
    code = function.__code__
    return (code.co_filename, code.co_firstlineno, code.co_name)


def print_profile_summary(stats: pstats.Stats) -> None:
    from django.db.models import Model

    from kasatka.chains import templating
    from kasatka.contacts import names
    from kasatka.contacts.unsubscribe import unsubscribe_url
    from kasatka.engine.worker import Worker

    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = max(ct for _cc, _nc, _tt, ct, _callers in table.values())

    def cumulative(function: Callable[..., Any]) -> float:
        entry = table.get(_key(function))
        return entry[3] if entry else 0.0

    # SQLite's whole engine (parse, plan, B-trees, WAL) is the self time of the sqlite3
    # module's C methods; Python it calls back into (converters) is counted elsewhere.
    in_sqlite = sum(
        entry[2] for key, entry in table.items() if key[0] == "~" and "sqlite3." in key[2]
    )
    lines = [
        ("Worker.claim", cumulative(Worker.claim)),
        ("Worker.plan", cumulative(Worker.plan)),
        ("  Worker._render", cumulative(Worker._render)),
        ("    unsubscribe_url (signing)", cumulative(unsubscribe_url)),
        ("    templating.build_context", cumulative(templating.build_context)),
        ("    templating.render (Jinja)", cumulative(templating.render)),
        ("      names.full_name_in (petrovich)", cumulative(names.full_name_in)),
        ("  Worker._insert_touches", cumulative(Worker._insert_touches)),
        ("Worker.deliver", cumulative(Worker.deliver)),
        ("Worker.record", cumulative(Worker.record)),
        ("Model.__init__ (all ORM instances)", cumulative(Model.__init__)),
        ("Model.from_db (rows to instances)", cumulative(Model.from_db)),
        ("sqlite3 C code, self (0 on PostgreSQL)", in_sqlite),
    ]
    print(f"\ncProfile summary (cumulative; lines overlap): {total:.2f} s profiled")
    for label, value in lines:
        print(f"  {label:42} {value:8.2f} s {value / total:7.1%}")


def profile_main(touches: int, batch_size: int) -> None:
    setup_django()
    migrate()
    install_null_channel()
    chain_id, step_id = build_data(touches, "bench")
    warm_up()

    # As before every benchmark run: fresh statistics, no dead rows, a checkpoint.
    reset(chain_id, step_id)
    with phase_timers() as timer:
        started = time.perf_counter()
        engine_loop("bench-phases", batch_size)
        elapsed = time.perf_counter() - started
    verify(touches, chain_id, "phase-timed run")
    from django.db import connection

    print(
        f"Engine in-process ({connection.vendor}): {touches / elapsed:,.0f} touches/s"
        " with phase timers"
    )
    print_phases(timer.seconds, elapsed, touches)

    reset(chain_id, step_id)
    profiler = cProfile.Profile()
    profiler.enable()
    engine_loop("bench-profile", batch_size)
    profiler.disable()
    verify(touches, chain_id, "profiled run")
    stats = pstats.Stats(profiler)
    print_profile_summary(stats)
    print("\nTop 25 functions by cumulative time (cProfile inflates Python-heavy code):")
    stats.strip_dirs().sort_stats("cumulative").print_stats(25)


# --- the parent: databases, child processes, the table --------------------------------


def child_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "kasatka.settings",
        "DATABASE_URL": database_url,
        # DEBUG keeps every query in memory; the log would only add noise.
        "KASATKA_DEBUG": "0",
        "KASATKA_LOG_LEVEL": "WARNING",
    }


def run_child(database_url: str, args: list[str]) -> tuple[bool, dict[str, Any] | None]:
    """Run this script as a child on one database; echo its output.

    Returns whether it succeeded and its RESULT line, if it printed one.
    """
    command = [sys.executable, str(Path(__file__).resolve()), *args]
    process = subprocess.Popen(
        command, env=child_env(database_url), stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    assert process.stdout is not None
    result: dict[str, Any] | None = None
    for line in process.stdout:
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
        else:
            print(line, end="", flush=True)
    if process.wait() != 0:
        print(f"  FAILED: child exited with code {process.returncode}", flush=True)
        return False, None
    return True, result


def postgres_admin(pg_url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True, connect_timeout=5) as conn:
        for statement in statements:
            conn.execute(statement)


def bench_url(pg_url: str) -> str:
    return urlunsplit(urlsplit(pg_url)._replace(path=f"/{BENCH_DB}"))


def common_args(args: argparse.Namespace) -> list[str]:
    return [
        "--touches", str(args.touches), "--batch-size", str(args.batch_size),
        "--repeat", str(args.repeat), "--wait-idle", str(args.wait_idle),
    ]


def bench_sqlite(args: argparse.Namespace) -> dict[str, Any] | None:
    print(f"SQLite: temp file, {args.touches} touches, batch {args.batch_size}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kasatka-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        extra = ["--show-queries"] if args.show_queries else []
        _ok, result = run_child(url, ["--scenario", "sqlite", *common_args(args), *extra])
        return result


@contextmanager
def postgres_database(pg_url: str) -> Iterator[str]:
    """A fresh kasatka_bench on the server of pg_url, dropped afterwards; yields its URL.

    Raises psycopg.Error when the server cannot be reached or refuses.
    """
    drop = f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"
    postgres_admin(pg_url, drop, f"CREATE DATABASE {BENCH_DB}")
    try:
        yield bench_url(pg_url)
    finally:
        postgres_admin(pg_url, drop)


def bench_postgres(args: argparse.Namespace) -> tuple[dict[str, Any] | None, str]:
    import psycopg

    extra = ["--show-queries"] if args.show_queries else []
    try:
        with postgres_database(args.pg_url) as url:
            print(f"PostgreSQL: database {BENCH_DB}, {args.touches} touches,"
                  f" batch {args.batch_size}", flush=True)
            _ok, result = run_child(
                url, ["--scenario", "postgres", *common_args(args), *extra]
            )
    except psycopg.Error as exc:
        return None, f"cannot use {BENCH_DB} on {args.pg_url}: {exc}".strip()
    return result, ""


def print_table(results: list[dict[str, Any]]) -> None:
    if not results:
        print("\nNo results.")
        return
    print("\nMedians of the rounds; ratio = engine / raw on the same database and rows;"
          " kept = engine / the engine without its guardrails (target ≥ 70 %).")
    header = (
        f"{'database':11} {'workers':>7} {'engine t/s':>11} {'raw t/s':>9} {'ratio':>7}"
        f" {'target':>7}  result"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        kind = result["database"]
        rates: dict[tuple[str, int], list[float]] = defaultdict(list)
        for run in result["runs"]:
            rates[(run["mode"], run["workers"])].append(run["rate"])
        for workers in sorted({w for _mode, w in rates}):
            # The median of the rounds: one slow spell of a shared machine does not decide.
            engine = statistics.median(rates[("engine", workers)])
            raw = statistics.median(rates[("raw", workers)])
            ratio = 100 * engine / raw
            target = TARGETS.get((kind, workers))
            verdict = "—" if target is None else ("PASS" if ratio >= target else "FAIL")
            shown = "—" if target is None else f"≥{target:.0f} %"
            bare_rates = rates.get(("bare", workers))
            kept = ""
            if bare_rates:
                share = 100 * engine / statistics.median(bare_rates)
                kept = (f"; guardrails keep {share:.1f} % of"
                        f" {statistics.median(bare_rates):,.0f} t/s without them"
                        f" ({'PASS' if share >= GUARDRAILS_KEEP else 'FAIL'})")
            print(
                f"{LABELS[kind]:11} {workers:>7} {engine:>11,.0f} {raw:>9,.0f}"
                f" {ratio:>5.1f} % {shown:>7}  {verdict}{kept}"
            )


def print_queries(results: list[dict[str, Any]], batch_size: int) -> None:
    small = max(1, batch_size // 4)
    for result in results:
        counts, kinds = result["queries"]["counts"], result["queries"]["kinds"]
        at_b, at_small = counts[str(batch_size)], counts[str(small)]
        # Batch by batch: a worker's first batch also reads the sending rules it then
        # keeps for a while, so the first and second batches may differ; the same batch
        # at both sizes may not.
        equal = at_b == at_small
        print(
            f"queries per batch ({LABELS[result['database']]}): {at_b[0]} at batch size"
            f" {batch_size}, {at_small[0]} at batch size {small}"
            f" (2 batches each: {at_b}, {at_small}) — "
            + ("PASS, no N+1" if equal else "FAIL: the count grows with the batch")
        )
        if not equal:
            big, little = Counter(kinds[str(batch_size)]), Counter(kinds[str(small)])
            extra = ", ".join(f"{kind} ×{n}" for kind, n in (big - little).items())
            print(f"  extra at batch size {batch_size}: {extra}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--touches", type=int, default=20_000, help="touches per run")
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of every run; the table shows medians"
    )
    parser.add_argument(
        "--wait-idle", type=float, default=60, metavar="SECONDS",
        help="before each run, wait up to this long for the machine to be idle (<20%% busy)",
    )
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="server for kasatka_bench")
    parser.add_argument(
        "--profile", action="store_true",
        help="instead of the benchmark: the SQLite engine run in-process, timed and profiled"
        " (with --only postgres: on PostgreSQL)",
    )
    parser.add_argument("--show-queries", action="store_true", help="print one batch's SQL")
    # Internal: the child process that benchmarks one database or profiles.
    parser.add_argument(
        "--scenario", choices=["sqlite", "postgres", "profile"], help=argparse.SUPPRESS
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if min(args.touches, args.batch_size, args.repeat) < 1:
        raise SystemExit("--touches, --batch-size and --repeat must be positive")
    if args.scenario == "profile":
        profile_main(args.touches, args.batch_size)
        return 0
    if args.scenario in ("sqlite", "postgres"):
        database_main(
            args.scenario, args.touches, args.batch_size, args.repeat, args.wait_idle,
            args.show_queries,
        )
        return 0
    if args.profile:
        profile_args = ["--scenario", "profile", *common_args(args)]
        if args.only == "postgres":
            # Not asked for by the issue, but it shows what the server round trips cost.
            with postgres_database(args.pg_url) as url:
                ok, _result = run_child(url, profile_args)
        else:
            with tempfile.TemporaryDirectory(prefix="kasatka-profile-") as tmp:
                ok, _result = run_child(f"sqlite:///{Path(tmp) / 'profile.sqlite3'}", profile_args)
        return 0 if ok else 1

    results: list[dict[str, Any]] = []
    skipped = ""
    failed = False
    if args.only in (None, "sqlite"):
        sqlite_result = bench_sqlite(args)
        failed = sqlite_result is None
        if sqlite_result:
            results.append(sqlite_result)
    if args.only in (None, "postgres"):
        pg_result, skipped = bench_postgres(args)
        failed = failed or (pg_result is None and not skipped)
        if pg_result:
            results.append(pg_result)
    print_table(results)
    print()
    print_queries(results, args.batch_size)
    if skipped:
        print(f"PostgreSQL scenarios skipped: {skipped}")
    if failed:
        print("A run FAILED (see above): its numbers are missing from the table.")
    # A benchmark reports: a missed target is not an error, a run that went wrong is.
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
