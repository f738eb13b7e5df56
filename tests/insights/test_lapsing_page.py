"""The list of lapsing clients: the most valuable first; a seller sees their own clients."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from kasatka.accounts.models import method_settings
from kasatka.insights.lapse import detect_lapses
from kasatka.sales.actions import record_purchase
from tests.builders import contact

URL = "/insights/lapsing/"


def _lapsed(shop, seller, clock, name, amount, phone):
    client = contact(shop, email=f"{name.lower()}@example.com", phone=phone, owner=seller,
                     first_name=name, patronymic="", last_name="Клиентова")
    record_purchase(client, Decimal(amount), seller, clock.now() - timedelta(days=40))
    record_purchase(client, Decimal(amount), seller, clock.now() - timedelta(days=31))
    return client


@pytest.fixture
def lapsing(shop, alice, bob, clock):
    settings = method_settings(shop)
    settings.lapse_period_days = 30
    settings.save()
    clients = {
        "cheap": _lapsed(shop, alice, clock, "Вера", "1000.00", "+79160000011"),
        "dear": _lapsed(shop, alice, clock, "Дарья", "5000.00", "+79160000012"),
        "bobs": _lapsed(shop, bob, clock, "Белла", "3000.00", "+79160000013"),
    }
    # Still buying: never listed.
    fresh = contact(shop, email="f@example.com", owner=alice, first_name="Фаина")
    record_purchase(fresh, Decimal("9000.00"), alice, clock.now() - timedelta(days=5))
    record_purchase(fresh, Decimal("9000.00"), alice, clock.now())
    assert detect_lapses(clock.now()) == 3
    return clients


def _listed(client_, user):
    client_.force_login(user)
    response = client_.get(URL)
    assert response.status_code == 200
    return [risk.contact_id for risk in response.context["risks"]]


def test_the_url_is_the_lapsing_list():
    assert reverse("insights:lapsing") == URL


def test_a_seller_sees_their_own_lapsing_clients_most_valuable_first(client, alice, lapsing):
    assert _listed(client, alice) == [lapsing["dear"].pk, lapsing["cheap"].pk]


def test_the_owner_sees_the_whole_shop_by_value_at_risk(client, owner, lapsing):
    assert _listed(client, owner) == [lapsing[k].pk for k in ("dear", "bobs", "cheap")]
    page = client.get(URL).content.decode()
    assert page.index("Дарья") < page.index("Белла") < page.index("Вера")


def test_another_shops_seller_sees_none(client, charlie, lapsing):
    assert _listed(client, charlie) == []


def test_the_list_needs_a_login(client, lapsing):
    response = client.get(URL)
    assert response.status_code == 302 and "/login/" in response["Location"]
