"""Lapse detection (METHOD.md §6): who stopped buying, how likely they are still a client,
what their leaving would cost, and the win-back that starts when they lapse.

The rules, every figure from the business's `MethodSettings`:

- A client can lapse after `lapse_min_purchases` days with a purchase (several purchases on
  one day are one visit). They have lapsed when the time since their last purchase exceeds
  the business's `lapse_period_days` when it is set (540 for furniture, 3 for a coffee shop),
  else their own usual gap (the median of the gaps between their purchase days) times
  `lapse_factor`.
- The probability that a client is still a client comes from a BG/NBD model (`bgnbd.py`)
  fitted to the business's whole purchase history, in weeks at day precision, up to today.
  With fewer than `MIN_REPEAT_BUYERS` clients who ever bought twice there is nothing to
  learn the dropout from, and no probability is given (empty, not a guess).
- Value at risk = the client's average spend per purchase day × the purchases expected from
  them over the business's `regular_period_days` (the BG/NBD conditional expectation, which
  already weighs in the chance they are gone). Without a model: × the purchases their own
  rhythm gives over that period (period / usual gap). It orders the list of lapsing clients:
  the first call goes where the most is still to be won.
- A newly lapsed client (not flagged before for the same last purchase) is flagged once:
  they enter the business's active win-back chain, and their seller gets a call task due
  now, if the contact has a phone and has not refused commercial calls. A lapse found much
  later than it happened (more than one more lapse period: history imported years after
  the fact, a settings change) is flagged and listed but sets off nothing: a call about a
  client gone for years helps no one, and a seller can still act from the list.

The scores are kept in `ClientRisk`, one row per client with purchases. `detect_lapses`
runs every minute (the engine's triggers): it refits and rescores a business once a day
(the first run of each of its days, or when its lapse settings change), rescores only the
clients with new purchases in between, then flags what became due.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

import numpy as np
from django.db import transaction
from django.db.models import Exists, F, Max, Min, OuterRef, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import formats, translation
from django.utils.translation import gettext as _
from numpy.typing import NDArray

from kasatka.accounts.models import Business, MethodSettings, method_settings
from kasatka.chains.actions import AlreadyEnrolled, enroll
from kasatka.chains.models import Chain, ChainKind
from kasatka.channels.call.models import CallTask
from kasatka.contacts.actions import consent_states
from kasatka.contacts.models import (
    Address,
    AddressKind,
    Channel,
    ConsentStatus,
    Contact,
    Purpose,
)
from kasatka.dbutil import ids_in
from kasatka.sales.models import Purchase

if TYPE_CHECKING:
    from . import bgnbd

from .models import ChurnModel, ClientRisk

log = logging.getLogger("kasatka.insights")

# Fewer clients who ever bought again than this, and the dropout rate (a, b) is a guess: a
# statistical floor of the estimator, not a figure of the method, so not a business setting.
MIN_REPEAT_BUYERS = 30
DAYS_PER_WEEK = 7.0
_BATCH = 500
_CENT = Decimal("0.01")
_MAX_VALUE = Decimal("1e12") - _CENT  # ClientRisk.value_at_risk: 14 digits, 2 decimals


def _settings_key(settings: MethodSettings) -> str:
    return "|".join(
        str(v)
        for v in (
            settings.lapse_period_days,
            settings.lapse_factor,
            settings.lapse_min_purchases,
            settings.regular_period_days,
        )
    )


def _today(business: Business, now: datetime) -> date:
    return now.astimezone(business.zone).date()


@dataclass(frozen=True)
class History:
    """Purchase days of some clients: one element per (client, day), sorted."""

    contact: NDArray[np.int64]
    day: NDArray[np.int64]  # date ordinals in the business's time zone
    spent: NDArray[np.float64]
    first_at: list[datetime]
    last_at: list[datetime]


def load_history(
    business: Business, now: datetime, contact_ids: list[int] | None = None
) -> History:
    """The business's purchases up to `now`, one row per client and local day."""
    purchases = Purchase.objects.filter(business=business, purchased_at__lte=now)
    if contact_ids is not None:
        purchases = ids_in(purchases, "contact_id", contact_ids)
    rows = list(
        purchases.annotate(day=TruncDate("purchased_at", tzinfo=business.zone))
        .values("contact_id", "day")
        .annotate(spent=Sum("amount"), first_at=Min("purchased_at"), last_at=Max("purchased_at"))
        .order_by("contact_id", "day")
        .values_list("contact_id", "day", "spent", "first_at", "last_at")
    )
    return History(
        contact=np.array([r[0] for r in rows], dtype=np.int64),
        day=np.array([r[1].toordinal() for r in rows], dtype=np.int64),
        spent=np.array([float(r[2]) for r in rows], dtype=np.float64),
        first_at=[r[3] for r in rows],
        last_at=[r[4] for r in rows],
    )


def median_gaps(contact: NDArray[np.int64], day: NDArray[np.int64]) -> dict[int, float]:
    """Each client's median gap in days between consecutive purchase days (sorted input,
    one row per client and day); clients with one purchase day have none."""
    same = contact[1:] == contact[:-1]
    gaps = (day[1:] - day[:-1])[same].astype(np.float64)
    owners = contact[1:][same]
    if gaps.size == 0:
        return {}
    order = np.lexsort((gaps, owners))
    gaps, owners = gaps[order], owners[order]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    counts = np.diff(np.r_[starts, owners.size])
    medians = (gaps[starts + (counts - 1) // 2] + gaps[starts + counts // 2]) / 2.0
    return dict(zip(owners[starts].tolist(), medians.tolist(), strict=True))


def fit_business(
    business: Business, history: History, today: date
) -> tuple[bgnbd.BGNBD | None, int, int, str]:
    """The business's BG/NBD model (weeks), or None with the reason; and the counts."""
    if history.contact.size == 0:
        return None, 0, 0, "no purchases yet"
    from . import bgnbd  # SciPy loads on first use, not with every worker

    _ids, summary = bgnbd.summarise(
        history.contact, history.day, today.toordinal(), DAYS_PER_WEEK
    )
    repeaters = int(np.count_nonzero(summary.x))
    if repeaters < MIN_REPEAT_BUYERS:
        note = f"{repeaters} clients bought again; {MIN_REPEAT_BUYERS} are needed to fit"
        return None, len(summary), repeaters, note
    try:
        return bgnbd.fit(summary), len(summary), repeaters, ""
    except bgnbd.FitError as exc:
        log.warning("BG/NBD fit failed for business %s: %s", business.pk, exc)
        return None, len(summary), repeaters, f"fit failed: {exc}"


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None


def _money(value: float) -> Decimal:
    if not np.isfinite(value) or value <= 0:
        return Decimal(0)
    return min(Decimal(repr(value)).quantize(_CENT, rounding=ROUND_HALF_UP), _MAX_VALUE)


def score(
    business: Business,
    settings: MethodSettings,
    model: bgnbd.BGNBD | None,
    history: History,
    now: datetime,
) -> list[ClientRisk]:
    """The risk rows (unsaved) of the clients in `history`, as of `now`."""
    if history.contact.size == 0:
        return []
    from . import bgnbd  # SciPy loads on first use, not with every worker

    today = _today(business, now)
    ids, summary = bgnbd.summarise(
        history.contact, history.day, today.toordinal(), DAYS_PER_WEEK
    )
    starts = np.flatnonzero(np.r_[True, history.contact[1:] != history.contact[:-1]])
    stops = np.r_[starts[1:], history.contact.size] - 1
    spent = np.add.reduceat(history.spent, starts)
    days_bought = summary.x + 1
    horizon_days = float(settings.regular_period_days)
    if model is not None:
        p_alive = model.p_alive(summary.x, summary.t_x, summary.T)
        expected = model.conditional_expected_number_of_purchases_up_to_time(
            horizon_days / DAYS_PER_WEEK, summary.x, summary.t_x, summary.T
        )
    gaps = median_gaps(history.contact, history.day)
    period = settings.lapse_period_days
    factor = float(settings.lapse_factor)
    needed = max(int(settings.lapse_min_purchases), 1)
    rows: list[ClientRisk] = []
    for i, contact_id in enumerate(ids.tolist()):
        usual = gaps.get(contact_id)
        lapse_after: timedelta | None = None
        if days_bought[i] >= needed:
            if period:
                lapse_after = timedelta(days=period)
            elif usual is not None:
                lapse_after = timedelta(days=usual * factor)
        last_at = history.last_at[stops[i]]
        average = float(spent[i]) / float(days_bought[i])
        purchases_ahead: float | None = None
        # The client's own rhythm; also when the model's expectation is not a number (a fit
        # on look-alike buyers can run r and α off to ~1e7, where eq. (10) gives NaN).
        value = average * horizon_days / usual if usual else 0.0
        if model is not None and np.isfinite(expected[i]):
            purchases_ahead = float(expected[i])
            value = average * purchases_ahead
        rows.append(
            ClientRisk(
                business=business,
                contact_id=contact_id,
                purchase_days=int(days_bought[i]),
                first_purchase_at=history.first_at[starts[i]],
                last_purchase_at=last_at,
                average_order=_money(average),
                usual_gap=timedelta(days=usual) if usual is not None else None,
                lapse_after=lapse_after,
                lapse_at=last_at + lapse_after if lapse_after is not None else None,
                p_alive=_finite(p_alive[i]) if model is not None else None,
                expected_purchases=_finite(purchases_ahead),
                value_at_risk=_money(value),
                computed_at=now,
            )
        )
    return rows


_SCORED_FIELDS = [
    "purchase_days", "first_purchase_at", "last_purchase_at", "average_order", "usual_gap",
    "lapse_after", "lapse_at", "p_alive", "expected_purchases", "value_at_risk", "computed_at",
]


def _save(rows: list[ClientRisk]) -> None:
    # An upsert that leaves the lapse flags alone: a flag set meanwhile by another worker
    # survives, and it says for which last purchase it was set.
    ClientRisk.objects.bulk_create(
        rows, batch_size=_BATCH, update_conflicts=True, unique_fields=["contact"],
        update_fields=_SCORED_FIELDS,
    )


def _model_of(state: ChurnModel) -> bgnbd.BGNBD | None:
    from . import bgnbd  # SciPy loads on first use, not with every worker

    if state.r is None or state.alpha is None or state.a is None or state.b is None:
        return None
    return bgnbd.BGNBD(state.r, state.alpha, state.a, state.b)


def refresh_business(business: Business, now: datetime, *, force: bool = False) -> int:
    """Bring the business's scores up to date; returns how many clients were rescored."""
    settings = method_settings(business)
    key = _settings_key(settings)
    today = _today(business, now)
    state = ChurnModel.objects.filter(business=business).first()
    if force or state is None or state.fitted_for != today or state.settings_key != key:
        return _rescore_all(business, settings, now, state, key)
    # The newest id first, then the purchases up to it: one landing in between waits for
    # the next run instead of being counted as seen.
    seen = Purchase.objects.filter(business=business).aggregate(m=Max("pk"))["m"] or 0
    if seen <= state.purchases_seen:
        return 0
    changed = list(
        Purchase.objects.filter(
            pk__gt=state.purchases_seen, pk__lte=seen, business=business, purchased_at__lte=now
        )
        .values_list("contact_id", flat=True)
        .distinct()
    )
    if not changed:
        ChurnModel.objects.filter(pk=state.pk).update(purchases_seen=seen)
        return 0
    history = load_history(business, now, changed)
    _save(score(business, settings, _model_of(state), history, now))
    ChurnModel.objects.filter(pk=state.pk).update(purchases_seen=seen)
    return len(set(changed))


def _rescore_all(
    business: Business,
    settings: MethodSettings,
    now: datetime,
    state: ChurnModel | None,
    key: str,
) -> int:
    today = _today(business, now)
    # Read before the history: a purchase landing in between is rescored once more, never
    # missed.
    seen = Purchase.objects.filter(business=business).aggregate(m=Max("pk"))["m"] or 0
    history = load_history(business, now)
    model, customers, repeaters, note = fit_business(business, history, today)
    rows = score(business, settings, model, history, now)
    with transaction.atomic():
        _save(rows)
        ClientRisk.objects.filter(business=business).exclude(
            Exists(Purchase.objects.filter(contact=OuterRef("contact"), purchased_at__lte=now))
        ).delete()
        ChurnModel.objects.update_or_create(
            business=business,
            defaults={
                "r": model.r if model else None,
                "alpha": model.alpha if model else None,
                "a": model.a if model else None,
                "b": model.b if model else None,
                "log_likelihood": model.log_likelihood if model else None,
                "customers": customers,
                "repeat_buyers": repeaters,
                "note": note,
                "fitted_at": now,
                "fitted_for": today,
                "settings_key": key,
                "purchases_seen": seen,
            },
        )
    return len(rows)


def _not_flagged_for_last_purchase() -> Q:
    return Q(flagged_for__isnull=True) | Q(flagged_for__lt=F("last_purchase_at"))


def due_lapses(business: Business, now: datetime) -> list[ClientRisk]:
    return list(
        ClientRisk.objects.filter(business=business, lapse_at__lte=now)
        .filter(_not_flagged_for_last_purchase())
        .select_related("contact")
        .order_by("lapse_at", "pk")
    )


def _winback_chain(business: Business) -> Chain | None:
    return (
        Chain.objects.filter(
            business=business, kind=ChainKind.WINBACK, is_active=True, steps__isnull=False
        )
        .distinct()
        .order_by("id")
        .first()
    )


def _phone_of(contact: Contact) -> str:
    address = (
        Address.objects.filter(contact=contact, kind=AddressKind.PHONE)
        .filter(state__in=["active", "unverified"])
        .order_by("-is_primary", "id")
        .first()
    )
    return address.value if address is not None else ""


def _refused_calls(contact: Contact) -> bool:
    state = consent_states([contact.pk]).get((contact.pk, Channel.CALL, Purpose.COMMERCIAL))
    return state == ConsentStatus.WITHDRAWN


def _days(span: timedelta) -> str:
    days = round(span.total_seconds() / 86400, 1)
    return formats.number_format(days, decimal_pos=0 if days == int(days) else 1)


def _call_texts(business: Business, risk: ClientRisk, now: datetime) -> tuple[str, str]:
    assert risk.lapse_after is not None
    with translation.override(business.language):
        last_day = risk.last_purchase_at.astimezone(business.zone).date()
        reason = _(
            "The client stopped buying: the last purchase was %(ago)s days ago (%(date)s), "
            "the next was expected within %(limit)s days."
        ) % {
            "ago": (now - risk.last_purchase_at).days,
            "date": formats.date_format(last_day, "SHORT_DATE_FORMAT"),
            "limit": _days(risk.lapse_after),
        }
        script = _(
            "Ask how they are and whether something went wrong with us; "
            "give them a reason to come back."
        )
    return reason[:300], script


def flag_lapse(risk: ClientRisk, chain: Chain | None, now: datetime) -> bool:
    """Flag one lapse (once per last purchase) and start the win-back; False if another
    run flagged it first."""
    business = risk.contact.business
    with transaction.atomic():
        claimed = (
            ClientRisk.objects.filter(pk=risk.pk, last_purchase_at=risk.last_purchase_at)
            .filter(_not_flagged_for_last_purchase())
            .update(flagged_for=risk.last_purchase_at, lapsed_since=now)
        )
        if not claimed:
            return False
        assert risk.lapse_at is not None and risk.lapse_after is not None
        if now - risk.lapse_at > risk.lapse_after:
            return True  # found too late to act on: listed only (see the module's docstring)
        contact = risk.contact
        if chain is not None:
            try:
                enroll(contact, chain, now)
            except AlreadyEnrolled:
                pass  # already being won back: one enrollment per chain at a time
        phone = _phone_of(contact)
        if phone and not _refused_calls(contact):
            reason, script = _call_texts(business, risk, now)
            task = CallTask.objects.create(
                business_id=contact.business_id,
                contact=contact,
                assignee_id=contact.owner_id,
                phone=phone,
                reason=reason,
                script=script,
                due_at=now,
                created_at=now,
            )
            ClientRisk.objects.filter(pk=risk.pk).update(call_task=task)
    return True


def detect_lapses(now: datetime) -> int:
    """Rescore what changed, then flag lapsing clients, enrol them in win-back and give
    their seller a call task; returns how many lapses were flagged (0 on a repeat run)."""
    flagged = 0
    for business in Business.objects.order_by("pk"):
        refresh_business(business, now)
        due = due_lapses(business, now)
        if not due:
            continue
        chain = _winback_chain(business)
        for risk in due:
            risk.contact.business = business
            flagged += flag_lapse(risk, chain, now)
    return flagged
