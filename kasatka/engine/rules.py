"""What the engine decides at send time, as plain functions testable without the loop.

Texts it stores (skip reasons, errors) are English, like the provider answers they quote;
the UI translates the statuses, which are what a user acts on.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from kasatka.channels.base import AddressLike
from kasatka.channels.registry import is_available
from kasatka.contacts.models import (
    CHANNEL_ADDRESS_KIND,
    AddressState,
    ConsentStatus,
    Purpose,
)

ConsentStates = Mapping[tuple[int, str, str], str]


@dataclass(frozen=True)
class Route:
    channel: str
    address: AddressLike


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


def choose_route(
    channels: Sequence[str],
    commercial: bool,
    contact_id: int,
    addresses: Iterable[AddressLike],
    consents: ConsentStates,
) -> Route | str:
    """The first channel of the step's preference list the contact can be reached on.

    Returns the route, or the reason why none can be used.
    """
    addresses = list(addresses)
    reasons: list[str] = []
    for channel in channels:
        if not is_available(channel):
            reasons.append(f"{channel}: not set up")
            continue
        kind = CHANNEL_ADDRESS_KIND[channel]
        usable = [a for a in addresses if a.kind == kind and a.is_usable]
        if not usable:
            reasons.append(f"{channel}: no usable address")
            continue
        if not consent_allows(consents, contact_id, channel, commercial):
            reasons.append(f"{channel}: no consent")
            continue
        return Route(channel, usable[0])
    return "; ".join(reasons)


def backoff(attempt: int, base: float, cap: float, retry_after: float | None = None) -> timedelta:
    """Exponential backoff with ±20 % jitter, so that retries of a batch spread out."""
    delay = min(base * (2 ** max(attempt - 1, 0)), cap) * random.uniform(0.8, 1.2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return timedelta(seconds=delay)


def purchased_since(purchase_times: Iterable[datetime], since: datetime) -> bool:
    return any(t >= since for t in purchase_times)
