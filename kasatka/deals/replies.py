"""A client's answer to a nudge: read it, act on it, and let the seller correct the reading.

- yes: the deal moves to the next stage (won after the last one), and the seller gets the
  stage's next-step task («Выставить счёт»).
- no: the deal is lost with "client said no"; with `nudge_no_winback` the client goes
  into the win-back chain after the win-back delay.
- a new date: the next nudge is put on that date.
- other (a question back, a request): a task for the seller to answer.

A correction undoes what the first reading did and applies the right answer; both readings
are kept on the reply (`predicted`, `answer`): labelled data for the classifier.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, override

from kasatka.accounts.calendar import BusinessCalendar
from kasatka.accounts.models import User, method_settings
from kasatka.chains.actions import AlreadyEnrolled, enroll
from kasatka.chains.models import ChainKind, Enrollment
from kasatka.channels.models import InboundMessage
from kasatka.engine.clock import now as clock_now
from kasatka.sales.default_chains import method_chain

from . import actions
from .classify import classify_reply
from .models import (
    Answer,
    Deal,
    DealReply,
    DealStatus,
    DealTask,
    Nudge,
    NudgeState,
    ReplySource,
    TaskKind,
)

log = logging.getLogger("kasatka.deals")

# A reply counts as the answer to a nudge thrown within this time.
ANSWER_WINDOW = timedelta(days=30)
_ANSWERED_STATES = (NudgeState.THROWN, NudgeState.UNANSWERED, NudgeState.ANSWERED)


def on_inbound(message: InboundMessage) -> DealReply | None:
    """A message from a contact: the answer to a nudge, if it is one (called by the channels)."""
    if message.contact_id is None:
        return None
    nudge = _answered_nudge(message, message.contact_id)
    if nudge is None:
        return None
    deal = nudge.deal
    reading = classify_reply(message.text, message.received_at, _zone(deal))
    reply = DealReply.objects.create(
        business_id=deal.business_id, deal=deal, nudge=nudge, message=message,
        source=ReplySource.MESSAGE, text=message.text, language=reading.language,
        received_at=message.received_at, predicted=reading.label,
        predicted_date=reading.date, answer=reading.label, answer_date=reading.date,
    )
    apply_reply(reply)
    return reply


def _answered_nudge(message: InboundMessage, contact_id: int) -> Nudge | None:
    """The nudge this message answers: the one its touch carried, else the contact's latest."""
    nudges = Nudge.objects.filter(
        deal__status=DealStatus.OPEN, state__in=_ANSWERED_STATES
    ).select_related("deal__business", "deal__stage", "deal__contact")
    if message.touch_id is not None:
        found = nudges.filter(enrollment__touches=message.touch_id).first()
        if found is not None:
            return found
    return (
        nudges.filter(
            deal__contact_id=contact_id,
            thrown_at__gte=message.received_at - ANSWER_WINDOW,
            thrown_at__lte=message.received_at,
        )
        .order_by("-thrown_at", "-id")
        .first()
    )


def _zone(deal: Deal) -> ZoneInfo:
    """Dates in a reply are the client's: their time zone, else the business's."""
    if deal.contact.time_zone:
        return ZoneInfo(deal.contact.time_zone)
    return deal.business.zone


def record_answer(
    deal: Deal,
    answer: str,
    by: User | None,
    answer_date: date | None = None,
    text: str = "",
    at: datetime | None = None,
) -> DealReply:
    """An answer the seller heard (a call, a visit) and records by hand."""
    at = at or clock_now()
    _check(answer, answer_date)
    if answer != Answer.DATE:
        answer_date = None  # a date picked by mistake beside another answer means nothing
    nudge = (
        Nudge.objects.filter(deal=deal, state__in=_ANSWERED_STATES)
        .order_by("-thrown_at", "-id")
        .first()
    )
    reply = DealReply.objects.create(
        business_id=deal.business_id, deal=deal, nudge=nudge, source=ReplySource.SELLER,
        text=text, received_at=at, answer=answer, answer_date=answer_date,
        corrected_by=by,
    )
    apply_reply(reply, by)
    return reply


def _check(answer: str, answer_date: date | None) -> None:
    if answer not in Answer.values:
        raise ValidationError({"answer": _("Unknown answer.")})
    if answer == Answer.DATE and answer_date is None:
        raise ValidationError({"answer_date": _("Say which date the client named.")})


def apply_reply(reply: DealReply, by: User | None = None) -> DealReply:
    """Act on a reply's answer; remembers where the deal stood, for a correction."""
    deal = Deal.objects.select_related("stage", "business", "contact").get(pk=reply.deal_id)
    at = reply.corrected_at or reply.received_at
    # Tasks are written in the business's language, whoever runs this (a worker, a webhook).
    with transaction.atomic(), override(deal.business.language):
        reply.stage_before_id = deal.stage_id
        reply.status_before = deal.status
        reply.next_nudge_before = deal.next_nudge_at
        reply.nudges_before = deal.nudges_in_stage
        reply.save(update_fields=[
            "stage_before", "status_before", "next_nudge_before", "nudges_before",
        ])
        if reply.nudge_id is not None:
            Nudge.objects.filter(pk=reply.nudge_id).update(
                state=NudgeState.ANSWERED, answer=reply.answer, answered_at=reply.received_at
            )
        if not deal.is_open:
            return reply  # closed meanwhile: the answer is kept, nothing to move
        if reply.answer == Answer.YES:
            _yes(deal, reply, at, by)
        elif reply.answer == Answer.NO:
            _no(deal, reply, at, by)
        elif reply.answer == Answer.DATE:
            _new_date(deal, reply)
        else:
            _other(deal, reply, at)
    return reply


def _yes(deal: Deal, reply: DealReply, at: datetime, by: User | None) -> None:
    step = deal.stage.next_step or _("Next step on “%(deal)s”") % {"deal": deal.title}
    following = actions.next_stage(deal)
    why = gettext_noop("the client said yes")
    if following is None:
        actions.win_deal(deal, at, by, why)
    else:
        actions.move_deal(deal, following, at, by, why)
    DealTask.objects.create(
        business_id=deal.business_id, deal=deal, seller_id=deal.seller_id, reply=reply,
        kind=TaskKind.NEXT_STEP, title=step, due_at=at, created_at=at,
    )


def _no(deal: Deal, reply: DealReply, at: datetime, by: User | None) -> None:
    actions.lose_deal(deal, actions.client_said_no(deal.business_id), at, by, reply.text[:500])
    settings = method_settings(deal.business_id)
    if not settings.nudge_no_winback:
        return
    chain = method_chain(deal.business_id, ChainKind.WINBACK)
    if chain is None:
        return
    try:
        enrollment = enroll(deal.contact, chain, at)
    except AlreadyEnrolled:
        return
    first = at + timedelta(days=settings.winback_delay_days)
    Enrollment.objects.filter(pk=enrollment.pk).update(next_touch_at=first)


def _new_date(deal: Deal, reply: DealReply) -> None:
    assert reply.answer_date is not None
    calendar = BusinessCalendar(deal.business)
    # The named day itself, or the first working day from it: never a nudge on a Sunday.
    day = reply.answer_date
    if not calendar.is_working_day(day):
        day = calendar.add_working_days(day, 1)
    deal.next_nudge_at = calendar.start_of(day)
    deal.nudges_in_stage = 0
    deal.stuck_since = None
    Deal.objects.filter(pk=deal.pk).update(
        next_nudge_at=deal.next_nudge_at, nudges_in_stage=0, stuck_since=None
    )


def _other(deal: Deal, reply: DealReply, at: datetime) -> None:
    DealTask.objects.create(
        business_id=deal.business_id, deal=deal, seller_id=deal.seller_id, reply=reply,
        kind=TaskKind.REPLY,
        title=_("Answer the client: %(text)s") % {"text": _shorten(reply.text)},
        due_at=at, created_at=at,
    )
    # If nobody answers and nothing moves, the deal comes back as stuck in time.
    calendar = BusinessCalendar(deal.business)
    settings = method_settings(deal.business_id)
    Deal.objects.filter(pk=deal.pk).update(
        next_nudge_at=calendar.after_working_days(at, settings.nudge_interval_days)
    )


def _shorten(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def correct_reply(
    reply: DealReply, answer: str, by: User, answer_date: date | None = None
) -> DealReply:
    """The seller's one-click correction: undo what the reading did, apply the right answer."""
    _check(answer, answer_date)
    if answer == reply.answer and answer_date == reply.answer_date:
        return reply
    now = clock_now()
    with transaction.atomic():
        _undo(reply, now, by)
        reply.answer, reply.answer_date = answer, answer_date if answer == Answer.DATE else None
        reply.corrected_by, reply.corrected_at = by, now
        reply.save(update_fields=["answer", "answer_date", "corrected_by", "corrected_at"])
        apply_reply(reply, by)
    return reply


def _undo(reply: DealReply, now: datetime, by: User | None) -> None:
    deal = Deal.objects.select_related("stage", "business").get(pk=reply.deal_id)
    DealTask.objects.filter(reply=reply, done_at__isnull=True).update(
        done_at=now, cancelled=True
    )
    if reply.stage_before_id is None:
        return
    why = gettext_noop("answer corrected")
    moved = deal.stage_id != reply.stage_before_id or deal.status != reply.status_before
    if moved:
        stage = reply.stage_before
        assert stage is not None
        if deal.is_open:
            actions.move_deal(deal, stage, now, by, why)
        else:
            actions.reopen_deal(deal, stage, now, by, why)
    Deal.objects.filter(pk=deal.pk).update(
        next_nudge_at=reply.next_nudge_before, nudges_in_stage=reply.nudges_before
    )
    if reply.nudge_id is not None:
        Nudge.objects.filter(pk=reply.nudge_id).update(state=NudgeState.THROWN)
