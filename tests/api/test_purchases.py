"""Purchases handed in by a till or a shop's backend: one, or a batch of up to 1,000 in one
call. Each goes through the method: the stage moves, warming ends, loyalty starts."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest

from kasatka.chains.actions import enroll
from kasatka.chains.models import Enrollment, EnrollmentState
from kasatka.contacts.models import Address, AddressKind, Contact, Stage
from kasatka.sales.models import Purchase
from tests import builders

pytestmark = pytest.mark.django_db


def post(api, path, body):
    return api.post(path, json.dumps(body), content_type="application/json")


def states(contact, world):
    """The contact's enrolment state in warming and in loyalty (None: never enrolled)."""
    found = {e.chain_id: e.state for e in Enrollment.objects.filter(contact=contact)}
    return found.get(world.warming.pk), found.get(world.loyalty.pk)


def test_a_purchase_moves_the_stage_ends_warming_and_starts_loyalty(api, shop, world, clock):
    anna = builders.contact(shop, phone="+79161234567")
    enroll(anna, world.warming)
    assert states(anna, world) == (EnrollmentState.ACTIVE, None)

    answer = post(api, "/api/v1/purchases", {"phone": "8 (916) 123-45-67", "amount": "15000",
                                             "external_id": "чек-1"})

    assert answer.status_code == 201, answer.content
    assert answer.json()["contact_id"] == anna.pk
    anna.refresh_from_db()
    assert anna.stage == Stage.NEW
    assert states(anna, world) == (EnrollmentState.EXITED, EnrollmentState.ACTIVE)
    assert Enrollment.objects.get(contact=anna, chain=world.warming).exit_reason == "purchased"


def test_a_retry_with_the_same_external_id_is_not_counted_twice(api, shop, world, clock):
    anna = builders.contact(shop, phone="+79161234567")
    body = {"contact_id": anna.pk, "amount": "990.50", "external_id": "R-77"}
    first = post(api, "/api/v1/purchases", body)
    again = post(api, "/api/v1/purchases", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert Purchase.objects.filter(contact=anna).count() == 1
    # Another receipt is another purchase.
    assert post(api, "/api/v1/purchases", {**body, "external_id": "R-78"}).status_code == 201
    assert Purchase.objects.filter(contact=anna).count() == 2


def test_an_unknown_buyer_becomes_a_contact_and_a_known_one_is_found_by_email(api, shop, world):
    known = builders.contact(shop, email="anna@example.com", phone=None)
    answer = post(api, "/api/v1/purchases/batch", {"items": [
        {"email": "ANNA@example.com", "amount": 100},
        {"phone": "+7 916 000-00-01", "name": "Пётр Сидоров", "amount": 200},
    ]})
    assert answer.status_code == 200, answer.content
    assert answer.json()["created"] == 2
    assert Purchase.objects.get(amount=100).contact == known
    peter = Purchase.objects.get(amount=200).contact
    assert (peter.first_name, peter.last_name, peter.stage) == ("Пётр", "Сидоров", Stage.NEW)


def _warming_contacts(shop, world, n):
    """n contacts going through warming, each with a phone (made in bulk: the test is
    about the purchases)."""
    contacts = Contact.objects.bulk_create(
        Contact(business=shop, first_name="Клиент", last_name=str(i), language="ru")
        for i in range(n)
    )
    Address.objects.bulk_create(
        Address(business=shop, contact=c, kind=AddressKind.PHONE, value=f"+7916{c.pk:07d}")
        for c in contacts
    )
    first = world.warming.steps.order_by("position").first()
    Enrollment.objects.bulk_create(
        Enrollment(business=shop, contact=c, chain=world.warming, step=first,
                   state=EnrollmentState.ACTIVE, next_touch_at=None)
        for c in contacts
    )
    return contacts


@pytest.mark.slow
def test_a_batch_of_1000_in_one_call_goes_through_the_method_for_each(api, shop, world, clock):
    contacts = _warming_contacts(shop, world, 1000)
    items = [
        # Half by id, half by phone in another spelling: both find the contact.
        {"contact_id": c.pk, "amount": "1000.00", "external_id": f"b-{c.pk}"} if i % 2 else
        {"phone": f"8916{c.pk:07d}", "amount": "1000.00", "external_id": f"b-{c.pk}"}
        for i, c in enumerate(contacts)
    ]
    started = time.perf_counter()
    answer = post(api, "/api/v1/purchases/batch", {"items": items})
    took = time.perf_counter() - started

    assert answer.status_code == 200, answer.content[:500]
    report = answer.json()
    assert (report["created"], report["duplicates"], report["rejected"]) == (1000, 0, 0)
    ids = [c.pk for c in contacts]
    assert Purchase.objects.filter(contact_id__in=ids).count() == 1000
    assert set(Contact.objects.filter(pk__in=ids).values_list("stage", flat=True)) == {Stage.NEW}
    warming = Enrollment.objects.filter(contact_id__in=ids, chain=world.warming)
    loyalty = Enrollment.objects.filter(contact_id__in=ids, chain=world.loyalty)
    assert warming.filter(state=EnrollmentState.EXITED, exit_reason="purchased").count() == 1000
    assert loyalty.filter(state=EnrollmentState.ACTIVE).count() == 1000
    print(f"\n1,000 purchases in one call: {took:.1f} s ({1000 / took:.0f} purchases/s)")

    # The same batch again (a retry after a lost answer) counts nothing twice.
    again = post(api, "/api/v1/purchases/batch", {"items": items}).json()
    assert (again["created"], again["duplicates"]) == (0, 1000)
    assert Purchase.objects.filter(contact_id__in=ids).count() == 1000


def test_a_batch_over_1000_is_refused_whole(api, shop, world):
    anna = builders.contact(shop)
    items = [{"contact_id": anna.pk, "amount": 1}] * 1001
    answer = post(api, "/api/v1/purchases/batch", {"items": items})
    assert answer.status_code == 413
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["errors"] == [{"field": "items", "reason": "1001"}]
    assert not Purchase.objects.exists()


def test_bad_items_are_reported_by_index_and_field_while_good_ones_go_in(
    api, shop, other_shop, world, clock
):
    anna = builders.contact(shop, phone="+79161234567")
    stranger = builders.contact(other_shop, email="stranger@example.com")
    enroll(anna, world.warming)
    answer = post(api, "/api/v1/purchases/batch", {"items": [
        {"contact_id": anna.pk, "amount": "500"},
        {"contact_id": anna.pk, "amount": "-5"},
        {"phone": "не телефон", "amount": "10"},
        {"contact_id": stranger.pk, "amount": "10"},
        {"amount": "10"},
        "not an object",
        {"phone": "+79161234567", "amount": "700", "purchased_at": "2026-03-01T10:00:00"},
        {"phone": "+79161234567", "amount": "700", "purchased_at": "2026-03-01T10:00:00+03:00"},
    ]})

    assert answer.status_code == 200, answer.content
    report = answer.json()
    assert (report["created"], report["rejected"]) == (2, 6)
    rejected = {r["index"]: [e["field"] for e in r["errors"]] for r in report["results"]
                if r["status"] == "rejected"}
    assert rejected == {1: ["amount"], 2: ["phone"], 3: ["contact_id"], 4: ["contact_id"],
                        5: ["item"], 6: ["purchased_at"]}
    assert sorted(Purchase.objects.values_list("amount", flat=True)) == [
        Decimal("500"), Decimal("700")
    ]
    assert not Purchase.objects.filter(contact=stranger).exists()
    assert states(anna, world) == (EnrollmentState.EXITED, EnrollmentState.ACTIVE)


def test_a_read_key_may_not_record_a_purchase(keys, shop, world):
    from django.test import Client

    anna = builders.contact(shop)
    answer = Client(headers={"X-API-Key": keys.read}).post(
        "/api/v1/purchases/batch", json.dumps({"items": [{"contact_id": anna.pk, "amount": 1}]}),
        content_type="application/json",
    )
    assert answer.status_code == 403
    assert not Purchase.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_copies_of_one_receipt_racing_are_recorded_once(keys, shop, world):
    """Eight copies of one receipt at once (a till retrying on a slow network): the unique
    (business, external_id) decides, every copy gets the same purchase back."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection
    from django.test import Client

    anna = builders.contact(shop, phone="+79161234567")
    body = json.dumps({"contact_id": anna.pk, "amount": "100", "external_id": "till-1/42"})

    def send(_: int) -> tuple[int, int]:
        try:
            answer = Client(headers={"X-API-Key": keys.write}).post(
                "/api/v1/purchases", body, content_type="application/json")
            return answer.status_code, answer.json()["id"]
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(send, range(8)))
    assert sorted(status for status, _ in answers).count(201) == 1
    assert {status for status, _ in answers} <= {200, 201}
    assert len({pk for _, pk in answers}) == 1
    assert Purchase.objects.filter(contact=anna).count() == 1
