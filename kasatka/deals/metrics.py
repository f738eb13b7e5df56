"""How nudges work: thrown, answered, yes/no/date shares, orders, by seller, stage or template.

Counted by the database in one grouped query. A nudge "brought an order" when its deal was
won after it was thrown and within the business's `nudge_settle_days`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Final

from django.db.models import Count, DateTimeField, ExpressionWrapper, F, Q

from kasatka.accounts.models import Business, User, method_settings

from .models import Answer, DealStage, DealStatus, Nudge, NudgeTemplate

GROUPINGS: Final = ("seller", "stage", "template")


def brought_an_order(settle_days: int) -> Q:
    """A nudge whose deal was won after it was thrown, within `settle_days`."""
    deadline = ExpressionWrapper(
        F("thrown_at") + timedelta(days=settle_days), output_field=DateTimeField()
    )
    return Q(
        deal__status=DealStatus.WON,
        deal__closed_at__gte=F("thrown_at"),
        deal__closed_at__lte=deadline,
    )


@dataclass
class NudgeFigures:
    key: int | None
    label: str
    thrown: int
    answered: int
    yes: int
    no: int
    date: int
    other: int
    orders: int

    def share(self, part: int, whole: int | None = None) -> Decimal:
        whole = self.thrown if whole is None else whole
        return (Decimal(part) / whole).quantize(Decimal("0.0001")) if whole else Decimal(0)

    @property
    def answer_rate(self) -> Decimal:
        return self.share(self.answered)

    @property
    def conversion(self) -> Decimal:
        return self.share(self.orders)


def nudge_metrics(
    business: Business,
    by: str = "seller",
    since: datetime | None = None,
    until: datetime | None = None,
    *,
    where: Q | None = None,
) -> list[NudgeFigures]:
    """Figures of the nudges thrown in [since, until), grouped `by` seller, stage or template;
    `where` narrows the nudges further (the insights' filters, on `deal__contact__`)."""
    if by not in GROUPINGS:
        raise ValueError(f"group nudges by one of {GROUPINGS}, not {by!r}")
    settle_days = method_settings(business).nudge_settle_days
    nudges = Nudge.objects.filter(business=business, thrown_at__isnull=False)
    if since is not None:
        nudges = nudges.filter(thrown_at__gte=since)
    if until is not None:
        nudges = nudges.filter(thrown_at__lt=until)
    if where is not None:
        nudges = nudges.filter(where)
    rows = (
        nudges.values(f"{by}_id")
        .annotate(
            thrown=Count("id"),
            answered=Count("id", filter=~Q(answer="")),
            yes=Count("id", filter=Q(answer=Answer.YES)),
            no=Count("id", filter=Q(answer=Answer.NO)),
            date=Count("id", filter=Q(answer=Answer.DATE)),
            other=Count("id", filter=Q(answer=Answer.OTHER)),
            orders=Count("id", filter=brought_an_order(settle_days)),
        )
        .order_by(f"{by}_id")
    )
    figures = [
        NudgeFigures(
            key=row[f"{by}_id"], label="", thrown=row["thrown"], answered=row["answered"],
            yes=row["yes"], no=row["no"], date=row["date"], other=row["other"],
            orders=row["orders"],
        )
        for row in rows
    ]
    labels = _labels(by, {f.key for f in figures if f.key is not None})
    for f in figures:
        f.label = labels.get(f.key, "—") if f.key is not None else "—"
    return figures


def _labels(by: str, keys: set[int]) -> dict[int | None, str]:
    if by == "seller":
        return {u.pk: u.full_name for u in User.objects.filter(pk__in=keys)}
    if by == "stage":
        return {
            s.pk: f"{s.pipeline.name}: {s.name}"
            for s in DealStage.objects.filter(pk__in=keys).select_related("pipeline")
        }
    return {t.pk: t.name for t in NudgeTemplate.objects.filter(pk__in=keys)}
