"""The insight pages in a real browser: every chart is drawn by Plotly (served by Kasatka, no
network), is not blank, and the page keeps to the Content Security Policy; a screenshot of
each page is kept under test-artifacts/."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from PIL import Image

from kasatka.demo import DEMO_PASSWORD, build_demo
from kasatka.insights.pages import PAGES

from .conftest import assert_fits_the_screen, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def colours(png: bytes) -> int:
    """How many distinct colours an image has (a blank box has one or two)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    found = image.getcolors(maxcolors=1 << 16)
    return len(found) if found is not None else 1 << 16


def test_every_insight_page_draws_its_charts(laptop, clock):
    demo = build_demo(contacts=80)
    now = clock.now()
    period = f"?start={(now - timedelta(days=150)).date()}&end={now.date()}"
    sign_in(laptop, demo.owner_username, DEMO_PASSWORD)
    offline: list[str] = []
    laptop.on("request", lambda r: offline.append(r.url)
              if not r.url.startswith(laptop.base_url) else None)
    for page in PAGES:
        laptop.goto(f"{laptop.base_url}/insights/{page.slug}/{period}")
        laptop.wait_for_load_state("networkidle")
        charts = laptop.locator(".chart")
        expected = charts.count()
        assert expected, f"{page.slug}: no chart has data on the demo"
        laptop.wait_for_function(
            "n => document.querySelectorAll('.chart[data-drawn=true]').length === n",
            arg=expected,
        )
        for i in range(expected):
            chart = charts.nth(i)
            # Plotly drew an SVG with marks in it, and the box is not one flat colour.
            assert chart.locator("svg.main-svg").count() >= 1
            marks = chart.locator(
                ".point path, .slice path.surface, .hm image"
            )
            assert marks.count() >= 1, f"{page.slug}: chart {i} has no marks: " + chart.evaluate(
                "el => Array.from(el.querySelectorAll('g[class]'))"
                ".map(g => g.getAttribute('class')).join(' | ').slice(0, 1500)")
            assert colours(chart.screenshot()) > 20, f"{page.slug}: chart {i} looks blank"
        assert laptop.locator("a.csv").count() >= 1
        assert_fits_the_screen(laptop)
        screenshot(laptop, f"insights-{page.slug}")
    assert not offline, f"the pages fetched from elsewhere: {offline[:3]}"


def test_a_filter_changes_what_the_charts_show(laptop, clock):
    demo = build_demo(contacts=80)
    now = clock.now()
    sign_in(laptop, demo.owner_username, DEMO_PASSWORD)
    laptop.goto(f"{laptop.base_url}/insights/funnel/?start={(now - timedelta(days=150)).date()}"
                f"&end={now.date()}")
    laptop.wait_for_selector(".chart[data-drawn=true]")
    everyone = laptop.locator("#table-stages tbody tr").first.inner_text()
    # Pick the seller of the first line of "by seller" and submit the form.
    seller = laptop.locator("#table-by_seller tbody th").first.inner_text().strip()
    laptop.select_option("#id_seller", label=seller)
    laptop.click(".insight-filters button[type=submit]")
    laptop.wait_for_load_state("networkidle")
    laptop.wait_for_selector(".chart[data-drawn=true]")
    assert "seller=" in laptop.url
    one = laptop.locator("#table-stages tbody tr").first.inner_text()
    assert one != everyone  # one seller's leads are fewer than everyone's
    screenshot(laptop, "insights-funnel-one-seller")
