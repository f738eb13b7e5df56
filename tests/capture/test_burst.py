"""A burst against a real threaded HTTP server: 200 posts of the same phone, 40 at a time,
make one contact (PostgreSQL: the advisory lock on the phone; SQLite: BEGIN IMMEDIATE).

In both modes: the intake in the request, and the default where the endpoint keeps each
lead in the inbox and task workers hand them on (here four at once, as four workers would)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.db import connection

from kasatka.capture.actions import process_inbox
from kasatka.capture.models import CaptureForm, LeadInbox
from kasatka.contacts.models import Address, Consent, Contact
from tests.capture.conftest import kept_answers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
WORKERS = 4


@pytest.fixture(params=["deferred", "in-request"])
def deferred(request, settings) -> bool:
    settings.KASATKA_CAPTURE = {**settings.KASATKA_CAPTURE, "DEFER": request.param == "deferred"}
    return request.param == "deferred"


def _sweep_in_workers() -> None:
    """Four task workers sweeping the inbox at once, until it is empty."""
    def worker(_: Any) -> None:
        try:
            while process_inbox(limit=20):
                pass
        finally:
            connection.close()

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(worker, range(WORKERS)))
    assert not LeadInbox.objects.filter(processed_at__isnull=True).exists()

POSTS = 200
AT_ONCE = 40


@pytest.fixture
def open_limits(settings):
    settings.KASATKA_CAPTURE = {**settings.KASATKA_CAPTURE, "PER_IP_PER_MINUTE": 0,
                                "PER_FORM_PER_MINUTE": 0}


def _burst(url: str, bodies: list[dict], headers: list[dict]) -> list[httpx.Response]:
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=AT_ONCE)) as http, \
            ThreadPoolExecutor(AT_ONCE) as pool:
        return list(pool.map(lambda i: http.post(url, json=bodies[i], headers=headers[i]),
                             range(len(bodies))))


def test_a_burst_of_the_same_phone_makes_one_contact(live_server, shop, open_limits, deferred):
    form = CaptureForm.objects.create(business=shop, name="Сайт", channels="email,sms")
    bodies = [
        {"name": "Анна", "phone": ["+79161234567", "8 916 123-45-67", "+7 (916) 1234567"][i % 3],
         "email": f"anna{i % 7}@example.com", "consent": ["sms"]}
        for i in range(POSTS)
    ]
    answers = _burst(f"{live_server.url}/capture/{form.token}/", bodies, [{}] * POSTS)
    assert [a.status_code for a in answers] == [200] * POSTS, answers[0].text
    if deferred:
        assert LeadInbox.objects.count() == POSTS
        _sweep_in_workers()
    assert Contact.objects.filter(business=shop).count() == 1
    contact = Contact.objects.get(business=shop)
    assert Address.objects.filter(contact=contact, kind="phone").count() == 1
    # Every e-mail given joined the one contact, each once.
    assert Address.objects.filter(contact=contact, kind="email").count() == 7


def test_a_burst_of_one_idempotency_key_makes_one_answer(
    live_server, shop, open_limits, deferred
):
    form = CaptureForm.objects.create(business=shop, name="Сайт", channels="email,sms")
    body = {"name": "Анна", "phone": "+79161234567", "consent": ["sms", "email"]}
    answers = _burst(f"{live_server.url}/capture/{form.token}/", [body] * 60,
                     [{"Idempotency-Key": "same"}] * 60)
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    if deferred:
        _sweep_in_workers()
    assert Contact.objects.filter(business=shop).count() == 1
    assert Consent.objects.filter(business=shop).count() == 2  # recorded once, not 60 times
    assert kept_answers("same") == 1
