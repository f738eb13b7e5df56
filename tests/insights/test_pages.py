"""The insight pages: charts and tables for the filters given, every table as CSV, bad filters
answered with a message, and only for the roles that read the figures."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kasatka.insights.pages import PAGES
from kasatka.sales.models import LeadSource, LeadSourceCost, Purchase
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
MARCH = {"start": "2026-03-01", "end": "2026-03-31"}


def lead(shop, tail, source, day, owner=None):
    contact = builders.contact(shop, email=None, phone=f"+7916300{tail:04d}", owner=owner)
    contact.source = source
    contact.created_at = datetime(2026, 3, day, 12, tzinfo=MSK)
    contact.save(update_fields=["source", "created_at"])
    return contact


def buy(shop, contact, amount, day):
    Purchase.objects.create(business=shop, contact=contact, amount=Decimal(amount),
                            purchased_at=datetime(2026, 3, day, 15, tzinfo=MSK))


@pytest.fixture
def march(shop, alice, bob):
    """Yandex: alice's two leads and bob's one, alice's first bought 3,000 and 1,000 more;
    bob's bought 2,000. The source cost 1,500 in March."""
    yandex = LeadSource.objects.create(business=shop, name="Яндекс", utm_campaign="kitchens")
    a1, _a2, b1 = lead(shop, 1, yandex, 2, alice), lead(shop, 2, yandex, 3, alice), lead(
        shop, 3, yandex, 4, bob)
    buy(shop, a1, "3000.00", 10)
    buy(shop, a1, "1000.00", 20)
    buy(shop, b1, "2000.00", 12)
    LeadSourceCost.objects.create(business=shop, source=yandex, period_start=date(2026, 3, 1),
                                  period_end=date(2026, 3, 31), amount=Decimal(1500))
    return yandex


def csv_rows(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


@pytest.mark.parametrize("slug", [page.slug for page in PAGES])
def test_every_page_draws_its_charts_and_serves_every_table_as_csv(client, owner, march, slug):
    client.force_login(owner)
    response = client.get(f"/insights/{slug}/", MARCH)
    assert response.status_code == 200
    report = response.context["report"]
    html = response.content.decode()
    assert report.tables and report.charts
    # The fixture has leads, purchases and a cost, but no touch and no lapse.
    assert report.empty == (slug in {"steps", "lapse"})
    for chart in report.charts:
        if not chart.is_empty:
            found = re.search(rf'<script id="chart-{chart.name}" type="application/json">(.*?)'
                              r"</script>", html, re.S)
            assert found, chart.name
            assert json.loads(found.group(1))["data"]
            assert f'data-figure="chart-{chart.name}"' in html
    for table in report.tables:
        assert f"csv={table.name}" in html
        rows = csv_rows(client.get(f"/insights/{slug}/", {**MARCH, "csv": table.name}))
        assert rows[0] == [str(c) for c in table.columns]
        assert len(rows) == len(table.rows) + 1
    assert '/insights/plotly-' in html


def test_lead_sources_csv_holds_the_figures_for_the_period_and_the_seller(client, owner, alice,
                                                                          march):
    client.force_login(owner)
    rows = csv_rows(client.get("/insights/sources/", {**MARCH, "csv": "sources"}))
    yandex = next(row for row in rows if row[0] == "Яндекс")
    # 3 leads, 2 of them bought → 2/3; revenue 3,000 + 1,000 + 2,000 = 6,000; cost 1,500,
    # per lead 500, per client 750; ROI (6,000 − 1,500) / 1,500 = 3.
    assert yandex[1:] == ["kitchens", "3", "2", "0.6667", "6000.00", "1500.00", "500.00",
                          "750.00", "3.0"]
    # Alice's leads only: 2 leads, 1 client who spent 4,000; the source's cost stays the
    # source's (1,500): per lead 750, per client 1,500, ROI (4,000 − 1,500) / 1,500 = 1.6667.
    rows = csv_rows(client.get("/insights/sources/", {**MARCH, "seller": alice.pk,
                                                       "csv": "sources"}))
    yandex = next(row for row in rows if row[0] == "Яндекс")
    assert yandex[2:6] == ["2", "1", "0.5", "4000.00"]
    assert yandex[9] == "1.6667"


def test_a_period_outside_the_data_says_there_is_nothing(client, owner, march):
    client.force_login(owner)
    response = client.get("/insights/sources/", {"start": "2025-01-01", "end": "2025-01-31"})
    assert response.status_code == 200
    assert response.context["report"].empty
    assert '<p class="empty">' in response.content.decode()


@pytest.mark.parametrize("bad", [
    {"start": "2026-03-31", "end": "2026-03-01"},  # ends before it starts
    {"start": "yesterday", "end": "2026-03-31"},
    {"start": "2020-01-01", "end": "2026-03-31"},  # longer than the longest period
    {"seller": "999999"},
    {"source": "not-a-number"},
])
def test_bad_filters_are_explained_and_the_page_still_answers(client, owner, march, bad):
    client.force_login(owner)
    response = client.get("/insights/funnel/", bad)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors
    assert 'role="alert"' in response.content.decode()
    # The default period (the last 30 days up to today) for everyone.
    first, last = form.period
    assert (last - first).days == 30
    assert not form.filters


def test_another_shops_seller_or_source_is_refused(client, owner, charlie, other_shop):
    theirs = LeadSource.objects.create(business=other_shop, name="Их источник")
    client.force_login(owner)
    response = client.get("/insights/funnel/", {"seller": charlie.pk, "source": theirs.pk})
    assert set(response.context["form"].errors) == {"seller", "source"}


def test_csv_cells_that_look_like_formulas_stay_text(client, owner, shop):
    LeadSource.objects.create(business=shop, name="=HYPERLINK(\"http://evil\")")
    LeadSourceCost.objects.create(business=shop, source=LeadSource.objects.get(),
                                  period_start=date(2026, 3, 1), period_end=date(2026, 3, 31),
                                  amount=Decimal(100))
    client.force_login(owner)
    rows = csv_rows(client.get("/insights/sources/", {**MARCH, "csv": "sources"}))
    assert rows[1][0].startswith("'=")


def test_unknown_pages_and_tables_are_not_found(client, owner):
    client.force_login(owner)
    assert client.get("/insights/nonsense/").status_code == 404
    assert client.get("/insights/sources/", {"csv": "nonsense"}).status_code == 404


@pytest.mark.parametrize("persona,status", [
    ("owner", 200), ("head", 200), ("marketer", 200), ("alice", 403),
])
def test_the_figures_are_for_the_roles_that_read_them(client, request, persona, status):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/insights/").status_code == status
    assert client.get("/insights/sellers/").status_code == status


def test_plotly_is_served_from_the_installed_package(client):
    import plotly

    response = client.get(f"/insights/plotly-{plotly.__version__}.min.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript"
    body = b"".join(response.streaming_content)
    assert b"plotly.js" in body[:2000] and len(body) > 1_000_000


def test_a_chart_of_zeros_is_not_drawn():
    from kasatka.insights.report import Chart

    assert Chart("a", "a", [{"x": ["x", "y"], "y": [0, 0]}]).is_empty
    assert Chart("b", "b", [{"z": [[None, 0], [0, None]]}]).is_empty
    assert not Chart("c", "c", [{"x": [0, 3], "y": ["x", "y"]}]).is_empty
    assert not Chart("d", "d", [{"z": [[None, 12.5]]}]).is_empty
