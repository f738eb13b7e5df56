"""The insight pages' cells and chart data."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString

from kasatka.insights.report import Chart, display

register = template.Library()


@register.filter
def cell(value: Any) -> str:
    return display(value)


@register.simple_tag
def chart_data(chart: Chart) -> SafeString:
    """The chart's figure as a JSON script element (the CSP allows no inline script to run;
    a JSON element is data, read by charts.js)."""
    return json_script(chart.figure(), f"chart-{chart.name}")
