"""Business actions of sales: record a visit, record a purchase."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction

from kasatka.accounts.models import User
from kasatka.chains.actions import AlreadyEnrolled, enroll, exit_on_purchase
from kasatka.chains.models import Chain, ChainKind
from kasatka.contacts.models import Contact, Stage
from kasatka.engine.clock import now as clock_now

from .models import Purchase, Visit, VisitType

# Which chain a visit of each type starts (METHOD.md §1); types 2 and 4 are only counted.
ENROL_BY_VISIT_TYPE = {
    VisitType.BOUGHT_CONTACTS_TAKEN: ChainKind.LOYALTY,
    VisitType.LEFT_CONTACTS_TAKEN: ChainKind.WARMING,
}


def _enrol_in_kind(contact: Contact, kind: str, at: datetime) -> None:
    chain = (
        Chain.objects.filter(business_id=contact.business_id, kind=kind, is_active=True)
        .order_by("id")
        .first()
    )
    if chain is not None:
        try:
            enroll(contact, chain, at)
        except AlreadyEnrolled:
            pass  # already on their way through it: one enrollment per chain at a time


def record_purchase(
    contact: Contact,
    amount: Decimal,
    seller: User | None = None,
    at: datetime | None = None,
    note: str = "",
) -> Purchase:
    """A purchase: ends warming chains that exit on purchase and starts loyalty."""
    at = at or clock_now()
    with transaction.atomic():
        purchase = Purchase.objects.create(
            business_id=contact.business_id,
            contact=contact,
            amount=amount,
            seller=seller,
            purchased_at=at,
            note=note,
        )
        exit_on_purchase(contact, at)
        if contact.stage == Stage.LEAD:
            contact.stage = Stage.NEW
            contact.save(update_fields=["stage", "updated_at"])
        _enrol_in_kind(contact, ChainKind.LOYALTY, at)
    return purchase


def record_visit(
    contact: Contact | None,
    *,
    business_id: int,
    bought: bool,
    contacts_taken: bool,
    seller: User | None = None,
    amount: Decimal | None = None,
    note: str = "",
    at: datetime | None = None,
) -> Visit:
    """Record and classify a visit; type 1 enrols loyalty, type 3 warming."""
    at = at or clock_now()
    with transaction.atomic():
        visit = Visit.objects.create(
            business_id=business_id,
            contact=contact if contacts_taken else None,
            seller=seller,
            occurred_at=at,
            bought=bought,
            contacts_taken=contacts_taken,
            amount=amount,
            note=note,
        )
        if contact is not None and contacts_taken:
            if bought:
                record_purchase(contact, amount or Decimal(0), seller, at)
            else:
                _enrol_in_kind(contact, ENROL_BY_VISIT_TYPE[VisitType(visit.visit_type)], at)
    return visit
