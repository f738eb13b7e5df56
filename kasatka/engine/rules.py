"""What the engine decides at send time, as plain functions testable without the loop.

Texts it stores (skip reasons, errors) are English, like the provider answers they quote;
the UI translates the statuses, which are what a user acts on.
"""

from __future__ import annotations

import random
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kasatka.channels.base import AddressLike
from kasatka.contacts.models import (
    CHANNEL_ADDRESS_KIND,
    AddressState,
    Channel,
    ConsentStatus,
    Purpose,
)

ConsentStates = Mapping[tuple[int, str, str], str]


@dataclass(frozen=True)
class Suppressed:
    """The batch's active suppressions: addresses by (kind, value), contacts by id."""

    addresses: Mapping[tuple[str, str], str]
    contacts: Mapping[int, str]


@dataclass(frozen=True)
class Route:
    channel: str
    address: AddressLike
    # Why the channels preferred to this one were passed over ("telegram: no usable address").
    skipped: str = ""


@dataclass(frozen=True, slots=True)
class AddressRow:
    """An address as the batch path reads it: five columns, no model instance."""

    pk: int
    contact_id: int
    kind: str
    value: str
    state: str

    @property
    def is_usable(self) -> bool:
        return self.state in (AddressState.ACTIVE, AddressState.UNVERIFIED)


def consent_allows(states: ConsentStates, contact_id: int, channel: str, commercial: bool) -> bool:
    """Commercial touches need consent given; informational ones only need it not withdrawn."""
    if commercial:
        return states.get((contact_id, channel, Purpose.COMMERCIAL)) == ConsentStatus.GRANTED
    return states.get((contact_id, channel, Purpose.INFORMATIONAL)) != ConsentStatus.WITHDRAWN


def age_on(birthday: date | None, today: date) -> int | None:
    if birthday is None:
        return None
    before_birthday = (today.month, today.day) < (birthday.month, birthday.day)
    return today.year - birthday.year - before_birthday


def prefers_paper(birthday: date | None, today: date, paper_from_age: int | None) -> bool:
    """The method's rule: contacts of a certain age (default 50) read paper (METHOD.md §2)."""
    age = age_on(birthday, today)
    return paper_from_age is not None and age is not None and age >= paper_from_age


def choose_route(
    channels: Sequence[str],
    commercial: bool,
    contact_id: int,
    addresses: Iterable[AddressLike],
    consents: ConsentStates,
    available: Container[str],
    prefer_paper: bool = False,
    suppressed: Suppressed | None = None,
) -> Route | str:
    """The first channel of the step's preference list the contact can be reached on.

    With `prefer_paper`, a printed letter goes first when the step allows one.
    Returns the route (with why the channels before it were skipped), or the reasons
    why none can be used.
    """
    addresses = list(addresses)
    if suppressed is not None and contact_id in suppressed.contacts:
        return f"contact suppressed: {suppressed.contacts[contact_id]}"
    if prefer_paper and Channel.LETTER in channels:
        channels = [Channel.LETTER, *(c for c in channels if c != Channel.LETTER)]
    reasons: list[str] = []
    for channel in channels:
        if channel not in available:
            reasons.append(f"{channel}: not set up")
            continue
        kind = CHANNEL_ADDRESS_KIND[channel]
        usable = [a for a in addresses if a.kind == kind and a.is_usable]
        if not usable:
            reasons.append(f"{channel}: no usable address")
            continue
        if suppressed is not None and suppressed.addresses:
            held = [suppressed.addresses.get((a.kind, a.value)) for a in usable]
            usable = [a for a, reason in zip(usable, held, strict=True) if reason is None]
            if not usable:
                reasons.append(f"{channel}: suppressed ({held[0]})")
                continue
        if not consent_allows(consents, contact_id, channel, commercial):
            reasons.append(f"{channel}: no consent")
            continue
        return Route(channel, usable[0], "; ".join(reasons))
    return "; ".join(reasons)


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with ±20 % jitter, so that retries of a batch spread out."""
    delay = min(base * (2 ** max(attempt - 1, 0)), cap) * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


def purchased_since(purchase_times: Iterable[datetime], since: datetime) -> bool:
    return any(t >= since for t in purchase_times)
