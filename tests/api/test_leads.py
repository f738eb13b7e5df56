"""`POST /api/v1/leads`: the same capture as the public forms, behind an API key."""

from __future__ import annotations

import pytest
from django.test import Client

from kasatka.api.keys import issue_key
from kasatka.api.models import Scope
from kasatka.contacts.models import Consent, Contact

pytestmark = pytest.mark.django_db

LEAD = {"name": "Анна Иванова", "phone": "+7 916 123-45-67", "consent": ["sms"],
        "consent_text": "Согласна на SMS от «Кедра»."}


def caller(shop, owner, scope: str = Scope.LEADS) -> Client:
    return Client(headers={"X-API-Key": issue_key(shop, "site", scope, owner).plain})


def test_a_new_lead_is_created_then_a_repeat_merges(shop, owner, clock):
    api = caller(shop, owner)
    first = api.post("/api/v1/leads", LEAD, content_type="application/json")
    assert first.status_code == 201, first.content
    assert first.json()["created"] is True
    again = api.post("/api/v1/leads", {**LEAD, "email": "anna@example.com"},
                     content_type="application/json")
    assert again.status_code == 200
    assert again.json() == {**first.json(), "created": False}
    assert Contact.objects.filter(business=shop).count() == 1
    entry = Consent.objects.filter(business=shop).first()
    assert "API key «site»" in entry.source and "Согласна на SMS" in entry.source


def test_the_same_lead_five_times_with_one_key_is_one_contact_and_one_answer(shop, owner, clock):
    api = caller(shop, owner, Scope.WRITE)  # a write key may hand in leads too
    answers = [api.post("/api/v1/leads", LEAD, content_type="application/json",
                        headers={"Idempotency-Key": "order-77"}) for _ in range(5)]
    assert [a.status_code for a in answers] == [201] * 5  # the first answer, replayed
    assert len({a.content for a in answers}) == 1
    assert Contact.objects.filter(business=shop).count() == 1
    assert Consent.objects.filter(business=shop).count() == 1


def test_the_same_key_with_another_body_is_refused(shop, owner, clock):
    api = caller(shop, owner)
    api.post("/api/v1/leads", LEAD, content_type="application/json",
             headers={"Idempotency-Key": "k1"})
    other = api.post("/api/v1/leads", {**LEAD, "phone": "+79160000001"},
                     content_type="application/json", headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


def test_keys_are_separate_key_spaces(shop, other_shop, owner, charlie, clock):
    ours, theirs = caller(shop, owner), caller(other_shop, charlie)
    headers = {"Idempotency-Key": "1"}
    assert ours.post("/api/v1/leads", LEAD, content_type="application/json",
                     headers=headers).status_code == 201
    assert theirs.post("/api/v1/leads", LEAD, content_type="application/json",
                       headers=headers).status_code == 201
    assert Contact.objects.filter(business=other_shop).count() == 1


def test_a_bad_phone_is_a_problem_on_the_phone_field(shop, owner, clock):
    answer = caller(shop, owner).post("/api/v1/leads", {"phone": "12"},
                                      content_type="application/json")
    assert answer.status_code == 422
    assert answer["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == ["phone"]


def test_a_read_key_may_not_hand_in_leads(shop, owner, clock):
    answer = caller(shop, owner, Scope.READ).post("/api/v1/leads", LEAD,
                                                  content_type="application/json")
    assert answer.status_code == 403
    assert not Contact.objects.exists()


def test_utm_tags_attribute_the_source(shop, owner, clock):
    answer = caller(shop, owner).post(
        "/api/v1/leads", {**LEAD, "utm_source": "yandex", "utm_medium": "cpc"},
        content_type="application/json",
    )
    assert answer.json()["source"] == "yandex / cpc"
