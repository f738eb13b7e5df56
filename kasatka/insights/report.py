"""What an insight page shows: tables (each downloadable as CSV) and the charts drawn from them.

A page's builder returns a `Report`; the view renders it or answers one of its tables as
CSV. Cells keep their type — a `Share` is a fraction shown as a percentage, a timedelta a
number of days, a Decimal money — so the page formats them for the reader and the CSV keeps
the plain figures a spreadsheet can add up.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.utils import formats

from kasatka.exports.writers import neutralise


@dataclass(frozen=True)
class Share:
    """A fraction (0.25), shown as a percentage (25 %)."""

    value: float | None

    def __str__(self) -> str:
        if self.value is None:
            return "—"
        return f"{formats.number_format(self.value * 100, decimal_pos=1)} %"


def share(part: float, whole: float) -> Share:
    return Share(part / whole if whole else None)


def days(span: timedelta | None) -> float | None:
    return round(span.total_seconds() / 86400, 1) if span is not None else None


@dataclass
class Table:
    name: str  # the CSV's name and the table's id on the page
    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""
    highlight: int | None = None  # a row to set apart (the seller filtered on)


@dataclass
class Chart:
    name: str
    title: str
    data: list[dict[str, Any]]
    layout: dict[str, Any] = field(default_factory=dict)

    def figure(self) -> dict[str, Any]:
        layout = {
            "margin": {"l": 56, "r": 16, "t": 32, "b": 40},
            "height": 340,
            "font": {"family": "system-ui, sans-serif", "size": 13},
            # Above the plot: rotated names below it would run into the legend.
            "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            **self.layout,
        }
        for axis in ("xaxis", "yaxis"):  # long names push the margin, not off the chart
            layout[axis] = {"automargin": True, **self.layout.get(axis, {})}
        return {"data": self.data, "layout": layout}

    @property
    def is_empty(self) -> bool:
        """No figure in it but zeros and blanks: the page says so instead of drawing axes."""

        def numbers(values: Any) -> list[float]:
            found: list[float] = []
            for value in values or []:
                if isinstance(value, list):
                    found += numbers(value)
                elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                    found.append(float(value))
            return found

        return not any(
            number for trace in self.data for key in ("x", "y", "z", "values")
            for number in numbers(trace.get(key))
        )


@dataclass
class Report:
    title: str
    intro: str
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    empty: bool = False  # nothing happened in the period: the page says so
    note: str = ""  # e.g. the figures come from a rollup, as of a moment

    def table(self, name: str) -> Table | None:
        return next((t for t in self.tables if t.name == name), None)


def plain(value: Any) -> Any:
    """A cell as the CSV writes it: numbers without grouping, shares as fractions."""
    if value is None:
        return ""
    if isinstance(value, Share):
        return "" if value.value is None else round(value.value, 4)
    if isinstance(value, timedelta):
        return days(value)
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))  # money, as the database keeps it
    if isinstance(value, str):
        return neutralise(value)  # a source named "=HYPERLINK(…)" stays text
    return value


def display(value: Any) -> str:
    """A cell as the page shows it, in the reader's language."""
    if value is None or value == "":
        return "—"
    if isinstance(value, Share):
        return str(value)
    if isinstance(value, timedelta):
        return formats.number_format(round(value.total_seconds() / 86400, 1), decimal_pos=1)
    if isinstance(value, Decimal):
        return formats.number_format(value, decimal_pos=2, use_l10n=True, force_grouping=True)
    if isinstance(value, float):
        return formats.number_format(value, decimal_pos=2, use_l10n=True, force_grouping=True)
    if isinstance(value, int) and not isinstance(value, bool):
        return formats.number_format(value, use_l10n=True, force_grouping=True)
    return str(value)


def as_csv(table: Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([plain(cell) for cell in row])
    return out.getvalue()
