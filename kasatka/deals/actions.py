"""Business actions on deals: open one, move it between stages, win or lose it.

Every change goes through here so that the history is written and the nudge clock is
right: entering a stage where the client decides starts the wait; leaving it stops it.
The reasons Kasatka writes into the history are English message ids (gettext_noop),
translated when shown: a worker has no language of its own.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kasatka.accounts.calendar import BusinessCalendar
from kasatka.accounts.models import User
from kasatka.contacts.models import Contact
from kasatka.engine.clock import now as clock_now
from kasatka.sales.models import LossKind, LossReason
from kasatka.webhooks import events as webhooks

from .models import (
    Deal,
    DealStage,
    DealStageChange,
    DealStatus,
    DealTask,
    Nudge,
    NudgeState,
    Pipeline,
)

# The loss reason of a deal the client declined in answer to a nudge.
CLIENT_SAID_NO = "Клиент сказал «нет»"


def create_deal(
    contact: Contact,
    title: str,
    amount: Decimal | int | str = 0,
    stage: DealStage | None = None,
    seller: User | None = None,
    at: datetime | None = None,
    by: User | None = None,
) -> Deal:
    """Open a deal at a stage (default: the first stage of the business's first pipeline)."""
    at = at or clock_now()
    if stage is None:
        pipeline = Pipeline.objects.filter(business_id=contact.business_id, is_active=True).first()
        stage = pipeline.stages.order_by("position").first() if pipeline else None
        if stage is None:
            raise ValidationError(_("The business has no pipeline with stages yet."))
    if stage.pipeline.business_id != contact.business_id:
        raise ValidationError(_("The stage belongs to another business."))
    with transaction.atomic():
        deal = Deal.objects.create(
            business_id=contact.business_id, pipeline_id=stage.pipeline_id, stage=stage,
            contact=contact, seller=seller if seller is not None else contact.owner,
            title=title, amount=Decimal(amount), stage_entered_at=at, created_at=at,
            next_nudge_at=_stuck_at(BusinessCalendar(contact.business), stage, at),
        )
        DealStageChange.objects.create(
            business_id=deal.business_id, deal=deal, to_stage=stage, status=deal.status,
            at=at, by=by, reason=gettext_noop("deal opened"),
        )
    return deal


def _stuck_at(calendar: BusinessCalendar, stage: DealStage, entered: datetime) -> datetime | None:
    """When a deal entering `stage` at `entered` becomes stuck (None: it cannot be)."""
    if not stage.waits_for_client:
        return None
    return calendar.after_working_days(entered, stage.wait_days)


def move_deal(
    deal: Deal, stage: DealStage, at: datetime | None = None, by: User | None = None,
    reason: str = "",
) -> Deal:
    """Put an open deal into another stage of its pipeline; the wait starts afresh."""
    at = at or clock_now()
    if not deal.is_open:
        raise ValidationError(_("The deal is closed; reopen it first."))
    if stage.pipeline_id != deal.pipeline_id:
        raise ValidationError(_("The stage belongs to another pipeline."))
    if stage.pk == deal.stage_id:
        return deal
    with transaction.atomic():
        _record_change(deal, stage, DealStatus.OPEN, at, by, reason)
        deal.stage = stage
        deal.stage_entered_at = at
        deal.stuck_since = None
        deal.nudges_in_stage = 0
        deal.next_nudge_at = _stuck_at(BusinessCalendar(deal.business), stage, at)
        deal.save(update_fields=[
            "stage", "stage_entered_at", "stuck_since", "nudges_in_stage", "next_nudge_at",
        ])
        _retire_nudges(deal, at)
    return deal


def next_stage(deal: Deal) -> DealStage | None:
    return (
        DealStage.objects.filter(pipeline_id=deal.pipeline_id, position__gt=deal.stage.position)
        .order_by("position")
        .first()
    )


def win_deal(
    deal: Deal, at: datetime | None = None, by: User | None = None, reason: str = ""
) -> Deal:
    return _close(deal, DealStatus.WON, at or clock_now(), by, reason)


def lose_deal(
    deal: Deal,
    loss_reason: LossReason,
    at: datetime | None = None,
    by: User | None = None,
    note: str = "",
) -> Deal:
    """Close a deal as lost; the reason, objective or not, is the business's own list's."""
    if loss_reason.business_id != deal.business_id:
        raise ValidationError(_("The loss reason belongs to another business."))
    deal.loss_reason = loss_reason
    deal.loss_note = note[:500]
    return _close(deal, DealStatus.LOST, at or clock_now(), by, note or loss_reason.name)


def reopen_deal(
    deal: Deal, stage: DealStage, at: datetime | None = None, by: User | None = None,
    reason: str = "",
) -> Deal:
    """A closed deal back in play (a mistaken "lost", a client who came back)."""
    at = at or clock_now()
    with transaction.atomic():
        _record_change(deal, stage, DealStatus.OPEN, at, by, reason or gettext_noop("reopened"))
        deal.status = DealStatus.OPEN
        deal.stage = stage
        deal.loss_reason = None
        deal.loss_note = ""
        deal.closed_at = None
        deal.stage_entered_at = at
        deal.stuck_since = None
        deal.nudges_in_stage = 0
        deal.next_nudge_at = _stuck_at(BusinessCalendar(deal.business), stage, at)
        deal.save()
    return deal


def _close(deal: Deal, status: str, at: datetime, by: User | None, reason: str) -> Deal:
    if not deal.is_open:
        raise ValidationError(_("The deal is closed already."))
    with transaction.atomic():
        _record_change(deal, deal.stage, status, at, by, reason)
        deal.status = status
        deal.closed_at = at
        deal.stuck_since = None
        deal.next_nudge_at = None
        deal.save(update_fields=[
            "status", "closed_at", "stuck_since", "next_nudge_at", "loss_reason", "loss_note",
        ])
        _retire_nudges(deal, at)
        # Nothing is left to do on a closed deal.
        DealTask.objects.filter(deal=deal, done_at__isnull=True).update(
            done_at=at, cancelled=True
        )
    return deal


def _record_change(
    deal: Deal, stage: DealStage, status: str, at: datetime, by: User | None, reason: str
) -> None:
    DealStageChange.objects.create(
        business_id=deal.business_id, deal=deal, from_stage_id=deal.stage_id, to_stage=stage,
        status=status, at=at, by=by, reason=reason[:300],
    )
    webhooks.on_deal_stage_changed(deal, stage, status, at, reason)


def _retire_nudges(deal: Deal, at: datetime) -> None:
    """The deal moved on: a question not yet asked is moot, one asked stays unanswered."""
    Nudge.objects.filter(deal=deal, state=NudgeState.PROPOSED).update(state=NudgeState.CANCELLED)
    Nudge.objects.filter(deal=deal, state=NudgeState.THROWN).update(state=NudgeState.UNANSWERED)


def client_said_no(business_id: int) -> LossReason:
    """The business's loss reason for a "no" to a nudge: a clear answer, not a seller's error."""
    reason, _created = LossReason.objects.get_or_create(
        business_id=business_id, name=CLIENT_SAID_NO,
        defaults={"kind": LossKind.OBJECTIVE, "position": 90},
    )
    return reason
