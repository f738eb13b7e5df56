"""Stuck deals and their nudges: propose, throw, repeat with growing gaps, then a call.

The life of a stuck deal (METHOD.md §5), with the business's settings (MethodSettings):

1. A deal enters a stage where the client decides; after the stage's wait, counted in the
   business's working days, it is *stuck*: the trigger proposes nudge #1 from the stage's
   templates, personalised.
2. The seller throws it with one click (or Kasatka does, `nudge_auto_throw_days` working
   days after proposing it): as a message through the engine, to the channel the client
   last wrote on first, or as a call task.
3. No answer within `nudge_interval_days` working days: nudge #2 is proposed; the gap grows
   by `nudge_interval_growth` each time (2, 4, 8 days).
4. After `nudge_max` unanswered nudges the seller gets a call task instead, and Kasatka
   stops asking on its own: the deal is the seller's to move.

An answer (kasatka.deals.replies) stops the sequence: yes moves the deal on, no loses it, a
date puts the next nudge on that date.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import override

from kasatka.accounts.calendar import BusinessCalendar
from kasatka.accounts.models import Business, MethodSettings, User, method_settings
from kasatka.chains.actions import AlreadyEnrolled, enroll
from kasatka.chains.models import Chain, ChainKind, Enrollment
from kasatka.chains.templating import TemplateError, build_context, render
from kasatka.channels.call.models import CallTask
from kasatka.channels.models import InboundMessage
from kasatka.engine.clock import now as clock_now
from kasatka.sales.conversion import first_phones
from kasatka.sales.default_chains import method_chain

from .models import Deal, DealStatus, Nudge, NudgeMode, NudgeState, NudgeTemplate

log = logging.getLogger("kasatka.deals")

# Deals one trigger round looks at; the rest wait for the next round (a minute).
_BATCH = 500

# When a business has no template for a stage in the contact's language.
_FALLBACK = {
    "ru": "Добрый день{% if contact.first_name %}, {{ contact.name }}{% endif %}! "
    "«{{ deal.title }}»: всё в силе или что-то изменилось?",
    "en": "Hi{% if contact.first_name %} {{ contact.first_name }}{% endif %}! "
    "“{{ deal.title }}”: still on, or has something changed?",
}


class NudgeRefused(ValidationError):
    """A nudge that cannot be thrown now, with the reason for the seller."""


# --- settings ---------------------------------------------------------------------


def interval_days(settings: MethodSettings, number: int) -> int:
    """Working days to wait for an answer to nudge #number before the next one."""
    growth = Decimal(settings.nudge_interval_growth) ** (number - 1)
    return max(1, round(settings.nudge_interval_days * growth))


@dataclass
class _Business:
    """What a trigger round needs of one business, loaded once."""

    business: Business
    settings: MethodSettings
    calendar: BusinessCalendar


class _Cache(dict[int, _Business]):
    def of(self, business: Business) -> _Business:
        if business.pk not in self:
            self[business.pk] = _Business(
                business, method_settings(business), BusinessCalendar(business)
            )
        return self[business.pk]


# --- proposing ------------------------------------------------------------------


def pick_template(deal: Deal, number: int, language: str) -> NudgeTemplate | None:
    """The stage's templates in the contact's language, taken in turn by nudge number."""
    templates = NudgeTemplate.objects.filter(business_id=deal.business_id, is_active=True)
    for candidates in (
        templates.filter(stage=deal.stage, language=language),
        templates.filter(stage__isnull=True, language=language),
        templates.filter(stage=deal.stage),
    ):
        found = list(candidates.order_by("position", "id"))
        if found:
            return found[(number - 1) % len(found)]
    return None


def render_nudge(deal: Deal, template_text: str) -> str:
    contact = deal.contact
    context = build_context(
        contact, business=deal.business, seller=deal.seller, deal=deal,
        today=clock_now().astimezone(deal.business.zone).date(),
    )
    return render(template_text, context).strip()


def propose(deal: Deal, at: datetime | None = None) -> Nudge | None:
    """Propose the deal's next nudge; None if one is waiting to be thrown already."""
    at = at or clock_now()
    number = deal.nudges_in_stage + 1
    language = deal.contact.language or deal.business.language or "ru"
    template = pick_template(deal, number, language)
    source = template.text if template else _FALLBACK.get(language[:2], _FALLBACK["ru"])
    try:
        text = render_nudge(deal, source)
    except TemplateError as exc:
        # A template that renders badly for this contact: the fallback, and a log line.
        log.warning("nudge template %s failed for deal %s: %s", template, deal.pk, exc)
        template, text = None, render_nudge(deal, _FALLBACK["ru"])
    try:
        with transaction.atomic():
            return Nudge.objects.create(
                business_id=deal.business_id, deal=deal, stage_id=deal.stage_id,
                seller_id=deal.seller_id, template=template, number=number, text=text,
                proposed_at=at,
            )
    except IntegrityError:
        return None  # one is proposed already (the unique constraint)


# --- throwing -------------------------------------------------------------------


def throw(
    nudge: Nudge,
    by: User | None = None,
    mode: str = NudgeMode.MESSAGE,
    text: str | None = None,
    at: datetime | None = None,
) -> Nudge:
    """Send a proposed nudge: a message through the engine, or a call task.

    `by` None means Kasatka threw it (auto-throw). The seller may edit the text first.
    Raises NudgeRefused when it cannot go (the deal moved on, the nudge chain is paused,
    another nudge to the same contact is still on its way).
    """
    at = at or clock_now()
    if mode not in NudgeMode.values:
        raise NudgeRefused(_("Unknown way to throw a nudge."))
    if text is not None:
        if not text.strip():
            raise NudgeRefused(_("The nudge has no text."))
        nudge.text = text.strip()
    deal = nudge.deal
    with transaction.atomic():
        taken = Nudge.objects.filter(pk=nudge.pk, state=NudgeState.PROPOSED).update(
            state=NudgeState.THROWN, mode=mode, thrown_at=at, thrown_by=by, text=nudge.text,
        )
        if not taken:
            raise NudgeRefused(_("This nudge was thrown or cancelled already."))
        if mode == NudgeMode.MESSAGE:
            nudge.channel = preferred_channel(deal.contact_id)
            chain = method_chain(deal.business_id, ChainKind.NUDGE)
            if chain is None:
                raise NudgeRefused(_("The nudge chain is paused: throw it as a call."))
            # Another deal's nudge to the same client still on its way: this one follows
            # it (the trigger sends it when that one is out).
            nudge.enrollment = _enrol(nudge, chain.pk, at)
        else:
            with override(deal.business.language):
                nudge.call_task = _call_task(nudge, at)
        nudge.state, nudge.mode, nudge.thrown_at, nudge.thrown_by = (
            NudgeState.THROWN, mode, at, by,
        )
        nudge.save(update_fields=["channel", "enrollment", "call_task"])
        _schedule_next(deal, nudge.number, at)
    return nudge


def _enrol(nudge: Nudge, chain_id: int, at: datetime) -> Enrollment | None:
    try:
        return enroll(nudge.deal.contact, Chain.objects.get(pk=chain_id), at)
    except AlreadyEnrolled:
        return None


def _send_queued(now: datetime, business_id: int | None = None) -> int:
    """Nudges thrown while another nudge to the same client was on its way."""
    nudges = Nudge.objects.all() if business_id is None else Nudge.objects.filter(
        business_id=business_id
    )
    queued = nudges.filter(
        state=NudgeState.THROWN, mode=NudgeMode.MESSAGE, enrollment__isnull=True,
        call_task__isnull=True,
    ).select_related("deal__contact")[:_BATCH]
    done = 0
    for nudge in queued:
        chain = method_chain(nudge.business_id, ChainKind.NUDGE)
        if chain is None:
            continue
        enrollment = _enrol(nudge, chain.pk, now)
        if enrollment is not None:
            Nudge.objects.filter(pk=nudge.pk).update(enrollment=enrollment)
            done += 1
    return done


def _schedule_next(deal: Deal, number: int, at: datetime) -> None:
    settings = method_settings(deal.business_id)
    calendar = BusinessCalendar(deal.business)
    deal.nudges_in_stage = number
    deal.next_nudge_at = calendar.after_working_days(at, interval_days(settings, number))
    Deal.objects.filter(pk=deal.pk).update(
        nudges_in_stage=number, next_nudge_at=deal.next_nudge_at
    )


def preferred_channel(contact_id: int) -> str:
    """The channel the client last wrote on: they read it, and answer there."""
    channel = (
        InboundMessage.objects.filter(contact_id=contact_id)
        .order_by("-received_at", "-id")
        .values_list("channel", flat=True)
        .first()
    )
    return channel or ""


def _call_task(nudge: Nudge, at: datetime, reason: str = "") -> CallTask:
    deal = nudge.deal
    phone = first_phones([deal.contact_id]).get(deal.contact_id, "")
    return CallTask.objects.create(
        business_id=deal.business_id, contact_id=deal.contact_id, assignee_id=deal.seller_id,
        phone=phone, reason=reason or _("Nudge: %(deal)s") % {"deal": deal.title},
        script=nudge.text, due_at=at, created_at=at,
    )


# --- the trigger ------------------------------------------------------------------


def nudge_stuck_deals(now: datetime, business_id: int | None = None) -> int:
    """Deals whose wait is over: mark them stuck and propose the next nudge, or a call.

    Idempotent, and safe with several workers: a deal is taken by a conditional update.
    `business_id` limits it to one business (the demo's replay of its past).
    """
    cache = _Cache()
    done = 0
    waiting_nudge = Nudge.objects.filter(deal_id=OuterRef("pk"), state=NudgeState.PROPOSED)
    deals = Deal.objects.all() if business_id is None else Deal.objects.filter(
        business_id=business_id
    )
    due = (
        deals.filter(status=DealStatus.OPEN, next_nudge_at__lte=now)
        .exclude(Exists(waiting_nudge))
        .select_related("stage", "contact", "seller", "business")
        .order_by("next_nudge_at")[:_BATCH]
    )
    for deal in due:
        with transaction.atomic():
            taken = Deal.objects.filter(pk=deal.pk, next_nudge_at=deal.next_nudge_at).update(
                next_nudge_at=None, stuck_since=Coalesce("stuck_since", "next_nudge_at"),
            )
            if not taken:
                continue  # another worker has it
            if not deal.stage.waits_for_client:
                continue  # the stage stopped waiting on the client since
            deal.stuck_since = deal.stuck_since or deal.next_nudge_at
            deal.next_nudge_at = None
            # The last question went unanswered.
            Nudge.objects.filter(deal=deal, state=NudgeState.THROWN).update(
                state=NudgeState.UNANSWERED
            )
            if deal.nudges_in_stage < cache.of(deal.business).settings.nudge_max:
                propose(deal, now)
            else:
                with override(deal.business.language):  # the seller's task reads in it
                    _hand_to_call(deal, now)
        done += 1
    return done + _auto_throw(now, cache, business_id) + _send_queued(now, business_id)


def _hand_to_call(deal: Deal, now: datetime) -> None:
    """Nudges went unanswered: the seller calls, and Kasatka stops asking on its own."""
    nudge = Nudge.objects.create(
        business_id=deal.business_id, deal=deal, stage_id=deal.stage_id,
        seller_id=deal.seller_id, number=deal.nudges_in_stage + 1,
        text=_call_script(deal), state=NudgeState.THROWN, mode=NudgeMode.CALL,
        proposed_at=now, thrown_at=now,
    )
    nudge.call_task = _call_task(
        nudge, now,
        _("%(deal)s: %(count)s nudges unanswered, call the client")
        % {"deal": deal.title, "count": deal.nudges_in_stage},
    )
    nudge.save(update_fields=["call_task"])
    Deal.objects.filter(pk=deal.pk).update(nudges_in_stage=nudge.number)


def _call_script(deal: Deal) -> str:
    name = " ".join(p for p in (deal.contact.first_name, deal.contact.patronymic) if p)
    return _(
        "%(name)s, good afternoon! About “%(deal)s”: is it still on, or has something "
        "changed? If now is not the time, when shall I call?"
    ) % {"name": name or _("Good afternoon"), "deal": deal.title}


def _auto_throw(now: datetime, cache: _Cache, business_id: int | None = None) -> int:
    """Proposed nudges nobody threw in the business's set number of working days."""
    businesses = MethodSettings.objects.filter(nudge_auto_throw_days__isnull=False)
    if business_id is not None:
        businesses = businesses.filter(business_id=business_id)
    done = 0
    for settings in businesses.select_related("business"):
        known = cache.of(settings.business)
        days = settings.nudge_auto_throw_days or 0
        proposed = (
            Nudge.objects.filter(business_id=settings.business_id, state=NudgeState.PROPOSED)
            .select_related("deal__contact", "deal__business", "deal__seller")
            .order_by("proposed_at")[:_BATCH]
        )
        for nudge in proposed:
            if known.calendar.after_working_days(nudge.proposed_at, days) > now:
                break  # ordered by time: the rest are younger
            try:
                throw(nudge, None, NudgeMode.MESSAGE, at=now)
            except NudgeRefused:
                try:
                    throw(nudge, None, NudgeMode.CALL, at=now)
                except NudgeRefused:
                    continue
            done += 1
    return done


def thrown_nudges(enrollment_ids: list[int]) -> dict[int, Nudge]:
    """The nudges the engine is sending, by enrollment, with their deals (one query)."""
    return {
        nudge.enrollment_id: nudge
        for nudge in Nudge.objects.filter(enrollment_id__in=enrollment_ids).select_related("deal")
        if nudge.enrollment_id is not None
    }
