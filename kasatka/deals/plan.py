"""The seller's daily plan: a plan of nudges, not of revenue (METHOD.md §5).

For each stage: how many deals are stuck, how many nudges to throw today, and the revenue
they should bring = nudges × the nudge→order conversion × the average open deal at that
stage. The conversion is the business's own once `nudge_min_sample` nudges have settled
(their deal closed, or `nudge_settle_days` passed), the method's 30 % until then. These two
slow figures are measured on the business's first plan of the day (PlanFigures).

Everything is counted in the database, grouped by seller and stage, in a fixed number of
queries whatever the number of deals: the same queries give one seller's plan and the
head of sales' view of the whole team.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Avg, Count, Q, Sum

from kasatka.accounts.calendar import BusinessCalendar
from kasatka.accounts.models import Business, MethodSettings, User, method_settings
from kasatka.channels.call.models import CallTask
from kasatka.engine.clock import now as clock_now

from .metrics import brought_an_order
from .models import Deal, DealStage, DealStatus, DealTask, Nudge, NudgeState, PlanFigures

# Items listed per section of a plan; the counts are always complete.
LIST_LIMIT = 50
# Nudges older than this do not count towards the measured conversion.
CONVERSION_LOOKBACK = timedelta(days=365)
_CENT = Decimal("0.01")


@dataclass
class StageLine:
    stage: DealStage
    stuck: int = 0
    stuck_amount: Decimal = Decimal(0)
    nudges_today: int = 0
    average_amount: Decimal = Decimal(0)
    expected_revenue: Decimal = Decimal(0)


@dataclass
class Conversion:
    rate: Decimal
    measured: bool
    settled: int
    converted: int

    @property
    def percent(self) -> Decimal:
        return (self.rate * 100).quantize(Decimal("0.1"))


@dataclass
class DailyPlan:
    """One seller's day (seller None: the team's total)."""

    seller: User | None
    day: date
    conversion: Conversion
    lines: list[StageLine] = field(default_factory=list)
    nudges: list[Nudge] = field(default_factory=list)
    nudges_count: int = 0
    calls: list[CallTask] = field(default_factory=list)
    calls_count: int = 0
    tasks: list[DealTask] = field(default_factory=list)
    tasks_count: int = 0

    @property
    def stuck(self) -> int:
        return sum(line.stuck for line in self.lines)

    @property
    def expected_revenue(self) -> Decimal:
        return sum((line.expected_revenue for line in self.lines), Decimal(0))


@dataclass
class TeamPlan:
    """The head of sales' view: every seller's plan and the team's total."""

    day: date
    sellers: list[DailyPlan]
    total: DailyPlan


def nudge_conversion(business: Business, now: datetime | None = None) -> Conversion:
    """The business's nudge→order conversion now: thrown nudges whose deal was won within
    the settle time, of those settled. The method's figure until enough have settled."""
    now = now or clock_now()
    settings = method_settings(business)
    settled, converted = _conversion_counts(business, settings, now)
    return _conversion(settings, settled, converted)


def _conversion_counts(
    business: Business, settings: MethodSettings, now: datetime
) -> tuple[int, int]:
    settle = timedelta(days=settings.nudge_settle_days)
    counts = Nudge.objects.filter(
        business=business, thrown_at__gte=now - CONVERSION_LOOKBACK, thrown_at__lte=now,
    ).aggregate(
        settled=Count("id", filter=Q(thrown_at__lte=now - settle) | ~Q(deal__status="open")),
        converted=Count("id", filter=brought_an_order(settings.nudge_settle_days)),
    )
    return counts["settled"], counts["converted"]


def _conversion(settings: MethodSettings, settled: int, converted: int) -> Conversion:
    if settled and settled >= settings.nudge_min_sample:
        rate = (Decimal(converted) / Decimal(settled)).quantize(Decimal("0.0001"))
        return Conversion(rate, True, settled, converted)
    return Conversion(Decimal(settings.nudge_conversion), False, settled, converted)


def measure_figures(business: Business, day: date, now: datetime | None = None) -> PlanFigures:
    """Measure the plan's slow figures for the business's day and keep them."""
    now = now or clock_now()
    settled, converted = _conversion_counts(business, method_settings(business), now)
    averages = {
        str(row["stage_id"]): str(_money(row["avg"]))
        for row in Deal.objects.filter(business=business, status=DealStatus.OPEN)
        .values("stage_id").annotate(avg=Avg("amount")).order_by()
    }
    values = {"day": day, "settled": settled, "converted": converted, "averages": averages}
    try:
        with transaction.atomic():
            figures, _created = PlanFigures.objects.update_or_create(
                business=business, defaults=values
            )
    except IntegrityError:  # another process measured them at the same moment
        figures = PlanFigures.objects.get(business=business)
    return figures


def _figures(
    business: Business, settings: MethodSettings, day: date, now: datetime
) -> tuple[Conversion, dict[int, Decimal]]:
    figures = PlanFigures.objects.filter(business=business).first()
    if figures is None or figures.day != day:
        figures = measure_figures(business, day, now)
    averages = {int(k): Decimal(v) for k, v in figures.averages.items()}
    return _conversion(settings, figures.settled, figures.converted), averages


def daily_plan(
    business: Business, seller: User, day: date | None = None, now: datetime | None = None
) -> DailyPlan:
    """One seller's plan for a day (today by default, in the business's time zone)."""
    team = _plans(business, seller, day, now)
    return team.sellers[0] if team.sellers else team.total


def team_plan(business: Business, day: date | None = None, now: datetime | None = None) -> TeamPlan:
    """Every seller's plan, for the head of sales, with the team's total."""
    return _plans(business, None, day, now)


def _plans(
    business: Business, seller: User | None, day: date | None, now: datetime | None
) -> TeamPlan:
    now = now or clock_now()
    calendar = BusinessCalendar(business)
    day = day or calendar.local_date(now)
    end = calendar.start_of(day + timedelta(days=1))
    settings = method_settings(business)
    # Measured on the business's first plan of the day: the conversion and the average
    # deals move slowly, and measuring them scans the whole book.
    conversion, averages = _figures(business, settings, calendar.local_date(now), now)
    stages = {
        s.pk: s
        for s in DealStage.objects.filter(pipeline__business=business).select_related("pipeline")
    }
    mine = Q(seller=seller) if seller is not None else Q()
    open_deals = Deal.objects.filter(business=business, status=DealStatus.OPEN)

    stuck = open_deals.filter(mine, stuck_since__isnull=False).values(
        "seller_id", "stage_id"
    ).annotate(n=Count("id"), amount=Sum("amount")).order_by()
    to_throw = Nudge.objects.filter(
        mine, business=business, state=NudgeState.PROPOSED, proposed_at__lt=end
    )
    throw_counts = to_throw.values("seller_id", "stage_id").annotate(n=Count("id")).order_by()

    calls = CallTask.objects.filter(business=business, closed_at__isnull=True, due_at__lt=end)
    tasks = DealTask.objects.filter(business=business, done_at__isnull=True, due_at__lt=end)
    if seller is not None:
        calls, tasks = calls.filter(assignee=seller), tasks.filter(seller=seller)
    call_counts = dict(calls.values_list("assignee_id").annotate(n=Count("id")).order_by())
    task_counts = dict(tasks.values_list("seller_id").annotate(n=Count("id")).order_by())

    lines: dict[int | None, dict[int, StageLine]] = defaultdict(dict)

    def line(seller_id: int | None, stage_id: int) -> StageLine:
        found = lines[seller_id].get(stage_id)
        if found is None:
            found = lines[seller_id][stage_id] = StageLine(
                stages[stage_id], average_amount=_money(averages.get(stage_id))
            )
        return found

    for row in stuck:
        entry = line(row["seller_id"], row["stage_id"])
        entry.stuck, entry.stuck_amount = row["n"], _money(row["amount"])
    for row in throw_counts:
        line(row["seller_id"], row["stage_id"]).nudges_today = row["n"]

    seller_ids = set(lines) | set(call_counts) | set(task_counts)
    if seller is not None:
        seller_ids = {seller.pk}
    users = {u.pk: u for u in User.objects.filter(pk__in=seller_ids - {None})}
    nudge_list = list(
        to_throw.select_related("deal__contact", "stage").order_by("proposed_at", "id")[
            :LIST_LIMIT
        ]
    )
    call_list = list(calls.select_related("contact").order_by("due_at", "id")[:LIST_LIMIT])
    task_list = list(tasks.select_related("deal").order_by("due_at", "id")[:LIST_LIMIT])

    plans = []
    total = DailyPlan(None, day, conversion)
    for seller_id in sorted(seller_ids, key=lambda pk: (pk is None, pk or 0)):
        plan = DailyPlan(users.get(seller_id) if seller_id else None, day, conversion)
        plan.lines = _ordered(lines.get(seller_id, {}).values(), conversion.rate)
        plan.nudges = [n for n in nudge_list if n.seller_id == seller_id]
        plan.nudges_count = sum(line.nudges_today for line in plan.lines)
        plan.calls = [c for c in call_list if c.assignee_id == seller_id]
        plan.calls_count = call_counts.get(seller_id, 0)
        plan.tasks = [t for t in task_list if t.seller_id == seller_id]
        plan.tasks_count = task_counts.get(seller_id, 0)
        plans.append(plan)
    total.lines = _sum_lines(plans, conversion.rate)
    total.nudges, total.calls, total.tasks = nudge_list, call_list, task_list
    total.nudges_count = sum(p.nudges_count for p in plans)
    total.calls_count = sum(p.calls_count for p in plans)
    total.tasks_count = sum(p.tasks_count for p in plans)
    return TeamPlan(day, plans, total)


def _money(value: Decimal | float | int | None) -> Decimal:
    return Decimal(value or 0).quantize(_CENT)


def _ordered(entries: Iterable[StageLine], rate: Decimal) -> list[StageLine]:
    result = sorted(
        entries,
        key=lambda e: (e.stage.pipeline.position, e.stage.pipeline_id, e.stage.position),
    )
    for entry in result:
        entry.expected_revenue = (entry.nudges_today * rate * entry.average_amount).quantize(
            _CENT
        )
    return result


def _sum_lines(plans: list[DailyPlan], rate: Decimal) -> list[StageLine]:
    merged: dict[int, StageLine] = {}
    for plan in plans:
        for entry in plan.lines:
            into = merged.setdefault(
                entry.stage.pk, StageLine(entry.stage, average_amount=entry.average_amount)
            )
            into.stuck += entry.stuck
            into.stuck_amount += entry.stuck_amount
            into.nudges_today += entry.nudges_today
    return _ordered(merged.values(), rate)
