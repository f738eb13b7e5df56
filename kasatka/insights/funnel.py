"""The funnel (METHOD.md §4, §7; issue 10, item 1): lead → new → regular → adept.

For the contacts **taken** in a period (a cohort, `Contact.created_at`): how many reached
each stage before the period's end (a contact that jumped a stage reached the ones it
skipped too), the conversion from each stage to the next, and how long each step took on
average — overall, by lead source and by seller. One SQL query per view: the moments a
contact reached each stage are `Min`s over a LEFT JOIN of its stage changes, grouped per
contact, and the figures an `aggregate()` over those rows (a per-stage correlated subquery
was evaluated once per copy and contact: 8 s on a year of 750,000 leads).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Aggregate, Avg, Count, DurationField, ExpressionWrapper, F, Min, Q
from django.db.models.functions import Coalesce

from kasatka.accounts.models import Business
from kasatka.contacts.models import Contact, Stage

from .filters import EVERYONE, Filters

# The funnel's stages in order; a stage "reached" means it or any later one.
STAGES = (Stage.LEAD, Stage.NEW, Stage.REGULAR, Stage.ADEPT)
# funnel_by: keys (sources, sellers) per query; 7 figures each.
MAX_KEYS = 50


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


def _first_reached(stage: str, end: datetime) -> Min:
    """When the contact first reached `stage` or a later one before `end`."""
    later = STAGES[STAGES.index(Stage(stage)):]
    return Min("stage_changes__changed_at", filter=Q(
        stage_changes__field="stage", stage_changes__new__in=later,
        stage_changes__changed_at__lt=end,
    ))


def _taken(business: Business, start: datetime, end: datetime, filters: Filters) -> Any:
    return Contact.objects.filter(
        filters.contacts(), business=business, created_at__gte=start, created_at__lt=end
    )


def _cohort(business: Business, start: datetime, end: datetime, filters: Filters) -> Any:
    """The contacts taken in [start, end), one row each with `at_<stage>`."""
    return _taken(business, start, end, filters).annotate(
        **{f"at_{stage}": _first_reached(stage, end) for stage in STAGES[1:]}
    )


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
    # aggregate() over aggregate annotations: Django puts the per-contact GROUP BY in FROM.
    row = _cohort(business, start, end, filters).aggregate(**_figures())
    return _line(None, row)


COLUMNS = {"source": "source_id", "seller": "owner_id"}


def _tagged(figures: dict[str, Any], column: str, key: Any, tag: str) -> dict[str, Aggregate]:
    """The figures counted only for the contacts whose `column` is `key`."""
    mine = Q(**{f"{column}__isnull": True}) if key is None else Q(**{column: key})
    wanted: dict[str, Aggregate] = {}
    for name, aggregate in figures.items():
        tagged = aggregate.copy()
        tagged.filter = mine if tagged.filter is None else (tagged.filter & mine)
        wanted[f"{name}__{tag}"] = tagged
    return wanted


def _in_order(keys: set[Any]) -> list[Any]:
    """Ids in order, no key (None) last, whatever the database."""
    return sorted(keys, key=lambda k: (k is None, k or 0))


def _keys(business: Business, start: datetime, end: datetime, filters: Filters,
          column: str) -> list[Any]:
    return _in_order(set(
        _taken(business, start, end, filters)
        .order_by().values_list(column, flat=True).distinct()
    ))


def funnel_by(
    business: Business, start: datetime, end: datetime, by: str, *,
    filters: Filters = EVERYONE,
) -> list[Funnel]:
    """The funnel split by "source" (lead source id) or "seller" (the contact's seller),
    of the contacts `filters` picks; ordered by the key, no key last."""
    column = COLUMNS[by]
    # The ORM cannot group per-contact aggregates by a column again; so the keys first (a
    # cheap DISTINCT: a business's sources and sellers are few), then one aggregate() with
    # every figure FILTERed by key. Past MAX_KEYS, a query per batch of keys.
    keys = _keys(business, start, end, filters, column)
    figures = _figures()
    lines = []
    for first in range(0, len(keys), MAX_KEYS):
        batch = keys[first:first + MAX_KEYS]
        wanted: dict[str, Aggregate] = {}
        for i, key in enumerate(batch):
            wanted.update(_tagged(figures, column, key, str(i)))
        row = _cohort(business, start, end, filters).aggregate(**wanted)
        lines += [
            _line(key, {name: row[f"{name}__{i}"] for name in figures})
            for i, key in enumerate(batch)
        ]
    return lines


def funnel_views(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE,
) -> tuple[Funnel, list[Funnel], list[Funnel]]:
    """The whole funnel, by source and by seller, in one pass over the cohort (the page's
    three views; with more than MAX_KEYS sources and sellers, one query each)."""
    # Both kinds of key from one DISTINCT over the cohort's (source, seller) pairs.
    pairs = list(
        _taken(business, start, end, filters).order_by()
        .values_list(*COLUMNS.values()).distinct()
    )
    keys = {by: _in_order({pair[i] for pair in pairs}) for i, by in enumerate(COLUMNS)}
    if sum(len(found) for found in keys.values()) > MAX_KEYS:
        return (
            funnel(business, start, end, filters=filters),
            funnel_by(business, start, end, "source", filters=filters),
            funnel_by(business, start, end, "seller", filters=filters),
        )
    figures = _figures()
    wanted: dict[str, Aggregate] = {f"{name}__all": figure for name, figure in figures.items()}
    for by, column in COLUMNS.items():
        for i, key in enumerate(keys[by]):
            wanted.update(_tagged(figures, column, key, f"{by}{i}"))
    row = _cohort(business, start, end, filters).aggregate(**wanted)

    def line(key: Any, tag: str) -> Funnel:
        return _line(key, {name: row[f"{name}__{tag}"] for name in figures})

    return (
        line(None, "all"),
        [line(key, f"source{i}") for i, key in enumerate(keys["source"])],
        [line(key, f"seller{i}") for i, key in enumerate(keys["seller"])],
    )
