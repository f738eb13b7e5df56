"""Purchases, one or a batch of up to 1,000: each goes through `record_purchase`, so it
moves the contact's stage, ends warming and starts loyalty as a purchase at the till does.

An `external_id` (the till's receipt number) makes a retry harmless: a purchase the
business already has under that id is answered, not recorded again; a unique constraint
on (business, external_id) decides when two copies race.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pydantic
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from kasatka.accounts.models import Business
from kasatka.contacts.actions import create_contact
from kasatka.contacts.models import Contact
from kasatka.engine.clock import now as clock_now
from kasatka.sales.actions import (
    complete_contact,
    find_contact,
    normalise_reach,
    record_purchase,
    split_name,
)
from kasatka.sales.intake import lock_reach
from kasatka.sales.models import Purchase

from ..auth import READ, WRITE, require_scope
from ..problems import COMMON_PROBLEMS, FieldError, Problem, django_errors, problem
from ..schemas import (
    MAX_BATCH,
    BatchItemOut,
    BatchOut,
    PurchaseIn,
    PurchaseOut,
    PurchasePage,
    PurchaseQuery,
)
from .common import get_for, page, user_in

router = Router(tags=["purchases"])


class Recorded(NamedTuple):
    purchase: Purchase
    created: bool


def purchase_out(purchase: Purchase) -> PurchaseOut:
    return PurchaseOut(
        id=purchase.pk, contact_id=purchase.contact_id, amount=purchase.amount,
        purchased_at=purchase.purchased_at, seller_id=purchase.seller_id,
        on_promotion=purchase.on_promotion, note=purchase.note,
        external_id=purchase.external_id,
    )


def _known(business: Business, external_id: str) -> Purchase | None:
    if not external_id:
        return None
    # The exclude names the unique index's condition: SQLite uses a partial index only
    # when the query says it (else every purchase of the business is read).
    return (
        Purchase.objects.filter(business=business, external_id=external_id)
        .exclude(external_id="").first()
    )


def _contact(business: Business, item: PurchaseIn) -> Contact:
    """The buyer: by id, else by phone, then e-mail, else a new contact."""
    if item.contact_id is not None:
        contact = Contact.objects.filter(business=business, pk=item.contact_id).first()
        if contact is None:
            raise ValidationError({"contact_id": [_("No such contact in this business.")]})
        return contact
    if not (item.phone.strip() or item.email.strip()):
        raise ValidationError(
            {"contact_id": [_("Name the buyer: contact_id, a phone or an e-mail.")]}
        )
    reach = normalise_reach(business, item.phone, item.email)
    name = split_name(item.name)
    at = clock_now()
    lock_reach(business, reach)  # two receipts of one new buyer make one contact
    contact = find_contact(business, reach)
    if contact is None:
        return create_contact(
            business, first_name=name.first_name, last_name=name.last_name,
            patronymic=name.patronymic, phones=[reach.phone] if reach.phone else [],
            emails=[reach.email] if reach.email else [], created_at=at,
        )
    complete_contact(contact, name, reach, at)
    return contact


def ingest(business: Business, item: PurchaseIn) -> Recorded:
    """Record one purchase handed in by another system (or find it by its external id)."""
    known = _known(business, item.external_id)
    if known is not None:
        return Recorded(known, False)
    seller = user_in(business, item.seller_id, "seller_id")
    try:
        with transaction.atomic():
            contact = _contact(business, item)
            purchase = record_purchase(
                contact, item.amount, seller, item.purchased_at or clock_now(), item.note,
                item.on_promotion,
            )
            if item.external_id:
                Purchase.objects.filter(pk=purchase.pk).update(external_id=item.external_id)
                purchase.external_id = item.external_id
    except IntegrityError:
        # The same external id recorded meanwhile by another request: that one stands.
        known = _known(business, item.external_id)
        if known is None:
            raise
        return Recorded(known, False)
    return Recorded(purchase, True)


@router.post(
    "", response={200: PurchaseOut, 201: PurchaseOut, **COMMON_PROBLEMS},
    auth=WRITE, operation_id="purchase_create",
    summary="Record a purchase (200 with the known one when its external_id is known)",
)
def create(request: HttpRequest, data: PurchaseIn) -> Any:
    business = require_scope(request, "write")
    recorded = ingest(business, data)
    return Status(201 if recorded.created else 200, purchase_out(recorded.purchase))


_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": MAX_BATCH,
                            "items": {"$ref": "#/components/schemas/PurchaseIn"},
                        }
                    },
                }
            }
        },
    }
}


def _items_of(request: HttpRequest) -> list[Any]:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError({"request": [_("The body is not JSON.")]}) from exc
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationError({"items": [_("Send a list of purchases in “items”.")]})
    return items


@router.post(
    "/batch", response={200: BatchOut, **COMMON_PROBLEMS, 413: Problem},
    auth=WRITE, operation_id="purchase_batch", openapi_extra=_BATCH_BODY,
    summary=f"Record up to {MAX_BATCH} purchases: good items go in, bad ones are reported",
)
def batch(request: HttpRequest) -> Any:
    """Each item is checked and recorded on its own (its own transaction): the good ones
    go in, every bad one is reported by its index with the field and reason. Send again
    with the same `external_id`s and nothing is counted twice."""
    business = require_scope(request, "write")
    items = _items_of(request)
    if len(items) > MAX_BATCH:
        return problem(
            413, _("At most %(max)s purchases per call; this one has %(n)s.")
            % {"max": MAX_BATCH, "n": len(items)}, [("items", str(len(items)))],
        )
    results: list[BatchItemOut] = []
    for index, raw in enumerate(items):
        errors: list[tuple[str, str]] = []
        try:
            if not isinstance(raw, dict):
                raise ValidationError({"item": [_("Each item is an object.")]})
            recorded = ingest(business, PurchaseIn.model_validate(raw))
        except pydantic.ValidationError as exc:
            errors = [(".".join(str(p) for p in e["loc"]) or "item", e["msg"])
                      for e in exc.errors()]
        except ValidationError as exc:
            errors = django_errors(exc)
        if errors:
            results.append(BatchItemOut(index=index, status="rejected", id=None,
                                        errors=_fields(errors)))
        else:
            results.append(BatchItemOut(
                index=index, status="created" if recorded.created else "duplicate",
                id=recorded.purchase.pk,
            ))
    return BatchOut(
        created=sum(r.status == "created" for r in results),
        duplicates=sum(r.status == "duplicate" for r in results),
        rejected=sum(r.status == "rejected" for r in results),
        results=results,
    )


def _fields(errors: list[tuple[str, str]]) -> list[FieldError]:
    return [FieldError(field=f, reason=r) for f, r in errors]


@router.get(
    "", response={200: PurchasePage, **COMMON_PROBLEMS}, auth=READ,
    operation_id="purchase_list",
)
def list_purchases(request: HttpRequest, filters: Query[PurchaseQuery]) -> PurchasePage:
    business = require_scope(request, "read")
    purchases = Purchase.objects.filter(business=business)
    if filters.contact_id is not None:
        purchases = purchases.filter(contact_id=filters.contact_id)
    if filters.since is not None:
        purchases = purchases.filter(purchased_at__gte=filters.since)
    rows, cursor = page(purchases, filters.cursor, filters.limit)
    return PurchasePage(items=[purchase_out(p) for p in rows], next_cursor=cursor)


@router.get(
    "/{purchase_id}", response={200: PurchaseOut, **COMMON_PROBLEMS, 404: Problem},
    auth=READ, operation_id="purchase_read",
)
def read(request: HttpRequest, purchase_id: int) -> PurchaseOut:
    business = require_scope(request, "read")
    return purchase_out(get_for(business, Purchase.objects.all(), purchase_id))
