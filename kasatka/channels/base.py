"""The shared base of every channel: the outbound message, typed errors, results."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from kasatka.accounts.models import Business
    from kasatka.chains.models import Step


class Outcome(enum.Enum):
    """What a delivery attempt came to, normalised over providers."""

    SENT = "sent"
    TRANSIENT = "transient"  # not delivered; safe to try again later
    PERMANENT = "permanent"  # not delivered; trying again will not help
    UNKNOWN = "unknown"  # may or may not have reached the provider


class AddressLike(Protocol):
    """An address as the engine carries it: a model row or a light row of the batch."""

    @property
    def pk(self) -> Any: ...
    @property
    def kind(self) -> str: ...
    @property
    def value(self) -> str: ...
    @property
    def is_usable(self) -> bool: ...


class ContactLike(Protocol):
    """What channels read of a contact (a model row or the engine's light row)."""

    @property
    def pk(self) -> Any: ...
    @property
    def language(self) -> str: ...
    @property
    def owner_id(self) -> int | None: ...


class DeliveryError(Exception):
    """A provider refused or failed; `permanent` says whether a retry can help."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        retry_after: float | None = None,
        address_state: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after
        # For permanent errors about the address itself (bounced, blocked).
        self.address_state = address_state


class DeliveryUncertain(Exception):
    """The provider may have accepted the message before the answer was lost."""


@dataclass
class Outbound:
    """One touch ready to go: who, where, what, under which key."""

    touch_id: int
    idempotency_key: str
    business: Business
    contact: ContactLike
    address: AddressLike
    step: Step
    subject: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)
    unsubscribe_url: str = ""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class Result:
    outcome: Outcome
    provider_message_id: str = ""
    error: str = ""
    retry_after: float | None = None
    address_state: str | None = None


class BaseChannel:
    """A way to deliver touches. A subclass fills in `deliver` (or `deliver_batch`)."""

    code: ClassVar[str]
    # Which address kind the channel needs (contacts.AddressKind value).
    address_kind: ClassVar[str]
    # True when the provider dedupes by our idempotency key, so an interrupted
    # send may be repeated safely; otherwise an interrupted touch becomes "unknown".
    idempotent: ClassVar[bool] = False
    # False when the provider's id is derived from our key (an e-mail's Message-ID):
    # not storing it lets a batch's results share one UPDATE.
    records_provider_id: ClassVar[bool] = True

    def open(self) -> None:
        """Prepare for a batch (open a connection); errors surface in deliver."""

    def close(self) -> None:
        """Release what `open` took."""

    def deliver(self, message: Outbound) -> str:
        """Hand one message to the provider; return its message id or raise DeliveryError."""
        raise NotImplementedError

    def deliver_batch(
        self, messages: Sequence[Outbound], should_stop: Callable[[], bool]
    ) -> list[Result | None]:
        """Deliver in order; None marks a message left untried because of a stop."""
        results: list[Result | None] = []
        for message in messages:
            if should_stop():
                results.append(None)
                continue
            results.append(self.attempt(message))
        return results

    def attempt(self, message: Outbound) -> Result:
        try:
            provider_id = self.deliver(message)
        except DeliveryError as exc:
            return Result(
                Outcome.PERMANENT if exc.permanent else Outcome.TRANSIENT,
                error=exc.message,
                retry_after=exc.retry_after,
                address_state=exc.address_state,
            )
        except DeliveryUncertain as exc:
            return Result(Outcome.UNKNOWN, error=str(exc))
        return Result(Outcome.SENT, provider_message_id=provider_id)
