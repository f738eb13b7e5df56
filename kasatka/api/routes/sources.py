"""Lead sources: where leads come from (list, create, read)."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from kasatka.sales.models import LeadSource

from ..auth import READ, WRITE, require_scope
from ..problems import COMMON_PROBLEMS, Problem, problem
from ..schemas import LeadSourceIn, LeadSourceOut, LeadSourcePage, PageQuery
from .common import get_for, page

router = Router(tags=["lead sources"])


def source_out(s: LeadSource) -> LeadSourceOut:
    return LeadSourceOut(
        id=s.pk, name=s.name, channel=s.channel, utm_source=s.utm_source,
        utm_medium=s.utm_medium, utm_campaign=s.utm_campaign, created_at=s.created_at,
    )


def _same_name(business_id: int, name: str) -> LeadSource | None:
    # Compared in Python: SQLite folds the case of ASCII letters only, not Cyrillic.
    wanted = name.casefold()
    for source in LeadSource.objects.filter(business_id=business_id).order_by("id"):
        if source.name.casefold() == wanted:
            return source
    return None


@router.post(
    "", response={201: LeadSourceOut, **COMMON_PROBLEMS, 409: Problem},
    auth=WRITE, operation_id="lead_source_create",
    summary="Add a lead source (409 when the name is taken)",
)
def create(request: HttpRequest, data: LeadSourceIn) -> Any:
    business = require_scope(request, "write")
    name = data.name.strip()
    taken = _same_name(business.pk, name)
    if taken is None:
        try:
            with transaction.atomic():
                source = LeadSource.objects.create(
                    business=business, name=name, channel=data.channel.strip(),
                    utm_source=data.utm_source.strip(), utm_medium=data.utm_medium.strip(),
                    utm_campaign=data.utm_campaign.strip(),
                )
            return Status(201, source_out(source))
        except IntegrityError:
            taken = _same_name(business.pk, name)
    return problem(
        409, _("A lead source has this name already."),
        [("name", str(taken.pk) if taken else name)],
    )


@router.get(
    "", response={200: LeadSourcePage, **COMMON_PROBLEMS}, auth=READ,
    operation_id="lead_source_list",
)
def list_sources(request: HttpRequest, filters: Query[PageQuery]) -> LeadSourcePage:
    business = require_scope(request, "read")
    rows, cursor = page(LeadSource.objects.filter(business=business), filters.cursor,
                        filters.limit)
    return LeadSourcePage(items=[source_out(s) for s in rows], next_cursor=cursor)


@router.get(
    "/{source_id}", response={200: LeadSourceOut, **COMMON_PROBLEMS, 404: Problem},
    auth=READ, operation_id="lead_source_read",
)
def read(request: HttpRequest, source_id: int) -> LeadSourceOut:
    business = require_scope(request, "read")
    return source_out(get_for(business, LeadSource.objects.all(), source_id))
