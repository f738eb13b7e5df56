"""Insights benchmark: each insight's data query on 1,000,000 contacts and 5,000,000 touches.

Run from the repository root:

    .venv/bin/python bench/insights.py [--contacts N] [--touches T] [--repeat R]
                                       [--limit SECONDS] [--timeout SECONDS]
                                       [--keep] [--reuse] [--only NAME ...]
                                       [--explain FILE] [--no-jit | --jit] [--pg-url URL]

It creates `kasatka_bench_insights` on the PostgreSQL server of --pg-url, migrates it and
fills ONE business with server-side SQL (INSERT … SELECT over generate_series): N contacts
taken over 18 months from eight lead sources (with monthly costs) by five sellers, their
visits (types 1–4, loss reasons), first and repeat purchases (~30 % of contacts), stage
changes lead → new → regular → adept, warming / loyalty / win-back / news chains with their
enrollments, T touches with realistic statuses and bodies, deals with nudges, and a
`ClientRisk` row per client (lapsed ones flagged). Then, for a one-month and a 12-month
period ending at the generation's day, it times every figure of the insight pages (R runs,
median) beside raw `SELECT count(*)`s over the touches (floors), and prints
PASS/FAIL against the issue's target (--limit, 2 s). With --explain, the SQL of every
figure over the limit is run again under EXPLAIN (ANALYZE, BUFFERS) into FILE.

`--keep` keeps the database afterwards; `--reuse` skips the generation when a complete
database of the same size exists (and keeps it). Without them the database is dropped.
The server's settings are left as they are: the figures are those of a stock install.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

BENCH_DB = "kasatka_bench_insights"
DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"
SLUG = "bench-insights"
META = "bench_insights_meta"  # one row: what was generated, for --reuse
ZONE = "Europe/Moscow"
SPAN_DAYS = 548  # ~18 months of history before the end
LIST_LIMIT = 500  # the lapsing clients page shows the first 500 (insights/views.py)

# Step offsets (days after the enrollment) of the generated chains.
WARMING_DAYS = (0, 2, 5, 10, 17, 26)
LOYALTY_DAYS = (7, 30, 60, 120)
WINBACK_DAYS = (0, 7, 21)
NEWS_DAYS = tuple(30 * k for k in range(12))

SELLERS = (("Анна", "Смирнова"), ("Игорь", "Волков"), ("Ольга", "Кузнецова"),
           ("Дмитрий", "Соколов"), ("Марина", "Лебедева"))
# name, utm_source, utm_medium, utm_campaign, monthly cost (₽, 0: free), conversion to client
SOURCES = (
    ("Яндекс Директ", "yandex", "cpc", "kitchens-search", 180_000, 0.14),
    ("VK реклама", "vk", "social", "kitchens-retarget", 90_000, 0.11),
    ("Авито", "avito", "classified", "", 45_000, 0.18),
    ("2ГИС", "2gis", "maps", "", 15_000, 0.24),
    ("Сайт (SEO)", "google", "organic", "", 30_000, 0.16),
    ("Выставка «Мебель-2025»", "expo", "offline", "expo-2025", 250_000, 0.28),
    ("Рекомендация", "", "referral", "", 0, 0.35),
    ("Telegram-канал", "telegram", "social", "tg-channel", 20_000, 0.12),
)
DIRECT_CONVERSION = 0.40  # walk-ins without a source
LOSS_REASONS = (
    ("Дорого", "objective"), ("Нет нужного размера", "objective"),
    ("Долгий срок изготовления", "objective"), ("Ушёл подумать", "objective"),
    ("Не выявлена потребность", "non_objective"), ("Не предложили замер", "non_objective"),
    ("Не взяли контакты", "non_objective"), ("Грубость продавца", "non_objective"),
)
FEMALE_FIRST = ("Анна", "Мария", "Елена", "Ольга", "Наталья", "Ирина", "Светлана", "Татьяна",
                "Юлия", "Екатерина", "Дарья", "Алина")
MALE_FIRST = ("Иван", "Алексей", "Сергей", "Дмитрий", "Андрей", "Михаил", "Николай", "Павел",
              "Артём", "Максим", "Егор", "Владимир")
LAST = ("Иванов", "Петров", "Сидоров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов",
        "Михайлов", "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов")
BODY = (
    "{name}, здравствуйте!\n\nМы подготовили для вас персональное предложение: новая коллекция "
    "кухонь уже в салоне, а замер и дизайн-проект — бесплатно до конца месяца. Приходите на "
    "Ленина, 12, или ответьте на это сообщение, и мы перезвоним в удобное время.\n\nДо встречи,"
    "\nМебель «Кедр»\n\nОтписаться: https://kedr.example/u/{token}"
)


# --- the database ---------------------------------------------------------------------


def server_url(pg_url: str, database: str) -> str:
    return urlunsplit(urlsplit(pg_url)._replace(path=f"/{database}"))


def admin(pg_url: str, *statements: str) -> list[Any]:
    """Run statements on the server's `postgres` database; the last one's rows."""
    import psycopg

    rows: list[Any] = []
    with psycopg.connect(server_url(pg_url, "postgres"), autocommit=True,
                         connect_timeout=5) as conn:
        for statement in statements:
            cursor = conn.execute(statement)
            rows = cursor.fetchall() if cursor.description else []
    return rows


def existing_meta(pg_url: str) -> dict[str, Any] | None:
    """The generation record of an existing, complete bench database; None otherwise."""
    import psycopg

    if not admin(pg_url, f"SELECT 1 FROM pg_database WHERE datname = '{BENCH_DB}'"):
        return None
    with psycopg.connect(server_url(pg_url, BENCH_DB), connect_timeout=5) as conn:
        if conn.execute("SELECT to_regclass(%s)", [META]).fetchone() == (None,):
            return None
        row = conn.execute(
            f"SELECT contacts, touches, end_at, seconds FROM {META}"
        ).fetchone()
    if row is None:
        return None
    return {"contacts": row[0], "touches": row[1], "end_at": row[2], "seconds": row[3]}


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "kasatka.settings"
    os.environ["KASATKA_DEBUG"] = "0"  # DEBUG would keep every query in memory
    os.environ.setdefault("KASATKA_LOG_LEVEL", "WARNING")
    import django

    django.setup()


# --- the generator ----------------------------------------------------------------------


class Phases:
    """Prints each phase of the generation with its time."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def run(self, label: str, fn: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        result = fn()
        print(f"  {label:<46} {time.perf_counter() - began:7.1f} s", flush=True)
        return result

    @property
    def total(self) -> float:
        return time.perf_counter() - self.started


def sql_array(values: Iterable[str]) -> str:
    return "ARRAY[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def name_sql(alias: str) -> tuple[str, str, str]:
    """SQL expressions of a contact's (first name, last name, gender) from its plan row."""
    first = (
        f"CASE WHEN {alias}.female THEN ({sql_array(FEMALE_FIRST)})"
        f"[1 + mod({alias}.id, {len(FEMALE_FIRST)})] ELSE ({sql_array(MALE_FIRST)})"
        f"[1 + mod({alias}.id, {len(MALE_FIRST)})] END"
    )
    last = (
        f"({sql_array(LAST)})[1 + mod({alias}.id / 7, {len(LAST)})]"
        f" || CASE WHEN {alias}.female THEN 'а' ELSE '' END"
    )
    gender = f"CASE WHEN {alias}.female THEN 'female' ELSE 'male' END"
    return first, last, gender


@dataclass
class Setup:
    """What the ORM made before the bulk load: ids the SQL refers to."""

    business: int
    owner: int
    sellers: list[int]
    sources: list[int]
    reasons: list[int]
    chains: dict[str, int] = field(default_factory=dict)
    stages: list[int] = field(default_factory=list)
    pipeline: int = 0


def make_setup(end: datetime) -> Setup:
    """The business, its people, sources, reasons, chains and pipeline, through the ORM."""
    from decimal import Decimal

    from kasatka.accounts.models import Business, Role, User, method_settings
    from kasatka.chains.models import Chain, ChainKind, DelayFrom, Step
    from kasatka.deals.models import DealStage, Pipeline
    from kasatka.sales.models import LeadSource, LeadSourceCost, LossReason

    begin = end - timedelta(days=SPAN_DAYS)
    business = Business.objects.create(
        name="Мебель «Кедр»", slug=SLUG, time_zone=ZONE, email="shop@kedr.example",
        phone="+7 900 000-00-00",
    )
    method_settings(business)
    owner = User.objects.create(username="bench-owner", business=business, role=Role.OWNER,
                                first_name="Павел", last_name="Кедров")
    User.objects.create(username="bench-head", business=business, role=Role.HEAD_OF_SALES,
                        first_name="Елена", last_name="Орлова")
    User.objects.create(username="bench-marketer", business=business, role=Role.MARKETER,
                        first_name="Кира", last_name="Белова")
    sellers = [
        User.objects.create(username=f"bench-seller-{i}", business=business, role=Role.SELLER,
                            first_name=first, last_name=last).pk
        for i, (first, last) in enumerate(SELLERS, 1)
    ]
    sources = []
    for name, utm_source, medium, campaign, monthly, _conversion in SOURCES:
        source = LeadSource.objects.create(
            business=business, name=name, channel=medium, utm_source=utm_source,
            utm_medium=medium, utm_campaign=campaign, created_at=begin,
        )
        sources.append(source.pk)
        if not monthly:
            continue
        # One cost entry per calendar month, as an owner would enter the invoices.
        zone = ZoneInfo(ZONE)
        month = begin.astimezone(zone).date().replace(day=1)
        costs = []
        while month <= end.astimezone(zone).date():
            following = (month + timedelta(days=32)).replace(day=1)
            wobble = Decimal(90 + (month.month * 7 + source.pk * 13) % 21) / 100
            costs.append(LeadSourceCost(
                business=business, source=source, period_start=month,
                period_end=following - timedelta(days=1), amount=Decimal(monthly) * wobble,
            ))
            month = following
        LeadSourceCost.objects.bulk_create(costs)
    reasons = [
        LossReason.objects.create(business=business, name=name, kind=kind, position=i).pk
        for i, (name, kind) in enumerate(LOSS_REASONS)
    ]
    setup = Setup(business.pk, owner.pk, sellers, sources, reasons)
    chain_specs = {
        "warming": (ChainKind.WARMING, "Прогрев после визита", WARMING_DAYS, True,
                    [["email", "sms"], ["sms"], ["telegram", "whatsapp", "sms"], ["call"],
                     ["email", "sms"], ["whatsapp", "sms"]]),
        "loyalty": (ChainKind.LOYALTY, "Забота о клиенте", LOYALTY_DAYS, False,
                    [["sms"], ["email", "sms"], ["telegram", "email"], ["call"]]),
        "winback": (ChainKind.WINBACK, "Возвращение", WINBACK_DAYS, False,
                    [["email", "sms"], ["whatsapp", "sms"], ["call"]]),
        "news": (ChainKind.NURTURE, "Новости салона", NEWS_DAYS, False,
                 [["email"]] * len(NEWS_DAYS)),
    }
    for key, (kind, name, days, exits, channels) in chain_specs.items():
        chain = Chain.objects.create(
            business=business, name=name, kind=kind, exit_on_purchase=exits,
            enrol_on_stage="new" if key == "loyalty" else "", created_at=begin,
        )
        setup.chains[key] = chain.pk
        for position, (offset, names) in enumerate(zip(days, channels, strict=True), 1):
            previous = days[position - 2] if position > 1 else 0
            Step.objects.create(
                chain=chain, position=position, delay=timedelta(days=offset - previous),
                delay_from=DelayFrom.PREVIOUS, channels=names,
                is_commercial=key != "news", reason=f"{name}: шаг {position}",
                subject_template=f"{name}: {{{{ contact.name }}}}",
                body_template="{{ contact.greeting }}! " + name,
            )
    pipeline = Pipeline.objects.create(business=business, name="Кухни на заказ")
    setup.pipeline = pipeline.pk
    setup.stages = [
        DealStage.objects.create(pipeline=pipeline, name=name, position=i,
                                 waits_for_client=i in (2, 4)).pk
        for i, name in enumerate(("Замер", "Проект", "Смета", "Договор", "Изготовление"), 1)
    ]
    return setup


def load_tables() -> tuple[str, ...]:
    return (
        "contacts_contact", "contacts_stagechange", "sales_purchase", "sales_visit",
        "chains_enrollment", "chains_touch", "deals_deal", "deals_nudge",
        "insights_clientrisk",
    )


def drop_indexes(cursor: Any, tables: Iterable[str]) -> list[str]:
    """Drop the secondary indexes and unique constraints of tables; the SQL to restore them.

    Loading into bare tables and indexing once is several times faster than maintaining
    every index row by row.
    """
    restore: list[str] = []
    for table in tables:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype = 'u'", [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)"
            " FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT i.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f"DROP INDEX {name}")
            restore.append(definition)
    return restore


def generate(n_contacts: int, n_touches: int, end: datetime) -> float:
    """Fill the bench business; returns the seconds it took."""
    from django.db import connection

    from kasatka.chains.models import Step

    phases = Phases()
    print(f"Generating {n_contacts:,} contacts and {n_touches:,} touches, history "
          f"{SPAN_DAYS} days up to {end:%Y-%m-%d %H:%M %Z}", flush=True)
    setup = phases.run("business, users, sources, costs, chains (ORM)", lambda: make_setup(end))
    begin = end - timedelta(days=SPAN_DAYS)
    steps = {
        key: list(Step.objects.filter(chain_id=chain).order_by("position")
                  .values_list("pk", flat=True))
        for key, chain in setup.chains.items()
    }
    params: dict[str, Any] = {
        "b": setup.business, "begin": begin, "end": end, "n": n_contacts,
        "span": timedelta(days=SPAN_DAYS), "sellers": setup.sellers, "sources": setup.sources,
        "conv": [s[5] for s in SOURCES], "direct": DIRECT_CONVERSION, "reasons": setup.reasons,
        "owner": setup.owner,
    }
    first_sql, last_sql, gender_sql = name_sql("p")
    with connection.cursor() as cursor:
        # This session only: the load is a bulk load (nothing here changes the server).
        cursor.execute("SET synchronous_commit = off")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        cursor.execute("SET work_mem = '256MB'")
        # Every row is consistent by construction: no per-row foreign key triggers.
        cursor.execute("SET session_replication_role = replica")
        restore = drop_indexes(cursor, load_tables())
        cursor.execute("SELECT setseed(0.2005)")

        def run(label: str, sql: str, extra: dict[str, Any] | None = None) -> None:
            def go() -> None:
                cursor.execute(sql, {**params, **(extra or {})})
            phases.run(label, go)

        run("plan: one row per contact", PLAN_SQL.format(
            warming=_interval_array(WARMING_DAYS),
        ))
        run("contacts", f"""
            INSERT INTO contacts_contact (id, business_id, last_name, first_name, patronymic,
                gender, company, time_zone, language, stage, is_discount_lover, is_impulsive,
                is_marked_adept, needs_fit, readiness, needs, knows_about_us, came_because,
                source_id, owner_id, created_at, updated_at)
            SELECT p.id, %(b)s, {last_sql}, {first_sql}, '', {gender_sql}, '', '', 'ru',
                p.stage, p.id %% 7 = 0, p.id %% 11 = 0, false,
                CASE WHEN p.first_at IS NOT NULL THEN 'fits' ELSE '' END,
                CASE p.id %% 5 WHEN 0 THEN 'looking' WHEN 1 THEN 'comparing' ELSE '' END,
                CASE WHEN p.id %% 3 = 0 THEN 'Кухня 3 м, до конца квартала' ELSE '' END,
                '', '', p.source_id, p.owner_id, p.created_at,
                coalesce(p.last_at, p.created_at)
            FROM bench_plan p
        """)
        run("purchases (first and repeats)", """
            INSERT INTO sales_purchase (business_id, contact_id, amount, purchased_at,
                seller_id, on_promotion, note, external_id)
            SELECT %(b)s, p.id,
                round((8000 + 140000 * power(random(), 2.5))::numeric, -2),
                p.first_at + k * p.gap,
                CASE WHEN random() < 0.9 THEN p.owner_id
                     ELSE (%(sellers)s::bigint[])[1 + floor(random() * 5)::int] END,
                random() < 0.2, '', ''
            FROM bench_plan p CROSS JOIN LATERAL generate_series(0, p.n_rep) k
            WHERE p.first_at IS NOT NULL
        """)
        run("stage changes", """
            INSERT INTO contacts_stagechange (business_id, contact_id, field, old, new, cause,
                changed_at)
            SELECT %(b)s, id, 'stage', 'lead', 'new', 'первая покупка', first_at
              FROM bench_plan WHERE first_at IS NOT NULL
            UNION ALL
            SELECT %(b)s, id, 'stage', 'new', 'regular', 'повторная покупка', first_at + gap
              FROM bench_plan WHERE n_rep >= 1
            UNION ALL
            SELECT %(b)s, id, 'stage', 'regular', 'adept', 'привёл друга', adept_at
              FROM bench_plan WHERE adept_at IS NOT NULL
            UNION ALL
            SELECT %(b)s, id, 'is_discount_lover', 'False', 'True', 'две покупки по акции',
                   first_at + gap
              FROM bench_plan WHERE n_rep >= 1 AND id %% 7 = 0
        """)
        run("visits (types 1-4, loss reasons)", """
            INSERT INTO sales_visit (business_id, contact_id, seller_id, occurred_at, bought,
                contacts_taken, visit_type, amount, loss_reason_id, note)
            SELECT %(b)s, id, owner_id, first_at - interval '25 minutes', true, true, 1,
                   NULL::numeric, NULL, ''
              FROM bench_plan WHERE first_at IS NOT NULL AND id %% 20 < 17
            UNION ALL
            SELECT %(b)s, id, owner_id, created_at, false, true, 3, NULL,
                   CASE WHEN random() < 0.85 THEN
                        (%(reasons)s::bigint[])[1 + floor(random() * 8)::int] END, ''
              FROM bench_plan WHERE first_at IS NULL AND id %% 8 = 0
            UNION ALL
            SELECT %(b)s, NULL, (%(sellers)s::bigint[])[1 + floor(random() * 5)::int],
                   %(begin)s::timestamptz + %(span)s * random(), k %% 3 > 0, false,
                   CASE WHEN k %% 3 > 0 THEN 2 ELSE 4 END, NULL,
                   CASE WHEN k %% 3 = 0 AND random() < 0.7 THEN
                        (%(reasons)s::bigint[])[1 + floor(random() * 8)::int] END, ''
              FROM generate_series(1, %(n)s / 8) k
        """)
        enrollments(run, setup, steps)
        touches_sql = touch_inserts(setup, steps)
        for label, sql in touches_sql:
            run(label, sql)
        cursor.execute("SELECT count(*) FROM chains_touch")
        made = cursor.fetchone()[0]
        news_wanted = n_touches - made
        if news_wanted > 0:
            run(f"touches: news (fill up to {n_touches:,})", news_touches(setup, steps),
                {"wanted": news_wanted})
        elif news_wanted < 0:
            run(f"touches: trim {-news_wanted:,} to {n_touches:,}", """
                DELETE FROM chains_touch WHERE id IN (
                    SELECT id FROM chains_touch ORDER BY md5(id::text) LIMIT %(excess)s)
            """, {"excess": -news_wanted})
        deal_params = {"stages": setup.stages, "pipeline": setup.pipeline}
        run("deals", DEALS_SQL, deal_params)
        run("nudges", NUDGES_SQL, deal_params)
        run("client risks (lapsed ones flagged)", RISK_SQL)
        run("churn model", """
            INSERT INTO insights_churnmodel (business_id, r, alpha, a, b, log_likelihood,
                customers, repeat_buyers, note, fitted_at, fitted_for, settings_key,
                purchases_seen)
            SELECT %(b)s, 0.24, 4.4, 0.79, 2.43, -123456.7,
                (SELECT count(*) FROM bench_plan WHERE first_at IS NOT NULL),
                (SELECT count(*) FROM bench_plan WHERE n_rep >= 1), '', %(end)s,
                (%(end)s::timestamptz AT TIME ZONE 'Europe/Moscow')::date, '',
                (SELECT max(id) FROM sales_purchase)
        """)
        for table in ("contacts_contact", "sales_purchase", "sales_visit",
                      "contacts_stagechange", "chains_enrollment", "chains_touch",
                      "deals_deal", "deals_nudge", "insights_clientrisk",
                      "insights_churnmodel"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 1) FROM {table}))"
            )

        def reindex() -> None:
            for statement in restore:
                cursor.execute(statement)
        phases.run(f"indexes and unique constraints ({len(restore)})", reindex)
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("DROP TABLE bench_plan")
    # VACUUM cannot run in a transaction; Django's connection is in autocommit.
    with connection.cursor() as cursor:
        phases.run("VACUUM ANALYZE", lambda: cursor.execute("VACUUM ANALYZE"))
    seconds = phases.total
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {META} (contacts bigint, touches bigint,"
                       " end_at timestamptz, generated_at timestamptz, seconds float)")
        cursor.execute(f"INSERT INTO {META} VALUES (%s, %s, %s, now(), %s)",
                       [n_contacts, n_touches, end, seconds])
    return seconds


def _interval_array(days: Iterable[int]) -> str:
    return "ARRAY[" + ", ".join(f"interval '{d} days'" for d in days) + "]"


# One row per contact: when it was taken, by whom, from where, whether and when it bought,
# its repeat rhythm, how far its warming went. The other tables are made from it.
PLAN_SQL = """
CREATE UNLOGGED TABLE bench_plan AS
WITH draws AS (
    SELECT i AS id, random() AS r_time, random() AS r_owner, random() AS r_source,
        random() AS r_gender, random() AS r_delay, random() AS r_buy, random() AS r_gap,
        random() AS r_repeat, random() AS r_reps, random() AS r_adept, random() AS r_stop,
        random() AS r_jitter
    FROM generate_series(1, %(n)s) i
), drawn AS (
    SELECT id,
        -- More contacts lately: a growing business.
        %(begin)s::timestamptz + %(span)s * power(r_time, 0.8) AS created_at,
        CASE WHEN r_owner < 0.12 THEN NULL
             ELSE (%(sellers)s::bigint[])[1 + floor(power((r_owner - 0.12) / 0.88, 1.3)
                                                    * 5)::int] END AS owner_id,
        CASE WHEN r_source < 0.08 THEN NULL
             ELSE 1 + floor(power((r_source - 0.08) / 0.92, 1.4) * 8)::int END AS src,
        r_gender < 0.55 AS female,
        r_delay, r_buy, r_repeat, r_reps, r_adept, r_stop,
        interval '25 days' + interval '120 days' * r_gap AS gap,
        interval '10 hours' * r_jitter AS jitter
    FROM draws
), bought AS (
    SELECT d.*,
        CASE WHEN src IS NULL THEN NULL ELSE (%(sources)s::bigint[])[src] END AS source_id,
        CASE WHEN r_buy < coalesce((%(conv)s::float[])[src], %(direct)s)
                  AND created_at + interval '30 minutes' + interval '75 days'
                      * power(r_delay, 3) < %(end)s
             THEN created_at + interval '30 minutes' + interval '75 days' * power(r_delay, 3)
        END AS first_at
    FROM drawn d
), repeats AS (
    SELECT b.*,
        CASE WHEN first_at IS NULL THEN 0
             ELSE least(CASE WHEN r_repeat < 0.3 THEN 1 + floor(r_reps * 3)::int ELSE 0 END,
                        floor(extract(epoch FROM %(end)s - first_at)
                              / extract(epoch FROM gap))::int) END AS n_rep,
        CASE WHEN r_stop < 0.35 THEN 1 + floor(r_stop / 0.35 * 3)::int ELSE 6 END
            AS warm_stop
    FROM bought b
)
SELECT id, created_at, owner_id, source_id, female, first_at, gap, n_rep, jitter, warm_stop,
    CASE WHEN first_at IS NULL THEN NULL ELSE first_at + n_rep * gap END AS last_at,
    CASE WHEN n_rep >= 1 AND r_adept < 0.15
              AND first_at + gap + interval '20 days' * r_adept / 0.15 < %(end)s
         THEN first_at + gap + interval '20 days' * r_adept / 0.15 END AS adept_at,
    CASE WHEN first_at IS NULL THEN 'lead'
         WHEN n_rep = 0 THEN 'new'
         WHEN r_adept < 0.15 AND first_at + gap + interval '20 days' * r_adept / 0.15
              < %(end)s THEN 'adept'
         ELSE 'regular' END AS stage,
    -- Warming touches: the planned ones before the first purchase and before the end.
    (SELECT count(*) FROM unnest({warming}) WITH ORDINALITY o(d, k)
      WHERE k <= warm_stop
        AND created_at + d + jitter < least(coalesce(first_at, %(end)s), %(end)s))::int
        AS warm_n,
    -- A lapse: 2.5 usual gaps (at least 90 days) after the last purchase, for repeaters.
    CASE WHEN n_rep >= 1 THEN first_at + n_rep * gap + greatest(gap * 2.5,
                                                               interval '90 days') END
        AS lapse_at
FROM repeats
"""


def enrollments(run: Callable[..., None], setup: Setup, steps: dict[str, list[int]]) -> None:
    """Warming for every contact, loyalty for every client, win-back for the lapsed."""
    warming = _interval_array(WARMING_DAYS)
    count = len(WARMING_DAYS)
    run("enrollments: warming", f"""
        INSERT INTO chains_enrollment (business_id, contact_id, chain_id, step_id, state,
            next_touch_at, lease_owner, enrolled_at, last_touch_at, ended_at, exit_reason)
        SELECT %(b)s, p.id, %(chain)s,
            CASE WHEN x.state = 'active' THEN (%(steps)s::bigint[])[p.warm_n + 1] END,
            x.state,
            CASE WHEN x.state = 'active'
                 THEN p.created_at + ({warming})[p.warm_n + 1] + p.jitter END,
            '', p.created_at,
            CASE WHEN p.warm_n > 0 THEN p.created_at + ({warming})[p.warm_n] + p.jitter END,
            x.ended_at, x.reason
        FROM bench_plan p CROSS JOIN LATERAL (
            SELECT
                CASE WHEN p.first_at IS NOT NULL AND p.first_at
                          <= p.created_at + ({warming})[p.warm_stop] + p.jitter
                          THEN 'exited'
                     WHEN p.warm_n = p.warm_stop AND p.warm_stop < {count} THEN 'exited'
                     WHEN p.warm_n = {count} THEN 'finished'
                     ELSE 'active' END AS state,
                CASE WHEN p.first_at IS NOT NULL AND p.first_at
                          <= p.created_at + ({warming})[p.warm_stop] + p.jitter
                          THEN p.first_at
                     WHEN p.warm_n = p.warm_stop
                          THEN p.created_at + ({warming})[p.warm_n] + p.jitter END AS ended_at,
                CASE WHEN p.first_at IS NOT NULL AND p.first_at
                          <= p.created_at + ({warming})[p.warm_stop] + p.jitter
                          THEN 'purchase'
                     WHEN p.warm_n = p.warm_stop AND p.warm_stop < {count}
                          THEN 'stopped by the seller'
                     ELSE '' END AS reason
        ) x
    """, {"chain": setup.chains["warming"], "steps": steps["warming"]})
    for key, days, start, where in (
        ("loyalty", LOYALTY_DAYS, "p.first_at + interval '1 hour'", "p.first_at IS NOT NULL"),
        ("winback", WINBACK_DAYS, "p.lapse_at", "p.lapse_at < %(end)s"),
    ):
        offsets = _interval_array(days)
        done = f"(SELECT count(*) FROM unnest({offsets}) d WHERE {start} + d < %(end)s)::int"
        run(f"enrollments: {key}", f"""
            INSERT INTO chains_enrollment (business_id, contact_id, chain_id, step_id, state,
                next_touch_at, lease_owner, enrolled_at, last_touch_at, ended_at,
                exit_reason)
            SELECT %(b)s, id, %(chain)s,
                CASE WHEN n < {len(days)} THEN (%(steps)s::bigint[])[n + 1] END,
                CASE WHEN n < {len(days)} THEN 'active' ELSE 'finished' END,
                CASE WHEN n < {len(days)} THEN start + ({offsets})[n + 1] END,
                '', start, CASE WHEN n > 0 THEN start + ({offsets})[n] END,
                CASE WHEN n = {len(days)} THEN start + ({offsets})[n] END, ''
            FROM (SELECT p.id, {start} AS start, {done} AS n FROM bench_plan p
                  WHERE {where}) s
        """, {"chain": setup.chains[key], "steps": steps[key]})
    # The monthly news: every sixth contact, from a month after being taken.
    run("enrollments: news", """
        INSERT INTO chains_enrollment (business_id, contact_id, chain_id, step_id, state,
            next_touch_at, lease_owner, enrolled_at, last_touch_at, ended_at, exit_reason)
        SELECT %(b)s, id, %(chain)s, NULL, 'active', NULL, '',
            created_at + interval '30 days', NULL, NULL, ''
        FROM bench_plan WHERE id %% 6 = 0 AND created_at + interval '30 days' < %(end)s
    """, {"chain": setup.chains["news"]})


# Statuses by channel from one uniform draw u: what providers report back, roughly.
STATUS_SQL = """
CASE WHEN u < 0.02 THEN 'skipped'
     WHEN channel = 'email' THEN CASE
        WHEN u < 0.06 THEN 'failed' WHEN u < 0.08 THEN 'bounced'
        WHEN u < 0.085 THEN 'complained' WHEN u < 0.10 THEN 'unsubscribed'
        WHEN u < 0.13 THEN 'replied' WHEN u < 0.43 THEN 'opened'
        WHEN u < 0.82 THEN 'delivered' ELSE 'sent' END
     WHEN channel = 'sms' THEN CASE
        WHEN u < 0.05 THEN 'failed' WHEN u < 0.07 THEN 'replied'
        WHEN u < 0.075 THEN 'unsubscribed' WHEN u < 0.90 THEN 'delivered' ELSE 'sent' END
     WHEN channel = 'call' THEN CASE
        WHEN u < 0.12 THEN 'failed' WHEN u < 0.55 THEN 'replied' ELSE 'sent' END
     ELSE CASE
        WHEN u < 0.06 THEN 'failed' WHEN u < 0.08 THEN 'unsubscribed'
        WHEN u < 0.16 THEN 'replied' WHEN u < 0.56 THEN 'opened'
        WHEN u < 0.92 THEN 'delivered' ELSE 'sent' END
END
"""


def touch_select(offsets: str, start: str, count: str) -> str:
    """SELECT of the touch rows of one chain: `count` steps from `start` at `offsets`.

    Expects the aliases e (the enrollment), p (the plan) and the parameters b, chain, steps.
    """
    first_sql, _last, _gender = name_sql("p")
    body = BODY.replace("'", "''").format(name="' || name || '", token="' || token || '")
    return f"""
    SELECT %(b)s AS business_id, enrollment_id, step_id, contact_id, channel,
        CASE channel WHEN 'email' THEN 'c' || contact_id || '@mail.example'
             WHEN 'telegram' THEN (100000000 + contact_id)::text
             ELSE '+7' || (9000000000 + contact_id)::text END AS "to",
        commercial, CASE WHEN channel = 'email' THEN subject || name ELSE '' END AS subject,
        '{body}' AS body, status, 't' || enrollment_id || '-' || step_id AS key,
        '' AS provider_id, 1 AS attempts,
        CASE WHEN status = 'failed' THEN 'provider timeout' ELSE '' END AS error,
        '' AS route_note,
        at AS created_at, CASE WHEN status IN ('failed', 'skipped') THEN NULL
                 ELSE at + interval '3 seconds' END AS sent_at,
        at + interval '2 hours' * u AS updated_at
    FROM (
        SELECT *, {STATUS_SQL} AS status FROM (
            SELECT e.id AS enrollment_id, s.id AS step_id, p.id AS contact_id,
                CASE WHEN jsonb_array_length(s.channels) > 1 AND p.id %% 5 = 0
                     THEN s.channels ->> 1 ELSE s.channels ->> 0 END AS channel,
                s.is_commercial AS commercial, s.reason || ', ' AS subject,
                {first_sql} AS name, md5(p.id::text) AS token,
                {start} + ({offsets})[k] AS at, random() AS u
            FROM chains_enrollment e
            JOIN bench_plan p ON p.id = e.contact_id
            CROSS JOIN LATERAL generate_series(1, {count}) k
            JOIN chains_step s ON s.chain_id = e.chain_id
                AND s.id = (%(steps)s::bigint[])[k]
            WHERE e.chain_id = %(chain)s
        ) drawn
    ) rows
    """


TOUCH_COLUMNS = """
INSERT INTO chains_touch (business_id, enrollment_id, step_id, contact_id, channel, "to",
    is_commercial, subject, body, status, idempotency_key, provider_message_id, attempts,
    error, route_note, created_at, sent_at, updated_at)
"""


def touch_inserts(setup: Setup, steps: dict[str, list[int]]) -> list[tuple[str, str]]:
    inserts = []
    for key, days, start in (
        ("warming", WARMING_DAYS, "p.created_at + p.jitter"),
        ("loyalty", LOYALTY_DAYS, "e.enrolled_at"),
        ("winback", WINBACK_DAYS, "e.enrolled_at"),
    ):
        offsets = _interval_array(days)
        count = ("p.warm_n" if key == "warming" else
                 f"(SELECT count(*) FROM unnest({offsets}) d"
                 f" WHERE e.enrolled_at + d < %(end)s)::int")
        sql = TOUCH_COLUMNS + touch_select(offsets, start, count)
        sql = sql.replace("%(chain)s", str(setup.chains[key]))
        sql = sql.replace("%(steps)s", "ARRAY[" + ",".join(map(str, steps[key])) + "]")
        inserts.append((f"touches: {key}", sql))
    return inserts


def news_touches(setup: Setup, steps: dict[str, list[int]]) -> str:
    """The monthly news, as many as make the touch count exact (the latest months first
    dropped: the ORDER BY keeps a spread over contacts and months)."""
    offsets = _interval_array(NEWS_DAYS)
    count = (f"(SELECT count(*) FROM unnest({offsets}) d"
             f" WHERE e.enrolled_at + d < %(end)s)::int")
    select = touch_select(offsets, "e.enrolled_at", count)
    select = select.replace("%(chain)s", str(setup.chains["news"]))
    select = select.replace("%(steps)s", "ARRAY[" + ",".join(map(str, steps["news"])) + "]")
    return TOUCH_COLUMNS + f"SELECT * FROM ({select}) news ORDER BY md5(key)" \
        " LIMIT %(wanted)s"


DEALS_SQL = """
INSERT INTO deals_deal (business_id, pipeline_id, stage_id, contact_id, seller_id, title,
    amount, status, loss_reason_id, loss_note, stage_entered_at, stuck_since, next_nudge_at,
    nudges_in_stage, created_at, closed_at)
SELECT %(b)s, %(pipeline)s,
    (%(stages)s::bigint[])[CASE status WHEN 'won' THEN 5 ELSE 1 + floor(u * 4)::int END],
    id, owner_id, 'Кухня на заказ', round((60000 + 400000 * u * u)::numeric, -3), status,
    CASE WHEN status = 'lost' THEN (%(reasons)s::bigint[])[1 + floor(u * 8)::int] END, '',
    created_at + interval '2 days',
    CASE WHEN status = 'open' AND u < 0.4 THEN created_at + interval '9 days' END, NULL, 0,
    created_at, CASE WHEN status <> 'open' THEN closed_at END
FROM (
    SELECT p.id, p.owner_id, p.created_at + interval '1 day' AS created_at, x.u,
        p.created_at + interval '1 day' + interval '60 days' * x.u AS closed_at,
        CASE WHEN p.created_at + interval '1 day' + interval '60 days' * x.u >= %(end)s
             THEN 'open' WHEN x.u < 0.45 THEN 'won' WHEN x.u < 0.8 THEN 'lost'
             ELSE 'open' END AS status
    FROM bench_plan p CROSS JOIN LATERAL (SELECT random() + p.id * 0 AS u) x
    WHERE p.id %% 17 = 0 AND p.created_at + interval '1 day' < %(end)s
) d
"""

NUDGES_SQL = """
INSERT INTO deals_nudge (business_id, deal_id, stage_id, seller_id, template_id, number, text,
    state, mode, channel, proposed_at, thrown_at, thrown_by_id, enrollment_id, call_task_id,
    answer, answered_at)
SELECT business_id, id, stage_id, seller_id, NULL, k,
    'Добрый день! Удалось посмотреть проект? Ответьте «да» или «нет».',
    CASE WHEN v < 0.45 THEN 'answered' ELSE 'unanswered' END,
    CASE WHEN v < 0.8 THEN 'message' ELSE 'call' END,
    CASE WHEN v < 0.5 THEN 'whatsapp' ELSE '' END,
    created_at + interval '4 days' * k, created_at + interval '4 days' * k + interval '2 hours',
    CASE WHEN v < 0.7 THEN seller_id END, NULL, NULL,
    CASE WHEN v < 0.15 THEN 'yes' WHEN v < 0.27 THEN 'no' WHEN v < 0.38 THEN 'date'
         WHEN v < 0.45 THEN 'other' ELSE '' END,
    CASE WHEN v < 0.45 THEN created_at + interval '4 days' * k + interval '1 day' END
FROM (
    SELECT d.*, k, random() + k * 0 AS v
    FROM deals_deal d CROSS JOIN LATERAL generate_series(1, 1 + (d.id %% 3)::int) k
    WHERE d.created_at + interval '4 days' * k + interval '1 day' < %(end)s
) n
"""

RISK_SQL = """
INSERT INTO insights_clientrisk (business_id, contact_id, purchase_days, first_purchase_at,
    last_purchase_at, average_order, usual_gap, lapse_after, lapse_at, p_alive,
    expected_purchases, value_at_risk, flagged_for, lapsed_since, call_task_id, computed_at)
SELECT %(b)s, p.id, 1 + p.n_rep, p.first_at, p.last_at, s.average,
    CASE WHEN p.n_rep >= 1 THEN p.gap END,
    CASE WHEN p.n_rep >= 1 THEN greatest(p.gap * 2.5, interval '90 days') END,
    p.lapse_at, a.alive, round((a.alive * 2.5)::numeric, 3),
    round((s.average * a.alive * 2.5)::numeric, 2),
    CASE WHEN p.lapse_at < %(end)s THEN p.last_at END,
    CASE WHEN p.lapse_at < %(end)s THEN p.lapse_at END, NULL, %(end)s
FROM bench_plan p
JOIN (SELECT contact_id, round(avg(amount), 2) AS average FROM sales_purchase
      GROUP BY contact_id) s ON s.contact_id = p.id
CROSS JOIN LATERAL (
    SELECT CASE WHEN p.lapse_at < %(end)s THEN 0.05 + 0.4 * random()
                ELSE 0.5 + 0.5 * random() END + p.id * 0 AS alive
) a
"""


# --- the figures --------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    run: Callable[[Any, datetime, datetime], Any]
    periodic: bool = True  # False: the figure has no period (lapsing now): timed once


def force(value: Any) -> Any:
    """Evaluate what a figure returned as its page would: a query set's first page and
    count, any other iterable in full."""
    from django.db.models import QuerySet

    if isinstance(value, QuerySet):
        return list(value[:LIST_LIMIT]), value.count()
    if isinstance(value, dict):
        return value
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    return value


def figures(owner: Any, seller: Any) -> list[Figure]:
    from kasatka.insights import cohorts, funnel, scorecard, sources, steps, touches, views

    found = [
        Figure("touches_before_purchase", touches.touches_before_purchase),
        Figure("source_lines", sources.source_lines),
        Figure("funnel", funnel.funnel),
        Figure("funnel_by source", lambda b, s, e: funnel.funnel_by(b, s, e, by="source")),
        Figure("funnel_by seller", lambda b, s, e: funnel.funnel_by(b, s, e, by="seller")),
        # The funnel page: the whole funnel, by source and by seller in one pass.
        Figure("funnel_views (funnel page)", funnel.funnel_views),
        Figure("cohorts", cohorts.cohorts),
        Figure("scorecards", scorecard.scorecards),
        Figure("touch_figures step", lambda b, s, e: steps.touch_figures(b, s, e, by="step")),
        Figure("touch_figures channel",
               lambda b, s, e: steps.touch_figures(b, s, e, by="channel")),
        # The steps page: both splits from one pass.
        Figure("touch_figures_both (steps page)",
               lambda b, s, e: steps.touch_figures_both(b, s, e)),
        # The same without the rollup's sent counts (as before it, or on a small book).
        Figure("touch_figures step live",
               lambda b, s, e: steps.touch_figures(b, s, e, by="step", live=True)),
        Figure("touch_figures channel live",
               lambda b, s, e: steps.touch_figures(b, s, e, by="channel", live=True)),
        Figure("lapsing (owner)", lambda b, s, e: force(views.lapsing_clients(owner)),
               periodic=False),
        Figure("lapsing (seller)", lambda b, s, e: force(views.lapsing_clients(seller)),
               periodic=False),
    ]
    try:
        from kasatka.insights import winback  # written beside this benchmark (issue 10)
    except ImportError:
        print("kasatka.insights.winback: not there yet, its figures are skipped")
    else:
        if hasattr(winback, "lapsing_now"):
            found.append(Figure("winback.lapsing_now",
                                lambda b, s, e: force(winback.lapsing_now(b)), periodic=False))
        if hasattr(winback, "winback_results"):
            found.append(Figure("winback.winback_results",
                                lambda b, s, e: force(winback.winback_results(b, s, e))))
    return found


@dataclass
class Timing:
    figure: str
    period: str
    seconds: list[float]
    queries: list[dict[str, Any]]
    error: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


def time_figure(figure: Figure, business: Any, start: datetime, end: datetime,
                repeat: int, period: str) -> Timing:
    from django.db import DatabaseError, connection
    from django.test.utils import CaptureQueriesContext

    timing = Timing(figure.name, period, [], [])
    for round_ in range(repeat):
        began = time.perf_counter()
        try:
            if round_ == 0:
                # The first round records the SQL (for EXPLAIN): its cost is negligible
                # beside the queries'.
                with CaptureQueriesContext(connection) as captured:
                    figure.run(business, start, end)
                timing.queries = list(captured.captured_queries)
            else:
                figure.run(business, start, end)
        except DatabaseError as exc:
            timing.error = str(exc).strip().splitlines()[0]
            return timing
        timing.seconds.append(time.perf_counter() - began)
    return timing


def raw_sql(label: str, sql: str, params: list[Any], repeat: int) -> Timing:
    from django.db import connection

    timing = Timing(label, "", [], [])
    for _ in range(repeat):
        began = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()
        timing.seconds.append(time.perf_counter() - began)
    return timing


def baselines(repeat: int, business: int, start: datetime, end: datetime) -> list[Timing]:
    """The floors: counting the touches (PostgreSQL reads the smallest index, all-visible
    after VACUUM), and counting the business's touches sent in the period (a range of the
    index `touch_sent`; a pass over the whole table before that index)."""
    return [
        raw_sql("SELECT count(*) FROM chains_touch", "SELECT count(*) FROM chains_touch", [],
                repeat),
        raw_sql("… sent in 12 months",
                "SELECT count(*) FROM chains_touch WHERE business_id = %s"
                " AND sent_at >= %s AND sent_at < %s",
                [business, start, end], repeat),
    ]


def explain(timings: list[Timing], limit: float, path: Path, slow_query: float) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every query over `slow_query` s of the failing figures."""
    from django.db import DatabaseError, connection

    with path.open("w") as out:
        for timing in timings:
            if timing.error or timing.median < limit:
                continue
            out.write(f"### {timing.figure} — {timing.period}: median {timing.median:.2f} s\n\n")
            for query in timing.queries:
                seconds = float(query.get("time") or 0)
                if seconds < slow_query:
                    continue
                out.write(f"-- {seconds:.2f} s\n{query['sql']}\n\n")
                try:
                    with connection.cursor() as cursor:
                        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                        out.write("\n".join(row[0] for row in cursor.fetchall()) + "\n\n")
                except DatabaseError as exc:
                    out.write(f"EXPLAIN failed: {exc}\n\n")
            out.flush()
    print(f"EXPLAIN (ANALYZE, BUFFERS) of the slow queries: {path}")


def print_table(timings: list[Timing], limit: float, floors: list[Timing]) -> None:
    print(f"\nMedian of the rounds; target < {limit:g} s per figure. Floors, raw SQL on "
          "the touches: " + "; ".join(f"{f.figure} {f.median:.2f} s" for f in floors) + ".")
    header = (f"{'figure':<26} {'period':<9} {'median s':>9} {'rounds':>22} {'queries':>7}"
              f" {'slowest q':>9}  result")
    print(header)
    print("-" * len(header))
    for t in timings:
        if t.error:
            print(f"{t.figure:<26} {t.period:<9} {'—':>9} {'':>22} {'':>7} {'':>9}  FAIL: "
                  f"{t.error}")
            continue
        rounds = " / ".join(f"{s:.2f}" for s in t.seconds)
        slowest = max((float(q.get("time") or 0) for q in t.queries), default=0.0)
        verdict = "PASS" if t.median < limit else "FAIL"
        print(f"{t.figure:<26} {t.period:<9} {t.median:>9.2f} {rounds:>22} "
              f"{len(t.queries):>7} {slowest:>9.2f}  {verdict}")


def bench_rollup(args: argparse.Namespace, business: Any,
                 periods: dict[str, tuple[datetime, datetime]]) -> None:
    """The rollup of a big book (`insights.journey`): rebuild it (unless a complete one is
    there and --rebuild is not given), time its touches-before-purchase figures, and check
    they equal the live query's (run once per period: 5 s at 12 months)."""
    from kasatka.insights import journey, steps, touches
    from kasatka.insights.models import TouchDay

    as_of = journey.complete_as_of(business)
    if as_of is None or args.rebuild:
        contacts = business_contacts(business)
        began = time.perf_counter()
        journey.rebuild_now(business)
        seconds = time.perf_counter() - began
        print(f"  rollup rebuild_now               {seconds:7.1f} s "
              f"({contacts / seconds:,.0f} contacts/s)", flush=True)
        began = time.perf_counter()
        journey._count_touch_days(business)  # its last step, again: how much of it
        print(f"    … of which the TouchDay counts {time.perf_counter() - began:7.1f} s "
              f"({TouchDay.objects.filter(business=business).count():,} rows)", flush=True)
    else:
        print(f"  rollup: complete as of {as_of:%Y-%m-%d %H:%M %Z}, not rebuilt "
              "(--rebuild to rebuild)")
    for period, (start, stop) in periods.items():
        timing = time_figure(Figure("journey.touches_before_purchase",
                                    journey.touches_before_purchase),
                             business, start, stop, args.repeat, period)
        began = time.perf_counter()
        live = touches.touches_before_purchase(business, start, stop)
        live_seconds = time.perf_counter() - began
        rolled = journey.touches_before_purchase(business, start, stop)
        verdict = "MATCH" if rolled == live else "DIFFER"
        print(f"  rollup touches_before_purchase {period:<9} {timing.median:5.2f} s "
              f"(live {live_seconds:.2f} s): {verdict}", flush=True)
        if rolled != live:
            print(f"    rollup: {rolled}\n    live:   {live}")
        for by in ("step", "channel"):
            same = (steps.touch_figures(business, start, stop, by)
                    == steps.touch_figures(business, start, stop, by, live=True))
            print(f"  rollup touch_figures {by:<7} {period:<9} equals the live one: "
                  f"{'MATCH' if same else 'DIFFER'}", flush=True)


def business_contacts(business: Any) -> int:
    from kasatka.contacts.models import Contact

    return Contact.objects.filter(business=business).count()


def bench(args: argparse.Namespace, end: datetime) -> None:
    from django.db import connection

    from kasatka.accounts.models import Business, User

    business = Business.objects.get(slug=SLUG)
    owner = User.objects.get(username="bench-owner")
    seller = User.objects.get(username="bench-seller-1")
    with connection.cursor() as cursor:
        for table in ("contacts_contact", "chains_touch", "sales_purchase",
                      "contacts_stagechange", "chains_enrollment", "sales_visit",
                      "insights_clientrisk"):
            cursor.execute(f"SELECT count(*) FROM {table}")
            print(f"  {table:<22} {cursor.fetchone()[0]:>10,} rows")
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"  database size          {cursor.fetchone()[0]:>10}")
        cursor.execute(f"SET statement_timeout = {int(args.timeout * 1000)}")
        if args.no_jit:
            cursor.execute("SET jit = off")
        elif args.jit:
            cursor.execute("SET jit = on")
        cursor.execute("SHOW jit")
        print(f"  jit                    {cursor.fetchone()[0]:>10}")
    periods = {
        "1 month": (end - timedelta(days=30), end),
        "12 months": (end - timedelta(days=365), end),
    }
    floors = baselines(args.repeat, business.pk, *periods["12 months"])
    if not args.only or any(o in "rollup" for o in args.only):
        bench_rollup(args, business, periods)
    timings: list[Timing] = []
    for figure in figures(owner, seller):
        if args.only and not any(o in figure.name for o in args.only):
            continue
        for period, (start, stop) in periods.items():
            if not figure.periodic and period != "1 month":
                continue
            label = period if figure.periodic else "now"
            timing = time_figure(figure, business, start, stop, args.repeat, label)
            shown = timing.error or f"{timing.median:.2f} s"
            print(f"  {figure.name:<26} {label:<9} {shown}", flush=True)
            timings.append(timing)
    print_table(timings, args.limit, floors)
    if args.explain:
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = 0")
        explain(timings, args.limit, Path(args.explain), args.slow_query)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--touches", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per figure (median)")
    parser.add_argument("--limit", type=float, default=2.0, help="target seconds per figure")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="statement timeout: a figure past it is reported as failed")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true",
                        help="use the existing database if it holds the same sizes (kept)")
    parser.add_argument("--generate-only", action="store_true", help="no timing")
    parser.add_argument("--rebuild", action="store_true",
                        help="rebuild the insights rollup even if a complete one is there")
    parser.add_argument("--only", nargs="*", help="figures whose name contains one of these")
    parser.add_argument("--explain", metavar="FILE",
                        help="write EXPLAIN (ANALYZE, BUFFERS) of the failing figures' queries")
    parser.add_argument("--slow-query", type=float, default=0.2,
                        help="with --explain: explain the queries slower than this (s)")
    parser.add_argument("--no-jit", action="store_true",
                        help="SET jit = off for the timed session (Kasatka's settings already"
                             " turn it off on PostgreSQL)")
    parser.add_argument("--jit", action="store_true",
                        help="SET jit = on for the timed session (the server's default, which"
                             " Kasatka's settings turn off): to compare")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="the PostgreSQL server")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if min(args.contacts, args.touches, args.repeat) < 1:
        raise SystemExit("--contacts, --touches and --repeat must be positive")
    meta = existing_meta(args.pg_url) if args.reuse else None
    if meta and (meta["contacts"], meta["touches"]) != (args.contacts, args.touches):
        print(f"{BENCH_DB} holds {meta['contacts']:,} contacts and {meta['touches']:,} touches:"
              " generated again")
        meta = None
    keep = args.keep or args.reuse
    url = server_url(args.pg_url, BENCH_DB)
    if meta is None:
        admin(args.pg_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)",
              f"CREATE DATABASE {BENCH_DB}")
    try:
        setup_django(url)
        from django.core.management import call_command

        # On a reused database too: a migration added since (an index) is applied to it.
        call_command("migrate", verbosity=0, interactive=False)
        if meta is None:
            zone = ZoneInfo(ZONE)
            end = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
            end = end.astimezone(UTC)
            seconds = generate(args.contacts, args.touches, end)
            print(f"Generated in {seconds:.0f} s ({seconds / 60:.1f} min)", flush=True)
        else:
            end = meta["end_at"]
            print(f"Reusing {BENCH_DB}: generated in {meta['seconds']:.0f} s, history up to "
                  f"{end:%Y-%m-%d %H:%M %Z}")
        if not args.generate_only:
            bench(args, end)
    finally:
        from django.db import connections

        connections.close_all()
        if keep:
            print(f"Kept {BENCH_DB}: re-run with --reuse (drop it with `DROP DATABASE "
                  f"{BENCH_DB}`).")
        else:
            admin(args.pg_url, f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
