"""The funnel (METHOD.md §4, §7; issue 10, item 1): lead → new → regular → adept.

For the contacts **taken** in a period (a cohort, `Contact.created_at`): how many reached
each stage before the period's end (a contact that jumped a stage reached the ones it
skipped too), the conversion from each stage to the next, and how long each step took on
average — overall, by lead source and by seller. One grouped SQL query per view; the
moments a contact reached each stage are correlated subqueries on its stage changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from kasatka.accounts.models import Business
from kasatka.contacts.models import Contact, Stage, StageChange

from .filters import EVERYONE, Filters

# The funnel's stages in order; a stage "reached" means it or any later one.
STAGES = (Stage.LEAD, Stage.NEW, Stage.REGULAR, Stage.ADEPT)


@dataclass(frozen=True)
class Funnel:
    """One funnel line: how many reached each stage and how long each step took."""

    key: Any  # None overall; a source id or a seller id in the split views
    reached: dict[str, int]  # stage → contacts that reached it
    step_time: dict[str, timedelta | None]  # stage → average time from the stage before

    def conversion(self, stage: str) -> float | None:
        """The share of the previous stage's contacts that reached `stage`."""
        before = self.reached[STAGES[STAGES.index(Stage(stage)) - 1]]
        return self.reached[stage] / before if before else None


def _reached_at(stage: str, end: datetime) -> Subquery:
    later = STAGES[STAGES.index(Stage(stage)):]
    return Subquery(
        StageChange.objects.filter(
            contact_id=OuterRef("pk"), field="stage", new__in=later, changed_at__lt=end
        ).order_by("changed_at").values("changed_at")[:1]
    )


def _cohort(business: Business, start: datetime, end: datetime, filters: Filters) -> Any:
    cohort = Contact.objects.filter(
        filters.contacts(), business=business, created_at__gte=start, created_at__lt=end
    )
    for stage in STAGES[1:]:
        cohort = cohort.annotate(**{f"at_{stage}": _reached_at(stage, end)})
    return cohort


def _figures() -> dict[str, Any]:
    figures: dict[str, Any] = {"n_lead": Count("pk")}
    previous = "created_at"
    for stage in STAGES[1:]:
        at = f"at_{stage}"
        figures[f"n_{stage}"] = Count("pk", filter=Q(**{f"{at}__isnull": False}))
        # From the previous stage (or being taken) to this one; a jump counts from the
        # last stage reached before it.
        since = Coalesce(F(previous), F("created_at")) if previous != "created_at" else F(
            "created_at")
        figures[f"t_{stage}"] = Avg(ExpressionWrapper(
            F(at) - since, output_field=DurationField()
        ))
        previous = at
    return figures


def _line(key: Any, row: dict[str, Any]) -> Funnel:
    return Funnel(
        key=key,
        reached={stage: row[f"n_{stage}"] for stage in STAGES},
        step_time={stage: _duration(row.get(f"t_{stage}")) for stage in STAGES[1:]},
    )


def _duration(value: Any) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(microseconds=float(value))  # SQLite: an average of microseconds


def funnel(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE
) -> Funnel:
    """The funnel of the contacts `filters` picks among those taken in [start, end)."""
    row = _cohort(business, start, end, filters).aggregate(**_figures())
    return _line(None, row)


def funnel_by(
    business: Business, start: datetime, end: datetime, by: str, *,
    filters: Filters = EVERYONE,
) -> list[Funnel]:
    """The funnel split by "source" (lead source id) or "seller" (the contact's seller),
    of the contacts `filters` picks."""
    column = {"source": "source_id", "seller": "owner_id"}[by]
    rows = (
        _cohort(business, start, end, filters).order_by().values(column).annotate(**_figures())
        .order_by(column)
    )
    return [_line(row[column], row) for row in rows]
