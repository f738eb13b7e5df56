"""The guardrails the engine applies at send time (issue 7), as plain functions and one
per-batch object: quiet hours in the contact's time zone, public holidays, frequency caps
across all chains with priorities, suppression.

A touch that may not go now is re-timed, not dropped: to the next opening of its window
(with a little spread), to the day the caps allow, and skipped with the reason only when
the caps would push it further than `max_postpone_days`.

Definitions (docs/guardrails.md):
- The contact's time zone: their own (set by hand), else their phone number's when it has
  one zone, else the business's. Their country (for holidays): the phone number's region,
  else the business's holidays country.
- A day is the contact's local calendar day; a week is the last 7 × 24 hours.
- Caps count commercial touches only, sent (or handed to the provider) by any chain.
"""

from __future__ import annotations

import functools
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from django.db.models import Q

from kasatka.accounts.calendar import BusinessCalendar, public_holidays
from kasatka.accounts.models import SendingRules
from kasatka.chains.actions import due_time
from kasatka.chains.models import (
    LIVE_ENROLLMENT_STATES,
    ChainKind,
    Enrollment,
    EnrollmentState,
    Touch,
)
from kasatka.channels.models import InboundMessage
from kasatka.contacts.actions import phone_place
from kasatka.contacts.models import Channel, Suppression, SuppressionReason
from kasatka.dbutil import ids_in

from .models import GuardEvent, GuardRule
from .rules import Suppressed

# Lower goes first. Informational steps go first whatever their chain (nudges are).
PRIORITY: Final[dict[str, int]] = {
    ChainKind.NUDGE: 0,
    ChainKind.LEAD_CONVERSION: 1,
    ChainKind.WARMING: 2,
    ChainKind.NURTURE: 3,
    ChainKind.LOYALTY: 4,
    ChainKind.WINBACK: 5,
}
INFORMATIONAL_PRIORITY: Final = 0
WEEK: Final = timedelta(days=7)
# When a re-timed touch without a window of its own goes: the start of an ordinary day.
DAY_START: Final = time(9, 0)


def priority(chain_kind: str, commercial: bool) -> int:
    return PRIORITY.get(chain_kind, 3) if commercial else INFORMATIONAL_PRIORITY


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def contact_place(
    own_zone: str, phones: Sequence[str], business_zone: str, business_country: str
) -> tuple[ZoneInfo, str]:
    """The contact's time zone and holidays country (see the module's definitions)."""
    zone, country = own_zone, ""
    for phone in phones:
        phone_zone, region = phone_place(phone)
        zone = zone or phone_zone
        country = country or region
        if zone and country:
            break
    return _zone(zone or business_zone), country or business_country


def _hours(window: Sequence[str]) -> tuple[time, time]:
    return time.fromisoformat(window[0]), time.fromisoformat(window[1])


@dataclass
class Window:
    """When one channel may deliver to one contact."""

    zone: ZoneInfo
    hours: tuple[time, time] | None  # None: any time of day
    holidays: frozenset[date] | None  # days a commercial touch may not go (contact's country)
    working_day: Callable[[date], bool] | None = None  # the business's calendar (calls)

    def allows_day(self, day: date) -> bool:
        if self.holidays is not None and day in self.holidays:
            return False
        return self.working_day is None or self.working_day(day)

    def next_opening(self, moment: datetime) -> tuple[datetime, str] | None:
        """None if the channel may deliver at `moment`; else the next moment it may, and
        the rule that held it."""
        local = moment.astimezone(self.zone)
        day = local.date()
        start, end = self.hours or (time(0), time(23, 59, 59, 999999))
        rule = ""
        if not self.allows_day(day):
            rule = self._day_rule(day)
        elif not start <= local.time() < end:
            rule = GuardRule.QUIET_HOURS
        if not rule:
            return None
        # The first allowed day from today (today only if its window is still ahead).
        if not self.allows_day(day) or local.time() >= end:
            day += timedelta(days=1)
        for _ in range(400):
            if self.allows_day(day):
                opening_time = start if self.hours else DAY_START
                opening = datetime.combine(day, opening_time, tzinfo=self.zone)
                return max(opening, moment), rule
            day += timedelta(days=1)
        return None  # no allowed day in a year: let it go rather than hold it forever

    def _day_rule(self, day: date) -> str:
        if self.holidays is not None and day in self.holidays:
            return GuardRule.HOLIDAY
        return GuardRule.DAY_OFF


def window_for(
    rules: SendingRules,
    channel: str,
    commercial: bool,
    zone: ZoneInfo,
    country: str,
    year: int,
    working_day: Callable[[date], bool],
) -> Window:
    hours = rules.windows.get(channel) if isinstance(rules.windows, dict) else None
    holidays = None
    if commercial and not rules.commercial_on_holidays:
        holidays = _holidays_from(country, year)
    calls_only_on_working_days = channel == Channel.CALL and rules.calls_on_working_days_only
    return Window(
        zone=zone,
        hours=_hours(hours) if hours else None,
        holidays=holidays,
        working_day=working_day if calls_only_on_working_days else None,
    )


@functools.lru_cache(maxsize=64)
def _holidays_from(country: str, year: int) -> frozenset[date]:
    """A country's public holidays this year and next (a window may open in January)."""
    return public_holidays(country, year) | public_holidays(country, year + 1)


def spread(moment: datetime, minutes: int, rng: random.Random | None = None) -> datetime:
    """A little later than `moment`, so that thousands held overnight do not fire at once."""
    if minutes <= 0:
        return moment
    return moment + timedelta(seconds=(rng or random).uniform(0, minutes * 60))


def _free_at(times: list[datetime], cap: int, now: datetime) -> datetime:
    """When one more fits a week's cap: once the oldest of the counted touches is a week
    old. A cap of 0 never frees (the touch ends skipped, with the reason)."""
    if cap <= 0:
        return now + timedelta(days=3650)
    return times[len(times) - cap] + WEEK


@dataclass
class Caps:
    """Commercial touches per contact, as sent before this batch and as planned in it."""

    rules: Mapping[int, SendingRules]  # by business
    sent: dict[int, list[tuple[datetime, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def load(self, rows: Iterable[tuple[int, datetime | None, str]]) -> None:
        for contact_id, at, channel in rows:
            if at is not None:
                self.sent[contact_id].append((at, channel))

    def take(self, contact_id: int, at: datetime, channel: str) -> None:
        self.sent[contact_id].append((at, channel))

    def check(
        self, business_id: int, contact_id: int, channel: str, now: datetime, zone: ZoneInfo,
        reserved: int = 0,
    ) -> tuple[datetime, str] | None:
        """None if one more commercial touch on `channel` fits now; else the earliest time
        it would, and the cap that holds it. `reserved`: today's slots kept for touches of
        more important chains due later today."""
        rules = self.rules[business_id]
        before = self.sent.get(contact_id)
        if not before and not reserved and min(
            rules.cap_per_day, rules.cap_per_week, rules.cap_per_channel_per_day,
            rules.cap_per_channel_per_week,
        ) > 0:
            return None  # the common case: nothing sent to them this week
        sent = [(at, ch) for at, ch in before or () if at > now - WEEK]
        today = now.astimezone(zone).date()
        # Held to another day: its morning, not its midnight.
        tomorrow = datetime.combine(today + timedelta(days=1), DAY_START, tzinfo=zone)
        today_all = [at for at, _ch in sent if at.astimezone(zone).date() == today]
        today_channel = [
            at for at, ch in sent if ch == channel and at.astimezone(zone).date() == today
        ]
        week_channel = sorted(at for at, ch in sent if ch == channel)
        week_all = sorted(at for at, _ch in sent)
        held: list[tuple[datetime, str]] = []
        if len(today_all) + reserved >= rules.cap_per_day:
            rule = GuardRule.PRIORITY if len(today_all) < rules.cap_per_day else GuardRule.CAP_DAY
            held.append((tomorrow, rule))
        if len(today_channel) >= rules.cap_per_channel_per_day:
            held.append((tomorrow, GuardRule.CAP_CHANNEL_DAY))
        if len(week_all) >= rules.cap_per_week:
            held.append((_free_at(week_all, rules.cap_per_week, now), GuardRule.CAP_WEEK))
        if len(week_channel) >= rules.cap_per_channel_per_week:
            free = _free_at(week_channel, rules.cap_per_channel_per_week, now)
            held.append((free, GuardRule.CAP_CHANNEL_WEEK))
        if not held:
            return None
        return max(held)


# --- one batch's guard ------------------------------------------------------------


class Guard:
    """What one batch needs to apply the guardrails, loaded in a fixed number of queries,
    and the decisions it made (GuardEvent rows, written with the batch's touches)."""

    def __init__(
        self,
        now: datetime,
        rules: Mapping[int, SendingRules],
        calendars: Mapping[int, BusinessCalendar],
    ) -> None:
        self.now = now
        self.rules = rules
        self.calendars = calendars
        self.caps = Caps(rules)
        self.suppressed = Suppressed({}, {})
        self.places: dict[int, tuple[ZoneInfo, str]] = {}
        self.replies: dict[int, list[datetime]] = defaultdict(list)
        # Other enrollments of the batch's contacts due within a day: (priority, due).
        self.coming: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
        self.events: list[GuardEvent] = []
        # Windows are shared by every contact of a zone and country: made once a batch.
        self._windows: dict[tuple[int, str, bool, str, str], Window] = {}

    @classmethod
    def load(
        cls,
        enrollments: Sequence[Any],
        phones: Mapping[int, list[str]],
        address_keys: Iterable[tuple[str, str]],
        rules: Mapping[int, SendingRules],
        calendars: Mapping[int, BusinessCalendar],
        now: datetime,
        worker_id: str = "",
    ) -> Guard:
        guard = cls(now, rules, calendars)
        contact_ids = {e.contact_id for e in enrollments}
        business_ids = {e.business_id for e in enrollments}
        for e in enrollments:
            if e.contact_id not in guard.places:
                business = e.business
                guard.places[e.contact_id] = contact_place(
                    e.contact.time_zone, phones.get(e.contact_id, ()), business.time_zone,
                    business.holidays_country,
                )
        guard.suppressed = _suppressions(business_ids, contact_ids, set(address_keys))
        guard.caps.load(
            ids_in(
                Touch.objects.filter(is_commercial=True, sent_at__gt=now - WEEK),
                "contact_id", contact_ids,
            ).values_list("contact_id", "sent_at", "channel")
        )
        claimed = {e.pk for e in enrollments}
        horizon = now + timedelta(days=1)
        # By contact through the index of live enrollments (its condition is this state
        # filter): a filter on the due time would make the database walk every due row.
        for contact_id, state, kind, commercial, due, pk in ids_in(
            Enrollment.objects.filter(state__in=LIVE_ENROLLMENT_STATES).exclude(
                lease_owner=worker_id
            ),
            "contact_id", contact_ids,
        ).values_list(
            "contact_id", "state", "chain__kind", "step__is_commercial", "next_touch_at", "id"
        ):
            if (
                pk not in claimed and state == EnrollmentState.ACTIVE and commercial
                and due is not None and due <= horizon
            ):
                guard.coming[contact_id].append((priority(kind, True), due))
        watched = [e for e in enrollments if e.chain.exit_on_reply]
        if watched:
            since = min(e.enrolled_at for e in watched)
            for contact_id, at in ids_in(
                InboundMessage.objects.filter(received_at__gte=since),
                "contact_id", {e.contact_id for e in watched},
            ).values_list("contact_id", "received_at"):
                guard.replies[contact_id].append(at)
        return guard

    # --- exit rules -------------------------------------------------------------
    def exit_reason(self, e: Any, nudge: Any) -> str:
        """Why the enrollment must end now rather than send (purchase is checked apart)."""
        if e.chain.exit_on_reply and any(at >= e.enrolled_at for at in self.replies.get(
            e.contact_id, ()
        )):
            return "replied"
        if nudge is not None:
            if nudge.deal.status != "open":
                return f"deal {nudge.deal.status}"
            if nudge.state != "thrown":
                return f"nudge {nudge.state}"
        return ""

    # --- holding ----------------------------------------------------------------
    def hold(
        self, e: Any, step: Any, channel: str, fresh: bool, now: datetime
    ) -> tuple[datetime | None, str, str] | None:
        """None: the touch may go now. Else (until, rule, why): until None means skipped."""
        rules = self.rules[e.business_id]
        zone, country = self.places[e.contact_id]
        key = (e.business_id, channel, step.is_commercial, zone.key, country)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = window_for(
                rules, channel, step.is_commercial, zone, country, now.year,
                self.calendars[e.business_id].is_working_day,
            )
        opening = window.next_opening(now)
        if opening is not None:
            until, rule = opening
            local = now.astimezone(zone)
            why = f"{channel} at {local:%H:%M} {zone.key} → {until.astimezone(zone):%d.%m %H:%M}"
            return spread(until, rules.spread_minutes), rule, why
        if not (fresh and step.is_commercial):
            return None
        mine = priority(e.chain.kind, True)
        tomorrow = datetime.combine(
            now.astimezone(zone).date() + timedelta(days=1), time(0), tzinfo=zone
        )
        reserved = sum(
            1 for rank, due in self.coming.get(e.contact_id, ()) if rank < mine and due < tomorrow
        )
        capped = self.caps.check(e.business_id, e.contact_id, channel, now, zone, reserved)
        if capped is None:
            return None
        until, rule = capped
        due = due_time(step, e.enrolled_at, e.last_touch_at or e.enrolled_at)
        limit = timedelta(days=rules.max_postpone_days)
        if until - due > limit:
            return None, GuardRule.TOO_LATE, (
                f"{rule}: would wait until {until:%Y-%m-%d}, more than "
                f"{rules.max_postpone_days} days after it was due"
            )
        return spread(until, rules.spread_minutes), rule, f"{rule} on {channel}"

    def note(
        self, e: Any, rule: str, action: str, detail: str, now: datetime,
        until: datetime | None = None, channel: str = "",
    ) -> None:
        self.events.append(GuardEvent(
            business_id=e.business_id, enrollment_id=e.pk, contact_id=e.contact_id,
            step_id=e.step_id, channel=channel, rule=rule, action=action, detail=detail[:500],
            until=until, at=now,
        ))


def _suppressions(
    business_ids: set[int], contact_ids: set[int], address_keys: set[tuple[str, str]]
) -> Suppressed:
    """The active suppressions of the batch's contacts and addresses: one query."""
    values = {value for _kind, value in address_keys}
    rows = Suppression.objects.filter(
        Q(contact_id__in=contact_ids, value="") | Q(value__in=values),
        business_id__in=business_ids, lifted_at__isnull=True,
    ).values_list("contact_id", "kind", "value", "reason")
    addresses: dict[tuple[str, str], str] = {}
    contacts: dict[int, str] = {}
    for contact_id, kind, value, reason in rows:
        if value:
            # An address suppressed because its owner withdrew consent only keeps imports
            # and the API from re-subscribing it: what the contact still accepts
            # (informational touches) is the consent check's to decide.
            if reason == SuppressionReason.WITHDRAWN:
                continue
            if (kind, value) in address_keys:
                addresses[(kind, value)] = reason
        elif contact_id is not None:
            contacts[contact_id] = reason
    return Suppressed(addresses, contacts)
