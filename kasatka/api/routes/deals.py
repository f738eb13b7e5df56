"""Deals: open one, list and read them, move one to another stage, win or lose it."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from kasatka.contacts.models import Contact
from kasatka.deals.actions import create_deal, lose_deal, move_deal, win_deal
from kasatka.deals.models import Deal, DealStage
from kasatka.sales.models import LossReason

from ..auth import READ, WRITE, require_scope
from ..problems import COMMON_PROBLEMS, Problem
from ..schemas import DealIn, DealLoseIn, DealMoveIn, DealOut, DealPage, DealQuery, DealWinIn
from .common import get_for, page, user_in

router = Router(tags=["deals"])


def deal_out(deal: Deal) -> DealOut:
    return DealOut(
        id=deal.pk, contact_id=deal.contact_id, pipeline_id=deal.pipeline_id,
        stage_id=deal.stage_id, seller_id=deal.seller_id, title=deal.title, amount=deal.amount,
        status=deal.status, loss_reason_id=deal.loss_reason_id, loss_note=deal.loss_note,
        stage_entered_at=deal.stage_entered_at, stuck_since=deal.stuck_since,
        created_at=deal.created_at, closed_at=deal.closed_at,
    )


def _stage(business_id: int, pk: int | None) -> DealStage | None:
    if pk is None:
        return None
    stage = (
        DealStage.objects.select_related("pipeline")
        .filter(pipeline__business_id=business_id, pk=pk).first()
    )
    if stage is None:
        raise ValidationError({"stage_id": [_("No such stage in this business.")]})
    return stage


@router.post("", response={201: DealOut, **COMMON_PROBLEMS}, auth=WRITE, operation_id="deal_create")
def create(request: HttpRequest, data: DealIn) -> Any:
    business = require_scope(request, "write")
    contact = Contact.objects.filter(business=business, pk=data.contact_id).first()
    if contact is None:
        raise ValidationError({"contact_id": [_("No such contact in this business.")]})
    deal = create_deal(
        contact, data.title, data.amount, stage=_stage(business.pk, data.stage_id),
        seller=user_in(business, data.seller_id, "seller_id"),
    )
    return Status(201, deal_out(deal))


@router.get("", response={200: DealPage, **COMMON_PROBLEMS}, auth=READ, operation_id="deal_list")
def list_deals(request: HttpRequest, filters: Query[DealQuery]) -> DealPage:
    business = require_scope(request, "read")
    deals = Deal.objects.filter(business=business)
    if filters.status:
        deals = deals.filter(status=filters.status)
    for field in ("stage_id", "contact_id", "seller_id"):
        value = getattr(filters, field)
        if value is not None:
            deals = deals.filter(**{field: value})
    rows, cursor = page(deals, filters.cursor, filters.limit)
    return DealPage(items=[deal_out(d) for d in rows], next_cursor=cursor)


def _deal(request: HttpRequest, deal_id: int, scope: str) -> Deal:
    business = require_scope(request, scope)
    return get_for(business, Deal.objects.select_related("business", "stage"), deal_id)


@router.get(
    "/{deal_id}", response={200: DealOut, **COMMON_PROBLEMS, 404: Problem},
    auth=READ, operation_id="deal_read",
)
def read(request: HttpRequest, deal_id: int) -> DealOut:
    return deal_out(_deal(request, deal_id, "read"))


@router.post(
    "/{deal_id}/move", response={200: DealOut, **COMMON_PROBLEMS, 404: Problem},
    auth=WRITE, operation_id="deal_move",
    summary="Put an open deal into another stage of its pipeline",
)
def move(request: HttpRequest, deal_id: int, data: DealMoveIn) -> DealOut:
    deal = _deal(request, deal_id, "write")
    stage = _stage(deal.business_id, data.stage_id)
    assert stage is not None
    return deal_out(move_deal(deal, stage, reason=data.reason))


@router.post(
    "/{deal_id}/win", response={200: DealOut, **COMMON_PROBLEMS, 404: Problem},
    auth=WRITE, operation_id="deal_win",
)
def win(request: HttpRequest, deal_id: int, data: DealWinIn) -> DealOut:
    deal = _deal(request, deal_id, "write")
    return deal_out(win_deal(deal, reason=data.reason))


@router.post(
    "/{deal_id}/lose", response={200: DealOut, **COMMON_PROBLEMS, 404: Problem},
    auth=WRITE, operation_id="deal_lose",
    summary="Close a deal as lost, with a reason of the business's list",
)
def lose(request: HttpRequest, deal_id: int, data: DealLoseIn) -> DealOut:
    deal = _deal(request, deal_id, "write")
    reason = LossReason.objects.filter(business_id=deal.business_id, pk=data.loss_reason_id).first()
    if reason is None:
        raise ValidationError({"loss_reason_id": [_("No such loss reason in this business.")]})
    if not deal.is_open:
        raise ValidationError({"request": [_("The deal is closed already.")]})
    return deal_out(lose_deal(deal, reason, note=data.note))
