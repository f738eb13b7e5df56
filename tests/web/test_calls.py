"""Call tasks in the seller's list: who sees which, and closing with an outcome."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from kasatka.chains.actions import enroll
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def calls(shop, alice, bob, clock):
    chain = builders.chain(shop, steps=[{"channels": ["call"], "body_template": "Спросите, "
                                         "как {{ contact.name }} оценивает кухню."}])
    for seller, phone in ((alice, "+79161110000"), (bob, "+79162220000")):
        enroll(builders.contact(shop, email=None, phone=phone, owner=seller), chain)
    Worker(EngineConfig(), clock=clock).run_batch()
    return {t.assignee.username: t for t in CallTask.objects.select_related("assignee")}


def test_a_seller_sees_only_their_own_calls(client, alice, calls):
    client.force_login(alice)
    page = client.get("/calls/").content.decode()
    assert "+79161110000" in page
    assert "+79162220000" not in page
    assert "Спросите, как Анна Сергеевна оценивает кухню." in page


def test_the_owner_sees_every_sellers_calls(client, owner, calls):
    client.force_login(owner)
    page = client.get("/calls/").content.decode()
    assert "+79161110000" in page and "+79162220000" in page


def test_a_seller_closes_a_call_with_an_outcome(client, alice, calls):
    client.force_login(alice)
    task = calls["alice"]
    client.post(f"/calls/{task.pk}/close/", {"outcome": CallOutcome.REACHED, "note": "довольна"})
    task.refresh_from_db()
    assert task.outcome == CallOutcome.REACHED
    assert task.closed_by == alice
    assert "+79161110000" not in client.get("/calls/").content.decode()


def test_call_back_needs_a_time(client, alice, calls):
    client.force_login(alice)
    task = calls["alice"]
    client.post(f"/calls/{task.pk}/close/", {"outcome": CallOutcome.CALL_BACK})
    task.refresh_from_db()
    assert task.is_open


def test_a_seller_cannot_close_another_sellers_call(client, alice, calls):
    client.force_login(alice)
    bobs = calls["bob"]
    assert client.post(f"/calls/{bobs.pk}/close/", {"outcome": "reached"}).status_code == 404
    bobs.refresh_from_db()
    assert bobs.is_open


def test_a_seller_of_another_shop_sees_nothing(client, charlie, calls):
    client.force_login(charlie)
    page = client.get("/calls/").content.decode()
    assert "+7916" not in page
    task = calls["alice"]
    assert client.post(f"/calls/{task.pk}/close/", {"outcome": "reached"}).status_code == 404


def test_the_home_page_shows_the_day(client, owner, calls):
    client.force_login(owner)
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Кедр" in page
    assert "отправлено: 2" in page  # both call touches, by their translated status


def test_an_anonymous_visitor_is_sent_to_log_in(client):
    response = client.get("/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_the_touch_log_shows_a_seller_only_their_clients(client, alice, bob, calls):
    client.force_login(alice)
    page = client.get("/touches/").content.decode()
    assert page.count("<tr>") - 1 == 1  # one row besides the header: Alice's client
    client.force_login(bob)
    assert client.get("/touches/?status=sent").content.decode().count("<tr>") - 1 == 1


def test_call_back_from_the_form_brings_the_call_back_at_that_time(client, alice, calls, clock):
    client.force_login(alice)
    task = calls["alice"]
    response = client.post(f"/calls/{task.pk}/close/", {
        "outcome": CallOutcome.CALL_BACK, "callback_at": "2026-03-05T15:30",
    }, follow=True)
    task.refresh_from_db()
    assert task.is_open
    local = task.due_at.astimezone(ZoneInfo("Europe/Moscow"))
    assert local.strftime("%d.%m %H:%M") == "05.03 15:30"
    assert "+79161110000" in response.content.decode()  # still in the list
