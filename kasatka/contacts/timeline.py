"""A contact's history in one list: touches, replies, consent, visits, purchases, calls,
stage changes of the contact and of their deals, and the touches the guardrails held.

Each source is read newest first and cut at `limit`, then the lists are merged: a fixed
number of queries (one per source) whatever the length of the history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from heapq import merge
from itertools import islice

from django.utils import formats
from django.utils.timezone import localtime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kasatka.chains.models import Touch
from kasatka.channels.call.models import CallTask
from kasatka.channels.models import InboundMessage
from kasatka.contacts.models import Consent, Contact, Stage, StageChange
from kasatka.sales.models import Purchase, Visit


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    when: datetime
    kind: str  # touch, inbound, consent, visit, purchase, call, guard, reply, stage, deal
    text: str
    details: str = ""
    # The touch's status (for colouring) or the channel a reply or consent is about.
    status: str = ""
    channel: str = ""
    # What the client read (a touch's text): long, so the card folds it away.
    body: str = ""


def timeline(contact: Contact, limit: int = 100) -> list[Entry]:
    """The contact's last `limit` events, newest first."""
    sources = (
        _touches(contact, limit),
        _inbound(contact, limit),
        _consents(contact, limit),
        _visits(contact, limit),
        _purchases(contact, limit),
        _calls(contact, limit),
        _guards(contact, limit),
        _deal_replies(contact, limit),
        _stage_changes(contact, limit),
        _deal_stage_changes(contact, limit),
    )
    return list(islice(merge(*sources, key=lambda e: e.when, reverse=True), limit))


def _joined(*parts: str) -> str:
    return " · ".join(p for p in parts if p)


def _touches(contact: Contact, limit: int) -> list[Entry]:
    rows = (
        Touch.objects.filter(contact=contact)
        .select_related("step")
        .order_by("-updated_at", "-id")[:limit]
    )
    entries = []
    for t in rows:
        skipped = _("channels skipped: %(why)s") % {"why": t.route_note} if t.route_note else ""
        entries.append(Entry(
            when=t.sent_at or t.updated_at,
            kind="touch",
            # The reason is what was new for the client (every touch has one).
            text=_joined(t.get_channel_display(), t.step.reason),
            details=_joined(t.get_status_display(), t.to, t.subject, t.error, skipped),
            status=t.status,
            channel=t.channel,
            body=t.body,
        ))
    # sent_at may order a few touches differently from updated_at.
    return sorted(entries, key=lambda e: e.when, reverse=True)


def _inbound(contact: Contact, limit: int) -> list[Entry]:
    rows = (
        InboundMessage.objects.filter(contact=contact)
        .select_related("touch__step")
        .order_by("-received_at", "-id")[:limit]
    )
    entries = []
    for m in rows:
        about = ""
        if m.touch is not None:
            about = _("in reply to: %(touch)s") % {"touch": m.touch.step.reason}
        button = str(m.payload.get("button") or "") if isinstance(m.payload, dict) else ""
        pressed = _("button: %(text)s") % {"text": button} if button else ""
        entries.append(Entry(
            when=m.received_at,
            kind="inbound",
            text=m.text or _("(no text)"),
            details=_joined(m.get_channel_display(), m.sender, pressed, about),
            channel=m.channel,
        ))
    return entries


def _consents(contact: Contact, limit: int) -> list[Entry]:
    rows = Consent.objects.filter(contact=contact).order_by("-recorded_at", "-id")[:limit]
    return [
        Entry(
            when=c.recorded_at,
            kind="consent",
            text=_("%(channel)s, %(purpose)s: %(status)s") % {
                "channel": c.get_channel_display(),
                "purpose": c.get_purpose_display(),
                "status": c.get_status_display(),
            },
            details=_joined(c.get_basis_display(), c.source),
            status=c.status,
            channel=c.channel,
        )
        for c in rows
    ]


def _visits(contact: Contact, limit: int) -> list[Entry]:
    rows = (
        Visit.objects.filter(contact=contact)
        .select_related("seller")
        .order_by("-occurred_at", "-id")[:limit]
    )
    return [
        Entry(
            when=v.occurred_at,
            kind="visit",
            text=_("Visit: %(type)s") % {"type": v.get_visit_type_display()},
            details=_joined(
                str(v.amount) if v.amount is not None else "",
                v.seller.full_name if v.seller is not None else "",
                v.note,
            ),
        )
        for v in rows
    ]


def _purchases(contact: Contact, limit: int) -> list[Entry]:
    rows = (
        Purchase.objects.filter(contact=contact)
        .select_related("seller")
        .order_by("-purchased_at", "-id")[:limit]
    )
    return [
        Entry(
            when=p.purchased_at,
            kind="purchase",
            text=_("Purchase: %(amount)s") % {"amount": p.amount},
            details=_joined(p.seller.full_name if p.seller is not None else "", p.note),
        )
        for p in rows
    ]


def _calls(contact: Contact, limit: int) -> list[Entry]:
    rows = (
        CallTask.objects.filter(contact=contact)
        .select_related("assignee")
        .order_by("-created_at", "-id")[:limit]
    )
    entries = [
        Entry(
            when=c.closed_at or c.due_at,
            kind="call",
            text=_("Call %(phone)s: %(outcome)s") % {
                "phone": c.phone,
                "outcome": c.get_outcome_display() if c.outcome else _("to make"),
            },
            details=_joined(
                c.reason, c.note, c.assignee.full_name if c.assignee is not None else ""
            ),
            status=c.outcome,
        )
        for c in rows
    ]
    return sorted(entries, key=lambda e: e.when, reverse=True)


def _guards(contact: Contact, limit: int) -> list[Entry]:
    """Touches the guardrails held, re-timed or skipped, and chains they ended, with why."""
    from kasatka.engine.models import GuardAction, GuardEvent

    rows = (
        GuardEvent.objects.filter(contact=contact)
        .exclude(action=GuardAction.REROUTED)  # the touch itself says which were skipped
        .select_related("step__chain")
        .order_by("-at", "-id")[:limit]
    )
    entries = []
    for g in rows:
        until = ""
        if g.until is not None:
            until = _("until %(when)s") % {
                "when": formats.date_format(localtime(g.until), "SHORT_DATETIME_FORMAT")
            }
        entries.append(Entry(
            when=g.at,
            kind="guard",
            text=_("%(action)s: %(rule)s") % {
                "action": g.get_action_display(), "rule": g.get_rule_display(),
            },
            details=_joined(g.step.chain.name if g.step else "", until, g.detail),
            status=g.action,
            channel=g.channel,
        ))
    return entries


def _deal_replies(contact: Contact, limit: int) -> list[Entry]:
    """Answers to nudges, as read (or corrected, or heard on the phone by the seller)."""
    from kasatka.deals.models import DealReply

    rows = (
        DealReply.objects.filter(deal__contact=contact)
        .select_related("deal")
        .order_by("-received_at", "-id")[:limit]
    )
    entries = []
    for r in rows:
        corrected = ""
        if r.corrected_at is not None and r.predicted and r.predicted != r.answer:
            corrected = _("read as “%(predicted)s”, corrected") % {
                "predicted": r.get_predicted_display()
            }
        when = ""
        if r.answer_date is not None:
            when = formats.date_format(r.answer_date, "SHORT_DATE_FORMAT")
        entries.append(Entry(
            when=r.received_at,
            kind="reply",
            text=_("Answer about “%(deal)s”: %(answer)s") % {
                "deal": r.deal.title, "answer": r.get_answer_display(),
            },
            # A reply by message is on the timeline as the message itself: no second copy.
            details=_joined(
                when, r.get_source_display(), corrected, r.text if r.message_id is None else ""
            ),
            status=r.answer,
        ))
    return entries


def _stage_label(field: str, value: str) -> str:
    if field == "stage":
        return str(Stage(value).label) if value in Stage.values else value
    return _("yes") if value == "true" else _("no") if value == "false" else value


# What a StageChange.field names, read at render time (in the user's language).
_FLAG_NAMES = {
    "stage": gettext_lazy("Stage"),
    "is_discount_lover": gettext_lazy("Discount lover"),
    "is_impulsive": gettext_lazy("Impulsive"),
}


def _stage_changes(contact: Contact, limit: int) -> list[Entry]:
    """Moves through the funnel (lead → new → regular → adept) and the side types."""
    rows = StageChange.objects.filter(contact=contact).order_by("-changed_at", "-id")[:limit]
    return [
        Entry(
            when=c.changed_at,
            kind="stage",
            text=_("%(what)s: %(old)s → %(new)s") % {
                "what": _FLAG_NAMES.get(c.field, c.field),
                "old": _stage_label(c.field, c.old) if c.old else "—",
                "new": _stage_label(c.field, c.new),
            },
            details=c.cause,
        )
        for c in rows
    ]


def _deal_stage_changes(contact: Contact, limit: int) -> list[Entry]:
    """Each move of the contact's deals, and their wins and losses."""
    from kasatka.deals.models import DealStageChange

    rows = (
        DealStageChange.objects.filter(deal__contact=contact)
        .select_related("deal", "from_stage", "to_stage", "by")
        .order_by("-at", "-id")[:limit]
    )
    return [
        Entry(
            when=c.at,
            kind="deal",
            text=_("Deal “%(deal)s”: %(old)s → %(new)s") % {
                "deal": c.deal.title,
                "old": c.from_stage.name if c.from_stage is not None else "—",
                "new": c.to_stage.name,
            },
            details=_joined(
                c.get_status_display(), c.reason, c.by.full_name if c.by is not None else ""
            ),
            status=c.status,
        )
        for c in rows
    ]
