"""Enrolments: put a contact on a chain, pause, resume or stop it; list and read them."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from kasatka.chains.actions import AlreadyEnrolled, enroll
from kasatka.chains.control import pause_enrollment, resume_enrollment, stop_enrollment
from kasatka.chains.models import Chain, Enrollment
from kasatka.contacts.models import Contact

from ..auth import READ, WRITE, require_scope
from ..problems import COMMON_PROBLEMS, Problem, problem
from ..schemas import EnrollmentIn, EnrollmentOut, EnrollmentPage, EnrollmentQuery, StopIn
from .common import get_for, page

router = Router(tags=["enrollments"])

# Why an enrolment stopped through the API ended, when the caller gives no reason.
STOPPED = "stopped through the API"


def enrollment_out(e: Enrollment) -> EnrollmentOut:
    return EnrollmentOut(
        id=e.pk, contact_id=e.contact_id, chain_id=e.chain_id, step_id=e.step_id, state=e.state,
        next_touch_at=e.next_touch_at, enrolled_at=e.enrolled_at, last_touch_at=e.last_touch_at,
        ended_at=e.ended_at, exit_reason=e.exit_reason,
    )


@router.post(
    "", response={201: EnrollmentOut, **COMMON_PROBLEMS, 409: Problem},
    auth=WRITE, operation_id="enrollment_create",
    summary="Enrol a contact on a chain (409 when already going through it)",
)
def create(request: HttpRequest, data: EnrollmentIn) -> Any:
    business = require_scope(request, "write")
    contact = Contact.objects.filter(business=business, pk=data.contact_id).first()
    chain = Chain.objects.filter(business=business, pk=data.chain_id).first()
    errors: dict[str, list[str]] = {}
    if contact is None:
        errors["contact_id"] = [_("No such contact in this business.")]
    if chain is None:
        errors["chain_id"] = [_("No such chain in this business.")]
    if errors:
        raise ValidationError(errors)
    assert contact is not None and chain is not None
    try:
        enrollment = enroll(contact, chain)
    except AlreadyEnrolled:
        return problem(409, _("The contact is already going through this chain."),
                       [("chain_id", str(chain.pk))])
    except ValueError as exc:  # a chain without steps
        raise ValidationError({"chain_id": [str(exc)]}) from exc
    return Status(201, enrollment_out(enrollment))


@router.get(
    "", response={200: EnrollmentPage, **COMMON_PROBLEMS}, auth=READ, operation_id="enrollment_list"
)
def list_enrollments(request: HttpRequest, filters: Query[EnrollmentQuery]) -> EnrollmentPage:
    business = require_scope(request, "read")
    enrollments = Enrollment.objects.filter(business=business)
    if filters.contact_id is not None:
        enrollments = enrollments.filter(contact_id=filters.contact_id)
    if filters.chain_id is not None:
        enrollments = enrollments.filter(chain_id=filters.chain_id)
    if filters.state:
        enrollments = enrollments.filter(state=filters.state)
    rows, cursor = page(enrollments, filters.cursor, filters.limit)
    return EnrollmentPage(items=[enrollment_out(e) for e in rows], next_cursor=cursor)


@router.get(
    "/{enrollment_id}", response={200: EnrollmentOut, **COMMON_PROBLEMS, 404: Problem},
    auth=READ, operation_id="enrollment_read",
)
def read(request: HttpRequest, enrollment_id: int) -> EnrollmentOut:
    business = require_scope(request, "read")
    return enrollment_out(get_for(business, Enrollment.objects.all(), enrollment_id))


_CHANGE = {200: EnrollmentOut, **COMMON_PROBLEMS, 404: Problem, 409: Problem}


def _not_in_state(enrollment: Enrollment, wanted: str) -> Any:
    return problem(
        409, _("The enrolment is %(state)s; only an enrolment %(wanted)s can be changed so.")
        % {"state": enrollment.state, "wanted": wanted}, [("state", enrollment.state)],
    )


@router.post(
    "/{enrollment_id}/pause", response=_CHANGE, auth=WRITE, operation_id="enrollment_pause",
    summary="Stop sending but keep the contact's place in the chain",
)
def pause(request: HttpRequest, enrollment_id: int) -> Any:
    business = require_scope(request, "write")
    enrollment = get_for(business, Enrollment.objects.all(), enrollment_id)
    if not pause_enrollment(enrollment):
        return _not_in_state(enrollment, "active")
    return enrollment_out(enrollment)


@router.post(
    "/{enrollment_id}/resume", response=_CHANGE, auth=WRITE, operation_id="enrollment_resume",
    summary="Go on from the step it was paused at",
)
def resume(request: HttpRequest, enrollment_id: int) -> Any:
    business = require_scope(request, "write")
    enrollment = get_for(business, Enrollment.objects.all(), enrollment_id)
    if not resume_enrollment(enrollment):
        return _not_in_state(enrollment, "paused")
    return enrollment_out(enrollment)


@router.post(
    "/{enrollment_id}/stop", response=_CHANGE, auth=WRITE, operation_id="enrollment_stop",
    summary="End the enrolment for good (a new enrolment may start it again)",
)
def stop(request: HttpRequest, enrollment_id: int, data: StopIn) -> Any:
    business = require_scope(request, "write")
    enrollment = get_for(business, Enrollment.objects.all(), enrollment_id)
    if not stop_enrollment(enrollment, data.reason.strip() or STOPPED):
        return _not_in_state(enrollment, "active or paused")
    return enrollment_out(enrollment)
