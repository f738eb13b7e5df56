"""Business actions on chains: enrol a contact, end enrollments, schedule the next step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from kasatka.contacts.models import Contact
from kasatka.engine.clock import now as clock_now

from .models import (
    LIVE_ENROLLMENT_STATES,
    Chain,
    DelayFrom,
    Enrollment,
    EnrollmentState,
    Step,
    Touch,
    TouchStatus,
)


class AlreadyEnrolled(Exception):
    """The contact is already going through this chain."""


def due_time(step: Step, enrolled_at: datetime, previous_at: datetime) -> datetime:
    """When a step is due: counted from the enrollment or from the previous touch."""
    if step.delay_from == DelayFrom.ENROLLMENT:
        return max(enrolled_at + step.delay, previous_at)
    return previous_at + step.delay


def enroll(contact: Contact, chain: Chain, at: datetime | None = None) -> Enrollment:
    """Start a contact on a chain's first step; a contact is never in one chain twice at once."""
    at = at or clock_now()
    if chain.business_id != contact.business_id:
        raise ValueError("chain and contact belong to different businesses")
    first = chain.steps.order_by("position").first()
    if first is None:
        raise ValueError(_("The chain has no steps."))
    try:
        with transaction.atomic():
            return Enrollment.objects.create(
                business_id=contact.business_id,
                contact=contact,
                chain=chain,
                step=first,
                state=EnrollmentState.ACTIVE,
                next_touch_at=due_time(first, at, at),
                enrolled_at=at,
            )
    except IntegrityError as exc:
        raise AlreadyEnrolled(f"{contact} is already in {chain}") from exc


def end_enrollments(
    enrollments: QuerySet[Enrollment], reason: str, at: datetime | None = None
) -> int:
    """Exit live enrollments with a reason; claimed ones are released too."""
    fields: dict[str, Any] = {
        "state": EnrollmentState.EXITED,
        "next_touch_at": None,
        "lease_owner": "",
        "lease_until": None,
        "ended_at": at or clock_now(),
        "exit_reason": reason,
    }
    return enrollments.filter(state__in=LIVE_ENROLLMENT_STATES).update(**fields)


def exit_on_purchase(contact: Contact, at: datetime | None = None) -> int:
    """A purchase ends the contact's enrollments in chains that exit on purchase."""
    return end_enrollments(
        Enrollment.objects.filter(contact=contact, chain__exit_on_purchase=True),
        "purchased",
        at,
    )


def mark_unsubscribed(touch_key: str) -> None:
    """The touch whose link was used shows that it ended in an unsubscribe."""
    Touch.objects.filter(idempotency_key=touch_key).update(
        status=TouchStatus.UNSUBSCRIBED, updated_at=clock_now()
    )
