"""Lead sources' figures on a hand-built shop; each expected value worked out in comments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kasatka.insights.filters import Filters
from kasatka.insights.sources import source_lines
from kasatka.sales.models import LeadSource, LeadSourceCost, Purchase
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
MARCH = datetime(2026, 3, 1, tzinfo=MSK), datetime(2026, 4, 1, tzinfo=MSK)


def lead(shop, tail, source, day, month=3):
    contact = builders.contact(shop, phone=f"+7916200{tail:04d}")
    contact.source = source
    contact.created_at = datetime(2026, month, day, 12, tzinfo=MSK)
    contact.save(update_fields=["source", "created_at"])
    return contact


def buy(shop, contact, amount, day, month=3):
    Purchase.objects.create(business=shop, contact=contact, amount=Decimal(amount),
                            purchased_at=datetime(2026, month, day, 15, tzinfo=MSK))


def test_leads_clients_revenue_cost_and_roi_per_source(shop, other_shop):
    yandex = LeadSource.objects.create(business=shop, name="Яндекс Директ", utm_campaign="kitchens")
    avito = LeadSource.objects.create(business=shop, name="Авито")
    # Yandex: 4 leads in March; 2 bought (30,000 + 20,000 + a second purchase of 10,000 by
    # the first) → clients 2, revenue 60,000. A lead of February who bought in March is not
    # March's lead. A purchase in April is after the period: not counted.
    y = [lead(shop, i, yandex, 2 + i) for i in range(4)]
    buy(shop, y[0], 30000, 10)
    buy(shop, y[0], 10000, 20)
    buy(shop, y[1], 20000, 25)
    buy(shop, y[2], 99000, 2, month=4)
    february = lead(shop, 10, yandex, 20, month=2)
    buy(shop, february, 5000, 5)
    # Cost: 31,000 for all of March → 31,000; CPL 31,000 / 4 = 7,750; CPC 31,000 / 2 =
    # 15,500; ROI (60,000 − 31,000) / 31,000 = 0.9355.
    LeadSourceCost.objects.create(business=shop, source=yandex, period_start=date(2026, 3, 1),
                                  period_end=date(2026, 3, 31), amount=Decimal(31000))
    # Avito: 1 lead, no purchase; a cost of 6,000 for 15 Feb – 15 Mar (29 days), of which
    # 1–15 March (15 days) fall in the period → 6,000 × 15 / 29 = 3,103.45. ROI −1.
    lead(shop, 20, avito, 5)
    LeadSourceCost.objects.create(business=shop, source=avito, period_start=date(2026, 2, 15),
                                  period_end=date(2026, 3, 15), amount=Decimal(6000))
    # Direct: 2 leads without a source, one bought 4,000; no cost, so no CPL and no ROI.
    buy(shop, lead(shop, 30, None, 7), 4000, 8)
    lead(shop, 31, None, 9)
    # Another shop's lead with the same source name changes nothing here.
    theirs = LeadSource.objects.create(business=other_shop, name="Яндекс Директ")
    buy(other_shop, lead(other_shop, 40, theirs, 3), 77000, 4)

    lines = {line.name: line for line in source_lines(shop, *MARCH)}

    assert list(lines) == ["Авито", "Яндекс Директ", ""]  # by name, direct last
    ya = lines["Яндекс Директ"]
    assert (ya.leads, ya.clients, ya.revenue, ya.cost) == (4, 2, Decimal(60000), Decimal(31000))
    assert ya.campaign == "kitchens" and ya.conversion == 0.5
    assert ya.cost_per_lead == Decimal("7750.00") and ya.cost_per_client == Decimal("15500.00")
    assert ya.roi == Decimal("0.9355")
    av = lines["Авито"]
    assert (av.leads, av.clients, av.revenue) == (1, 0, Decimal(0))
    assert av.cost == Decimal("3103.45") and av.cost_per_client is None
    assert av.roi == Decimal("-1.0000")
    direct = lines[""]
    assert direct.source_id is None and (direct.leads, direct.clients) == (2, 1)
    assert direct.revenue == Decimal(4000) and direct.cost == 0 and direct.roi is None


def test_a_source_with_cost_and_no_lead_still_shows_its_loss(shop):
    vk = LeadSource.objects.create(business=shop, name="ВКонтакте")
    # 10 days of a 10-day campaign inside March: 5,000, no lead: CPL none, ROI −1.
    LeadSourceCost.objects.create(business=shop, source=vk, period_start=date(2026, 3, 1),
                                  period_end=date(2026, 3, 10), amount=Decimal(5000))
    [line] = source_lines(shop, *MARCH)
    assert (line.name, line.leads, line.cost, line.cost_per_lead) == ("ВКонтакте", 0,
                                                                      Decimal(5000), None)
    assert line.roi == Decimal("-1.0000")


def test_the_filters_narrow_leads_and_revenue_and_a_source_keeps_its_line(shop, alice, bob):
    yandex = LeadSource.objects.create(business=shop, name="Яндекс Директ")
    avito = LeadSource.objects.create(business=shop, name="Авито")

    def owned(tail, source, day, seller):
        contact = lead(shop, tail, source, day)
        contact.owner = seller
        contact.save(update_fields=["owner"])
        return contact

    # Yandex: Alice's two leads, one bought 10,000; Bob's one lead, bought 7,000.
    buy(shop, owned(1, yandex, 2, alice), 10000, 5)
    owned(2, yandex, 3, alice)
    buy(shop, owned(3, yandex, 4, bob), 7000, 6)
    # Avito: Bob's lead, bought 2,000. Direct: Alice's lead, bought 500.
    buy(shop, owned(4, avito, 5, bob), 2000, 7)
    buy(shop, owned(5, None, 6, alice), 500, 8)
    # Yandex cost 3,100 for all March; Avito 1,000 for all March.
    for source, amount in ((yandex, 3100), (avito, 1000)):
        LeadSourceCost.objects.create(business=shop, source=source, amount=Decimal(amount),
                                      period_start=date(2026, 3, 1), period_end=date(2026, 3, 31))

    # Alice: Yandex 2 leads, 1 client, 10,000; Avito no lead of hers, but its cost shows
    # whole (a cost is not split by seller); direct 1 lead, 1 client, 500.
    mine = {line.name: line for line in source_lines(shop, *MARCH,
                                                     filters=Filters(seller=alice.pk))}
    assert list(mine) == ["Авито", "Яндекс Директ", ""]
    assert (mine["Яндекс Директ"].leads, mine["Яндекс Директ"].clients) == (2, 1)
    assert mine["Яндекс Директ"].revenue == Decimal(10000)
    assert mine["Яндекс Директ"].cost == Decimal(3100)
    assert (mine["Авито"].leads, mine["Авито"].cost) == (0, Decimal(1000))
    assert (mine[""].leads, mine[""].revenue) == (1, Decimal(500))

    # The Yandex filter: its line only — 3 leads, 2 clients, 17,000, cost 3,100; no Avito
    # line (though it cost money) and no direct line.
    [line] = source_lines(shop, *MARCH, filters=Filters(source=yandex.pk))
    assert (line.source_id, line.leads, line.clients) == (yandex.pk, 3, 2)
    assert (line.revenue, line.cost) == (Decimal(17000), Decimal(3100))

    # Bob on Yandex: 1 lead, 1 client, 7,000.
    [line] = source_lines(shop, *MARCH, filters=Filters(seller=bob.pk, source=yandex.pk))
    assert (line.leads, line.clients, line.revenue) == (1, 1, Decimal(7000))
