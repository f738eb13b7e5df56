"""Every operation of the API × every kind of caller: no key, a revoked key, a read key,
a write key, a leads-only key and another business's write key.

The operations are read from the OpenAPI document, so a new one is in the matrix at once
(and fails until it has a request body below). Writes get a valid body so that what
answers is the key, not the validation: a read-only key is refused before the body is
read; another business's key finds nothing of the shop's.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from kasatka.accounts.models import User
from kasatka.api.main import api
from kasatka.chains.actions import enroll
from kasatka.chains.models import Chain, Enrollment, Touch
from kasatka.contacts.models import Contact
from kasatka.deals.actions import create_deal
from kasatka.deals.models import Deal, Pipeline
from kasatka.sales.actions import record_purchase, record_visit
from kasatka.sales.models import LeadSource, LossReason, Purchase, Visit
from tests import builders

pytestmark = pytest.mark.django_db

CALLERS = ("none", "revoked", "read", "write", "leads", "other")


def operations() -> list[tuple[str, str, str]]:
    """(operation id, method, path template) of every operation in the document."""
    schema = api.get_openapi_schema(path_prefix="/api/v1/")
    return [
        (operation["operationId"], method.upper(), path)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.fixture
def shop_objects(shop, owner, world, clock) -> dict[str, int]:
    anna = builders.contact(shop, email="anna@example.com", phone="+79161234567")
    visit = record_visit(anna, business_id=shop.pk, bought=False, contacts_taken=True,
                         loss_reason=world.price)
    purchase = record_purchase(builders.contact(shop, email="boris@example.com"),
                               Decimal("500"), owner)
    deal = create_deal(anna, "Кухня", 90000, stage=world.stages[0])
    paused_chain = builders.chain(shop, name="Ещё одна")
    enrollment = enroll(anna, paused_chain)
    step = world.warming.steps.get()
    live = anna.enrollments.filter(chain=world.warming).get()
    touch = Touch.objects.create(
        business=shop, enrollment=live, step=step, contact=anna, channel="email",
        to="anna@example.com", idempotency_key=Touch.key_for(live.pk, step.pk),
    )
    source = LeadSource.objects.create(business=shop, name="Яндекс")
    return {
        "contact_id": anna.pk, "visit_id": visit.pk, "purchase_id": purchase.pk,
        "deal_id": deal.pk, "enrollment_id": enrollment.pk, "touch_id": touch.pk,
        "source_id": source.pk, "stage_id": world.stages[1].pk,
        "loss_reason_id": world.price.pk, "chain_id": world.loyalty.pk,
    }


def bodies(ids: dict[str, int]) -> dict[str, Any]:
    """A valid body for each write, naming the shop's objects where it names any."""
    return {
        "contact_create": {"first_name": "Вера", "phones": ["+79160000099"]},
        "contact_upsert": {"first_name": "Вера", "phones": ["+79160000098"]},
        "contact_update": {"company": "ООО «Вера»"},
        "consent_grant": {"channel": "sms"},
        "consent_withdraw": {"channel": "email"},
        "visit_create": {"bought": False, "contacts_taken": True,
                         "contact_id": ids["contact_id"],
                         "loss_reason_id": ids["loss_reason_id"]},
        "purchase_create": {"contact_id": ids["contact_id"], "amount": "10.00"},
        "purchase_batch": {"items": [{"contact_id": ids["contact_id"], "amount": "10.00"}]},
        "deal_create": {"contact_id": ids["contact_id"], "title": "Шкаф"},
        "deal_move": {"stage_id": ids["stage_id"]},
        "deal_win": {},
        "deal_lose": {"loss_reason_id": ids["loss_reason_id"]},
        "enrollment_create": {"contact_id": ids["contact_id"], "chain_id": ids["chain_id"]},
        "enrollment_pause": None,
        "enrollment_resume": None,
        "enrollment_stop": {},
        "lead_source_create": {"name": "Авито"},
        "lead_create": {"name": "Вера", "phone": "+79160000097"},
    }


# What each caller may do, by what the operation needs (the scope it asks for).
NEEDS = {"key_me": "any", "lead_create": "leads"}


def _needs(operation_id: str, method: str) -> str:
    return NEEDS.get(operation_id, "read" if method == "GET" else "write")


def _headers(caller: str, keys: Any) -> dict[str, str]:
    plain = {"none": None, "revoked": keys.revoked, "read": keys.read, "write": keys.write,
             "leads": keys.leads, "other": keys.other}[caller]
    return {"X-API-Key": plain} if plain else {}


def _expected(caller: str, needs: str) -> str:
    if caller in ("none", "revoked"):
        return "401"
    allowed = {"read": {"read", "any"}, "leads": {"leads", "any"},
               "write": {"read", "write", "leads", "any"}, "other": {"read", "write", "leads",
                                                                     "any"}}[caller]
    return "allowed" if needs in allowed else "403"


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_answers_each_kind_of_key_as_designed(
    caller, keys, shop, shop_objects, other_shop, no_rate_limit
):
    client = Client(headers=_headers(caller, keys))
    table = bodies(shop_objects)
    wrong: list[str] = []
    for operation_id, method, template in operations():
        assert operation_id in table or method == "GET", f"{operation_id}: add a body above"
        path = template
        for name, value in shop_objects.items():
            path = path.replace("{" + name + "}", str(value))
        assert "{" not in path, f"{operation_id}: no object for {path}"
        body = table.get(operation_id)
        answer = client.generic(
            method, path, data=b"" if body is None else json.dumps(body),
            content_type="application/json",
        )
        expected = _expected(caller, _needs(operation_id, method))
        status = answer.status_code
        label = f"{operation_id} {method} {path} as {caller}: {status}"
        if status >= 400:
            if answer["Content-Type"] != "application/problem+json":
                wrong.append(f"{label}, not a problem document")
        if expected in ("401", "403"):
            if str(status) != expected:
                wrong.append(f"{label}, expected {expected}")
            continue
        if status in (401, 403) or status >= 500:
            wrong.append(f"{label}, expected to be let through")
            continue
        if caller == "other":
            wrong.extend(_other_business_sees_nothing(label, template, answer, shop))
    assert not wrong, "\n".join(wrong)


def _other_business_sees_nothing(
    label: str, template: str, answer: Any, shop: Any
) -> list[str]:
    """Another business's key: the shop's objects are not found, not listed, not used."""
    status = answer.status_code
    if "{" in template:
        return [] if status == 404 else [f"{label}, expected 404"]
    if status >= 300:
        return [] if status == 422 else [f"{label}, expected 422 for the shop's ids"]
    data = answer.json()
    if isinstance(data, dict) and "results" in data:  # a batch: each item refused
        return [] if data["created"] == 0 else [f"{label}, a batch item went in"]
    model = LISTED.get(template.removeprefix("/api/v1"))
    if model is None:
        return []
    # A page, a list, or one object made in the caller's own business.
    rows = data if isinstance(data, list) else data.get("items", [data])
    theirs = {r["id"] for r in rows} & set(
        model.objects.filter(business=shop).values_list("id", flat=True)
    )
    return [f"{label}, shows the shop's rows {sorted(theirs)}"] if theirs else []


# What each collection lists, to tell the shop's rows from the other business's own.
LISTED: dict[str, Any] = {
    "/contacts": Contact, "/contacts/upsert": Contact, "/visits": Visit,
    "/purchases": Purchase, "/deals": Deal, "/enrollments": Enrollment, "/touches": Touch,
    "/lead-sources": LeadSource, "/sellers": User, "/loss-reasons": LossReason,
    "/pipelines": Pipeline, "/chains": Chain,
}
