"""Visits: recorded as the seller's form records them (classified, chains started)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from kasatka.contacts.models import Contact
from kasatka.engine.clock import now as clock_now
from kasatka.sales.actions import check_visit_outcome, record_visit, record_visit_from_form
from kasatka.sales.models import LossReason, Visit

from ..auth import READ, WRITE, require_scope
from ..problems import COMMON_PROBLEMS, Problem
from ..schemas import VisitIn, VisitOut, VisitPage, VisitQuery
from .common import get_for, page, user_in

router = Router(tags=["visits"])


def visit_out(visit: Visit) -> VisitOut:
    return VisitOut(
        id=visit.pk, contact_id=visit.contact_id, seller_id=visit.seller_id,
        occurred_at=visit.occurred_at, bought=visit.bought, contacts_taken=visit.contacts_taken,
        visit_type=visit.visit_type, amount=visit.amount, loss_reason_id=visit.loss_reason_id,
        note=visit.note,
    )


@router.post(
    "", response={201: VisitOut, **COMMON_PROBLEMS}, auth=WRITE, operation_id="visit_create",
    summary="Record a visit: type 1 starts loyalty, type 3 warming",
)
def create(request: HttpRequest, data: VisitIn) -> Any:
    business = require_scope(request, "write")
    seller = user_in(business, data.seller_id, "seller_id")
    reason = None
    if data.loss_reason_id is not None:
        reason = LossReason.objects.filter(business=business, pk=data.loss_reason_id).first()
        if reason is None:
            raise ValidationError({"loss_reason_id": [_("No such loss reason in this business.")]})
    at = data.occurred_at or clock_now()
    if data.contact_id is None:
        visit = record_visit_from_form(
            business, seller=seller, bought=data.bought, contacts_taken=data.contacts_taken,
            name=data.name, phone=data.phone, email=data.email,
            consent_channels=data.consent_channels, amount=data.amount,
            on_promotion=data.on_promotion, loss_reason=reason, note=data.note, at=at,
        )
        return Status(201, visit_out(visit))
    contact = Contact.objects.filter(business=business, pk=data.contact_id).first()
    if contact is None:
        raise ValidationError({"contact_id": [_("No such contact in this business.")]})
    if not data.contacts_taken:
        raise ValidationError(
            {"contacts_taken": [_("A visit of a known contact has its contacts taken.")]}
        )
    check_visit_outcome(business.pk, bought=data.bought, amount=data.amount, loss_reason=reason)
    with transaction.atomic():
        visit = record_visit(
            contact, business_id=business.pk, bought=data.bought, contacts_taken=True,
            seller=seller, amount=data.amount, loss_reason=reason, note=data.note, at=at,
            on_promotion=data.on_promotion,
        )
    return Status(201, visit_out(visit))


@router.get("", response={200: VisitPage, **COMMON_PROBLEMS}, auth=READ, operation_id="visit_list")
def list_visits(request: HttpRequest, filters: Query[VisitQuery]) -> VisitPage:
    business = require_scope(request, "read")
    visits = Visit.objects.filter(business=business)
    if filters.contact_id is not None:
        visits = visits.filter(contact_id=filters.contact_id)
    if filters.since is not None:
        visits = visits.filter(occurred_at__gte=filters.since)
    rows, cursor = page(visits, filters.cursor, filters.limit)
    return VisitPage(items=[visit_out(v) for v in rows], next_cursor=cursor)


@router.get(
    "/{visit_id}", response={200: VisitOut, **COMMON_PROBLEMS, 404: Problem},
    auth=READ, operation_id="visit_read",
)
def read(request: HttpRequest, visit_id: int) -> VisitOut:
    business = require_scope(request, "read")
    return visit_out(get_for(business, Visit.objects.all(), visit_id))
