"""The business's lists other resources refer to by id: sellers, loss reasons, pipelines
with their stages, chains. Read only."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpRequest
from ninja import Router

from kasatka.accounts.models import User
from kasatka.chains.models import Chain
from kasatka.deals.models import DealStage, Pipeline
from kasatka.sales.models import LossReason

from ..auth import READ, require_scope
from ..problems import COMMON_PROBLEMS
from ..schemas import ChainOut, LossReasonOut, PipelineOut, SellerOut, StageOut

router = Router(tags=["reference"])


@router.get("/sellers", response={200: list[SellerOut], **COMMON_PROBLEMS},
            auth=READ, operation_id="seller_list")
def sellers(request: HttpRequest) -> list[SellerOut]:
    business = require_scope(request, "read")
    return [
        SellerOut(id=u.pk, username=u.username, first_name=u.first_name,
                  last_name=u.last_name, role=u.role, is_active=u.is_active)
        for u in User.objects.filter(business=business).order_by("id")
    ]


@router.get("/loss-reasons", response={200: list[LossReasonOut], **COMMON_PROBLEMS},
            auth=READ, operation_id="loss_reason_list")
def loss_reasons(request: HttpRequest) -> list[LossReasonOut]:
    business = require_scope(request, "read")
    return [
        LossReasonOut(id=r.pk, name=r.name, kind=r.kind, is_active=r.is_active)
        for r in LossReason.objects.filter(business=business)
    ]


@router.get("/pipelines", response={200: list[PipelineOut], **COMMON_PROBLEMS},
            auth=READ, operation_id="pipeline_list")
def pipelines(request: HttpRequest) -> list[PipelineOut]:
    business = require_scope(request, "read")
    rows = Pipeline.objects.filter(business=business).prefetch_related(
        Prefetch("stages", queryset=DealStage.objects.order_by("position"))
    )
    return [
        PipelineOut(
            id=p.pk, name=p.name, is_active=p.is_active,
            stages=[StageOut(id=s.pk, name=s.name, position=s.position,
                             waits_for_client=s.waits_for_client) for s in p.stages.all()],
        )
        for p in rows
    ]


@router.get("/chains", response={200: list[ChainOut], **COMMON_PROBLEMS},
            auth=READ, operation_id="chain_list")
def chains(request: HttpRequest) -> list[ChainOut]:
    business = require_scope(request, "read")
    return [
        ChainOut(id=c.pk, name=c.name, kind=c.kind, is_active=c.is_active,
                 exit_on_purchase=c.exit_on_purchase)
        for c in Chain.objects.filter(business=business).order_by("id")
    ]
