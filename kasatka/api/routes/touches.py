"""Touches: what the chains sent (or skipped), read only."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from kasatka.chains.models import Touch

from ..auth import READ, require_scope
from ..problems import COMMON_PROBLEMS, Problem
from ..schemas import TouchOut, TouchPage, TouchQuery
from .common import get_for, page

router = Router(tags=["touches"])


def touch_out(t: Touch) -> TouchOut:
    return TouchOut(
        id=t.pk, enrollment_id=t.enrollment_id, step_id=t.step_id, contact_id=t.contact_id,
        channel=t.channel, to=t.to, is_commercial=t.is_commercial, subject=t.subject,
        body=t.body, status=t.status, error=t.error, attempts=t.attempts,
        created_at=t.created_at, sent_at=t.sent_at, updated_at=t.updated_at,
    )


@router.get("", response={200: TouchPage, **COMMON_PROBLEMS}, auth=READ, operation_id="touch_list")
def list_touches(request: HttpRequest, filters: Query[TouchQuery]) -> TouchPage:
    business = require_scope(request, "read")
    touches = Touch.objects.filter(business=business)
    if filters.contact_id is not None:
        touches = touches.filter(contact_id=filters.contact_id)
    if filters.enrollment_id is not None:
        touches = touches.filter(enrollment_id=filters.enrollment_id)
    if filters.status:
        touches = touches.filter(status=filters.status)
    if filters.channel:
        touches = touches.filter(channel=filters.channel)
    if filters.updated_since is not None:
        touches = touches.filter(updated_at__gte=filters.updated_since)
    rows, cursor = page(touches, filters.cursor, filters.limit)
    return TouchPage(items=[touch_out(t) for t in rows], next_cursor=cursor)


@router.get(
    "/{touch_id}", response={200: TouchOut, **COMMON_PROBLEMS, 404: Problem},
    auth=READ, operation_id="touch_read",
)
def read(request: HttpRequest, touch_id: int) -> TouchOut:
    business = require_scope(request, "read")
    return touch_out(get_for(business, Touch.objects.all(), touch_id))
