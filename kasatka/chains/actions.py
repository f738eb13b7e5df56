"""Business actions on chains: enrol a contact, end enrollments, schedule the next step, save
what the chain editor sends and enable or pause a chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.utils.translation import gettext as _

from kasatka.contacts.models import Contact
from kasatka.engine.clock import now as clock_now

# The linter reads models only, never actions: importing it here makes no cycle.
from .linter import ERROR, Finding, lint_chain
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


# --- the chain editor ------------------------------------------------------------


@dataclass(frozen=True)
class StepData:
    """A step as the editor sends it: saved by `save_chain`, or linted unsaved (a StepLike)."""

    position: int
    delay: timedelta
    delay_from: str
    channels: list[str]
    is_commercial: bool
    reason: str
    subject_template: str
    body_template: str
    options: dict[str, Any] = field(default_factory=dict)
    id: int | None = None  # the saved step it edits; None for a new one


class StepInUse(Exception):
    """A step the editor would remove has history: touches sent or contacts at it."""

    def __init__(self, step_id: int) -> None:
        super().__init__(f"step {step_id} has touches or enrollments")
        self.step_id = step_id


class StaleSteps(Exception):
    """The editor names steps the chain no longer has (changed elsewhere meanwhile)."""


class ChainHasErrors(Exception):
    """The chain cannot be enabled: the linter finds errors the engine must never send."""

    def __init__(self, findings: list[Finding]) -> None:
        super().__init__("; ".join(f.code for f in findings))
        self.findings = findings


def save_chain(chain: Chain, steps: Sequence[StepData]) -> Chain:
    """Save the chain and its steps in the order given (positions 1…n): all or nothing.

    Steps missing from `steps` are removed, unless they have history: touches and
    enrollments point at their step, and that record is kept (StepInUse).
    """
    with transaction.atomic():
        chain.save()
        existing = {s.pk: s for s in Step.objects.select_for_update().filter(chain=chain)}
        kept = {s.id for s in steps if s.id is not None}
        if kept - existing.keys():
            raise StaleSteps(sorted(kept - existing.keys()))
        removed = existing.keys() - kept
        for step_id in sorted(removed):
            if (
                Touch.objects.filter(step_id=step_id).exists()
                or Enrollment.objects.filter(step_id=step_id).exists()
            ):
                raise StepInUse(step_id)
        Step.objects.filter(pk__in=removed).delete()
        # Positions are unique per chain: move the kept steps out of 1…n first, so that
        # giving each its new place never meets another step still standing there.
        Step.objects.filter(chain=chain).update(position=F("position") + len(steps) + 1)
        for position, data in enumerate(steps, start=1):
            step = existing[data.id] if data.id is not None else Step(chain=chain)
            step.position = position
            step.delay = data.delay
            step.delay_from = data.delay_from
            step.channels = list(data.channels)
            step.is_commercial = data.is_commercial
            step.reason = data.reason
            step.subject_template = data.subject_template
            step.body_template = data.body_template
            step.options = dict(data.options)
            step.save()  # validated again (Step.save): a broken template never lands
    return chain


def set_chain_active(chain: Chain, active: bool) -> None:
    """Enable or pause a chain; a chain the linter finds errors in is not enabled."""
    if active:
        errors = [f for f in lint_chain(chain) if f.level == ERROR]
        if errors:
            raise ChainHasErrors(errors)
    Chain.objects.filter(pk=chain.pk).update(is_active=active)
    chain.is_active = active
