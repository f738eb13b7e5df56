"""Lifecycle stages and side types from purchase history (METHOD.md §4).

The rules, each threshold from the business's `MethodSettings`:

- **lead**: no purchase yet; **new**: at least one purchase.
- **regular**: at some point, `regular_purchases` purchases fell within `regular_period_days`
  of each other. Recomputed at each purchase this is exactly "N purchases within the last
  period counting back from the purchase"; stated over the whole history it also gives the
  same answer for a history imported at once as for one recorded purchase by purchase. A
  regular who stops buying stays regular: lapsing is win-back's business
  (`insights.lapse`), not a demotion.
- **adept**: a referral recorded with them as the referrer, or marked by a seller; this
  outranks the purchase stages, even for someone who has not bought yet.
- **discount lover** (flag): the share of purchases on promotion is at least
  `discount_lover_share`, among at least two purchases (one purchase is no habit).
- **impulsive** (flag): the first purchase came within `impulsive_hours` of the first contact
  (the contact's creation), i.e. they bought at the first visit or right after it.

Everything is computed from the data up to `at`, so time alone never changes an answer.
A stage moves backwards only when data was taken away and the caller says so: the cause
starts with one of `DEMOTING_CAUSES` ("purchase deleted #12", "adept mark removed by …").
Any other cause keeps the stage where it is, so that a purchase deleted behind the
system's back is not blamed on the next purchase. The flags follow the data both ways.

Each change is one `StageChange` row; a second recompute on the same data changes nothing.
A forward stage move enrols the contact in the business's active chains that start at the
stage reached (a stage jumped over, as by an import, starts none of its own chains); a
move back starts nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef

from kasatka.accounts.access import sees_whole_team
from kasatka.accounts.models import MethodSettings, User, method_settings
from kasatka.chains.actions import AlreadyEnrolled, enroll
from kasatka.chains.models import Chain
from kasatka.engine.clock import now as clock_now
from kasatka.sales.models import Purchase, Referral

from .models import Contact, Stage, StageChange

# The funnel's order: a move to a lower rank is a move backwards.
STAGE_RANK: dict[str, int] = {
    Stage.LEAD: 0,
    Stage.NEW: 1,
    Stage.REGULAR: 2,
    Stage.ADEPT: 3,
}

# Causes that take data away and so may move a stage backwards. A caller that deletes or
# refunds a purchase, or deletes a referral, recomputes with e.g. f"purchase deleted #{pk}".
DEMOTING_CAUSES: tuple[str, ...] = (
    "purchase deleted",
    "purchase refunded",
    "referral deleted",
    "adept mark removed",
)

FLAGS: tuple[str, ...] = ("is_discount_lover", "is_impulsive")

# The StageChange.cause column holds at most this many characters.
_CAUSE_LENGTH = StageChange._meta.get_field("cause").max_length or 300


def allows_demotion(cause: str) -> bool:
    """Whether a recompute with this cause may move a stage backwards."""
    return cause.startswith(DEMOTING_CAUSES)


@dataclass(frozen=True)
class PurchaseFact:
    """What the lifecycle needs of one purchase."""

    purchased_at: datetime
    on_promotion: bool


@dataclass(frozen=True)
class Standing:
    """A contact's stage and side types as the data says they are."""

    stage: str
    is_discount_lover: bool
    is_impulsive: bool


def is_regular(times: Sequence[datetime], settings: MethodSettings) -> bool:
    """Whether `regular_purchases` of the (sorted) purchase times ever fell within the period."""
    needed = max(settings.regular_purchases, 1)
    period = timedelta(days=settings.regular_period_days)
    return any(
        times[i + needed - 1] - times[i] <= period for i in range(len(times) - needed + 1)
    )


def is_discount_lover(purchases: Sequence[PurchaseFact], settings: MethodSettings) -> bool:
    """Whether enough of the purchases were on promotion; one purchase is not a habit."""
    if len(purchases) < 2:
        return False
    on_promotion = sum(1 for p in purchases if p.on_promotion)
    return Decimal(on_promotion) >= settings.discount_lover_share * len(purchases)


def is_impulsive(
    first_purchase: datetime | None, first_contact: datetime, settings: MethodSettings
) -> bool:
    """Whether the first purchase came within hours of the first contact.

    Either side counts: a history imported with a purchase made just before the contact
    was typed in is the same decision at the same visit.
    """
    if first_purchase is None:
        return False
    return abs(first_purchase - first_contact) <= timedelta(hours=settings.impulsive_hours)


def standing(
    purchases: Sequence[PurchaseFact],
    first_contact: datetime,
    is_adept: bool,
    settings: MethodSettings,
) -> Standing:
    """The stage and flags the data earns, regardless of where the contact stands now."""
    times = [p.purchased_at for p in purchases]
    if is_adept:
        stage = Stage.ADEPT
    elif is_regular(times, settings):
        stage = Stage.REGULAR
    elif times:
        stage = Stage.NEW
    else:
        stage = Stage.LEAD
    return Standing(
        stage=stage,
        is_discount_lover=is_discount_lover(purchases, settings),
        is_impulsive=is_impulsive(times[0] if times else None, first_contact, settings),
    )


def _flag_text(value: bool) -> str:
    return "true" if value else "false"


def recompute(contact: Contact, at: datetime, cause: str) -> list[str]:
    """Recompute the contact's stage and flags as of `at`; record each change with its cause.

    Returns the names of the fields that changed ("stage", "is_discount_lover",
    "is_impulsive"); an empty list when nothing did.
    """
    if not cause.strip():
        raise ValueError("a lifecycle change needs a cause")
    cause = cause[:_CAUSE_LENGTH]
    with transaction.atomic():
        current = _lock_current(contact, at)
        earned = standing(
            _purchases(contact, at),
            current["created_at"],
            current["is_marked_adept"] or current["has_referral"],
            method_settings(contact.business_id),
        )
        changes = _changes(contact, current, earned, cause, at)
        if not changes:
            return []
        changed = [c.field for c in changes]
        contact.save(update_fields=[*changed, "updated_at"])
        StageChange.objects.bulk_create(changes)
        old_stage: str = current["stage"]
        if STAGE_RANK[contact.stage] > STAGE_RANK[old_stage]:
            _enrol_on_stage(contact, contact.stage, at)
    return changed


def _lock_current(contact: Contact, at: datetime) -> dict[str, Any]:
    """The contact's row as the database holds it, locked, with whether they referred anyone.

    The lock keeps two purchases recorded at once from both recording the same move; the
    caller's instance may be stale, so it is brought up to date from the row.
    """
    current = (
        Contact.objects.select_for_update()
        .filter(pk=contact.pk)
        .annotate(
            has_referral=Exists(
                Referral.objects.filter(referrer=OuterRef("pk"), recorded_at__lte=at)
            )
        )
        .values(
            "stage", "is_discount_lover", "is_impulsive", "is_marked_adept",
            "created_at", "has_referral",
        )
        .get()
    )
    for name in ("stage", "is_marked_adept", *FLAGS):
        setattr(contact, name, current[name])
    return current


def _purchases(contact: Contact, at: datetime) -> list[PurchaseFact]:
    """The contact's purchases up to `at`, oldest first, in one query."""
    rows = (
        Purchase.objects.filter(contact_id=contact.pk, purchased_at__lte=at)
        .order_by("purchased_at", "id")
        .values_list("purchased_at", "on_promotion")
    )
    return [PurchaseFact(purchased_at, on_promotion) for purchased_at, on_promotion in rows]


def _changes(
    contact: Contact, current: dict[str, Any], earned: Standing, cause: str, at: datetime
) -> list[StageChange]:
    """Apply what the data earns to the contact and say what changed; a stage only moves
    back with a cause that allows it."""
    changes: list[StageChange] = []
    old_stage: str = current["stage"]
    moves_back = STAGE_RANK[earned.stage] < STAGE_RANK[old_stage]
    if earned.stage != old_stage and (not moves_back or allows_demotion(cause)):
        contact.stage = earned.stage
        changes.append(_change(contact, "stage", old_stage, earned.stage, cause, at))
    for flag in FLAGS:
        old_value: bool = current[flag]
        new_value: bool = getattr(earned, flag)
        if new_value != old_value:
            setattr(contact, flag, new_value)
            changes.append(
                _change(contact, flag, _flag_text(old_value), _flag_text(new_value), cause, at)
            )
    return changes


def _change(
    contact: Contact, field: str, old: str, new: str, cause: str, at: datetime
) -> StageChange:
    return StageChange(
        business_id=contact.business_id,
        contact=contact,
        field=field,
        old=old,
        new=new,
        cause=cause,
        changed_at=at,
    )


def _enrol_on_stage(contact: Contact, stage: str, at: datetime) -> None:
    """Start the chains that begin when a contact reaches this stage (only moving forward:
    a contact pushed back by a refund does not get the welcome of a stage again)."""
    # A chain without steps cannot be started; it is left out rather than failing a sale.
    chains = (
        Chain.objects.filter(
            business_id=contact.business_id, enrol_on_stage=stage, is_active=True,
            steps__isnull=False,
        )
        .distinct()
        .order_by("id")
    )
    for chain in chains:
        try:
            enroll(contact, chain, at)
        except AlreadyEnrolled:
            pass  # already going through it: one enrollment per chain at a time


def record_referral(
    referrer: Contact,
    referred: Contact | None = None,
    note: str = "",
    at: datetime | None = None,
) -> Referral:
    """The contact recommended someone: record it; a recommendation makes an adept."""
    at = at or clock_now()
    if referred is not None:
        if referred.business_id != referrer.business_id:
            raise ValueError("referrer and referred belong to different businesses")
        if referred.pk == referrer.pk:
            raise ValueError("a contact cannot recommend themselves")
    with transaction.atomic():
        referral = Referral.objects.create(
            business_id=referrer.business_id,
            referrer=referrer,
            referred=referred,
            note=note,
            recorded_at=at,
        )
        recompute(referrer, at, f"referral #{referral.pk}")
    return referral


def mark_adept(
    contact: Contact, user: User, marked: bool, at: datetime | None = None
) -> list[str]:
    """A seller marks (or unmarks) the contact as an adept, known to recommend us.

    Removing the mark moves the contact back to what the history earns, unless a referral
    keeps them an adept. Returns the changed fields, as `recompute` does.
    """
    if user.business_id != contact.business_id or not (
        sees_whole_team(user) or contact.owner_id in (None, user.pk)
    ):
        raise PermissionDenied("This contact is not the user's client.")
    at = at or clock_now()
    who = user.get_full_name() or user.get_username()
    cause = f"marked as an adept by {who}" if marked else f"adept mark removed by {who}"
    with transaction.atomic():
        contact.is_marked_adept = marked
        contact.save(update_fields=["is_marked_adept", "updated_at"])
        return recompute(contact, at, cause)
