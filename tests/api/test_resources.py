"""The resources through the API: contacts merge by phone or e-mail, consent, visits, deals
and enrolments go through the same actions as the UI."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from kasatka.chains.models import Enrollment, EnrollmentState
from kasatka.contacts.models import Consent, Contact
from kasatka.deals.models import Deal, DealStageChange
from kasatka.sales.models import Visit
from tests import builders

pytestmark = pytest.mark.django_db


def send(api, method, path, body=None):
    return api.generic(method, path, json.dumps(body) if body is not None else b"",
                       content_type="application/json")


def test_upsert_merges_a_duplicate_by_phone_and_create_refuses_it(api, shop):
    made = send(api, "POST", "/api/v1/contacts", {
        "first_name": "Анна", "phones": ["+7 916 123-45-67"],
        "consents": [{"channel": "sms", "basis": "form", "source": "site"}],
    })
    assert made.status_code == 201, made.content
    anna = made.json()
    assert anna["consents"] == [{"channel": "sms", "purpose": "commercial",
                                 "status": "granted"}]

    again = send(api, "POST", "/api/v1/contacts", {"phones": ["8 (916) 123 45 67"]})
    assert again.status_code == 409
    assert again.json()["errors"] == [{"field": "phones", "reason": str(anna["id"])}]

    merged = send(api, "PUT", "/api/v1/contacts/upsert", {
        "first_name": "Не Анна", "last_name": "Иванова", "company": "ООО «Кедр»",
        "phones": ["89161234567"], "emails": ["Anna@Example.com"],
    })
    assert merged.status_code == 200, merged.content
    body = merged.json()
    assert body["id"] == anna["id"]
    assert (body["first_name"], body["company"]) == ("Анна", "ООО «Кедр»")  # name kept
    assert {(a["kind"], a["value"]) for a in body["addresses"]} == {
        ("phone", "+79161234567"), ("email", "Anna@example.com")}
    assert Contact.objects.filter(business=shop).count() == 1

    new = send(api, "PUT", "/api/v1/contacts/upsert", {"emails": ["boris@example.com"]})
    assert new.status_code == 201
    assert Contact.objects.filter(business=shop).count() == 2


def test_patch_changes_only_what_is_sent_and_reports_bad_fields(api, shop, alice, charlie):
    anna = builders.contact(shop, phone="+79161234567")
    ok = send(api, "PATCH", f"/api/v1/contacts/{anna.pk}",
              {"owner_id": alice.pk, "readiness": "ready", "add_emails": ["a2@example.com"]})
    assert ok.status_code == 200, ok.content
    anna.refresh_from_db()
    assert (anna.owner, anna.readiness, anna.first_name) == (alice, "ready", "Анна")
    bad = send(api, "PATCH", f"/api/v1/contacts/{anna.pk}",
               {"owner_id": charlie.pk, "time_zone": "Mars/Base"})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert "owner_id" in fields
    wrong_type = send(api, "PATCH", f"/api/v1/contacts/{anna.pk}", {"birthday": "soon"})
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["field"] == "birthday"


def test_consent_is_granted_and_withdrawn_through_the_history(api, shop):
    anna = builders.contact(shop, email="anna@example.com", consent=())
    granted = send(api, "POST", f"/api/v1/contacts/{anna.pk}/consents",
                   {"channel": "email", "basis": "verbal", "source": "call"})
    assert granted.status_code == 201, granted.content
    withdrawn = send(api, "POST", f"/api/v1/contacts/{anna.pk}/consents/withdraw",
                     {"channel": "email"})
    assert withdrawn.status_code == 200
    assert [c.status for c in Consent.objects.filter(contact=anna).order_by("id")] == [
        "granted", "withdrawn"]
    # A withdrawal is the contact's word: an API grant cannot undo it.
    refused = send(api, "POST", f"/api/v1/contacts/{anna.pk}/consents", {"channel": "email"})
    assert refused.status_code == 422


def test_a_visit_is_classified_and_starts_its_chain(api, shop, world, clock):
    answer = send(api, "POST", "/api/v1/visits", {
        "bought": False, "contacts_taken": True, "name": "Анна Иванова",
        "phone": "+79161234567", "loss_reason_id": world.price.pk,
    })
    assert answer.status_code == 201, answer.content
    visit = Visit.objects.get()
    assert visit.visit_type == 3
    assert Enrollment.objects.get(contact=visit.contact).chain == world.warming
    missing = send(api, "POST", "/api/v1/visits", {"bought": False, "contacts_taken": True,
                                                   "phone": "+79161234567"})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "loss_reason"


def test_a_deal_is_opened_moved_and_lost_with_its_history(api, shop, world):
    anna = builders.contact(shop)
    made = send(api, "POST", "/api/v1/deals", {"contact_id": anna.pk, "title": "Кухня",
                                               "amount": "90000"})
    assert made.status_code == 201, made.content
    deal_id = made.json()["id"]
    assert made.json()["stage_id"] == world.stages[0].pk
    moved = send(api, "POST", f"/api/v1/deals/{deal_id}/move", {"stage_id": world.stages[2].pk})
    assert moved.status_code == 200 and moved.json()["stage_id"] == world.stages[2].pk
    lost = send(api, "POST", f"/api/v1/deals/{deal_id}/lose",
                {"loss_reason_id": world.price.pk, "note": "дорого"})
    assert lost.json()["status"] == "lost"
    assert DealStageChange.objects.filter(deal_id=deal_id).count() == 3
    closed = send(api, "POST", f"/api/v1/deals/{deal_id}/win", {})
    assert closed.status_code == 422
    assert Deal.objects.get().status == "lost"


def test_an_enrolment_is_paused_resumed_and_stopped(api, shop, world, clock):
    anna = builders.contact(shop)
    made = send(api, "POST", "/api/v1/enrollments",
                {"contact_id": anna.pk, "chain_id": world.warming.pk})
    assert made.status_code == 201, made.content
    twice = send(api, "POST", "/api/v1/enrollments",
                 {"contact_id": anna.pk, "chain_id": world.warming.pk})
    assert twice.status_code == 409
    path = f"/api/v1/enrollments/{made.json()['id']}"
    assert send(api, "POST", f"{path}/pause").json()["state"] == "paused"
    assert send(api, "POST", f"{path}/pause").status_code == 409
    clock.advance(timedelta(days=3))
    resumed = send(api, "POST", f"{path}/resume").json()
    assert resumed["state"] == "active"
    assert resumed["next_touch_at"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M"))
    stopped = send(api, "POST", f"{path}/stop", {"reason": "asked by phone"})
    assert stopped.json()["exit_reason"] == "asked by phone"
    enrollment = Enrollment.objects.get()
    assert (enrollment.state, enrollment.next_touch_at) == (EnrollmentState.EXITED, None)
    assert send(api, "POST", f"{path}/stop", {}).status_code == 409


def test_the_docs_page_is_at_api_docs_and_the_document_at_openapi_json(client):
    assert client.get("/api/docs").url == "/api/v1/docs"
    document = client.get("/api/v1/openapi.json").json()
    ids = {op["operationId"] for path in document["paths"].values() for op in path.values()}
    assert {"contact_upsert", "purchase_batch", "enrollment_pause", "touch_list"} <= ids
    errors = document["paths"]["/api/v1/contacts/{contact_id}"]["get"]["responses"]["404"]
    assert list(errors["content"]) == ["application/problem+json"]
