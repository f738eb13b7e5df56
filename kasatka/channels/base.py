"""The shared base of every channel: the outbound message, typed errors, results."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from django.http import HttpRequest

    from kasatka.accounts.models import Business
    from kasatka.chains.models import Step
    from kasatka.channels.models import ProviderAccount


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


# --- what webhooks bring in ---------------------------------------------------------
@dataclass
class StatusEvent:
    """The provider's news about a message we sent: delivered, read, failed…"""

    provider_message_id: str
    status: str  # a chains.TouchStatus value, mapped through the provider's STATUS_MAP
    error: str = ""
    # For failures that are about the address itself (unknown number, blocked bot).
    address_state: str | None = None


@dataclass
class InboundEvent:
    """A message from a contact: a reply, a button pressed, "STOP"."""

    sender: str  # the address value it came from (a phone, a chat id)
    text: str
    provider_message_id: str = ""
    payload: dict[str, Any] = field(default_factory=dict)  # button data, raw extras
    # The message of ours it answers, when the provider says so.
    in_reply_to: str = ""


@dataclass
class AddressEvent:
    """The provider's news about an address: unsubscribed, blocked the bot, came back."""

    address: str
    state: str  # a contacts.AddressState value
    reason: str


@dataclass
class BindEvent:
    """A contact came to a messenger through their signed link (Telegram /start <token>)."""

    token: str
    address: str  # the chat id to bind
    display_name: str = ""


Event = StatusEvent | InboundEvent | AddressEvent | BindEvent


class WebhookForbidden(Exception):
    """The request's signature or secret does not check out: 403, nothing recorded."""


@dataclass
class WebhookReply:
    """What a webhook brought in, and what the provider expects to read back."""

    events: list[Event] = field(default_factory=list)
    body: str = ""
    content_type: str = "text/plain"
    status: int = 200


class BaseChannel:
    """A way to deliver touches. A subclass fills in `deliver` (or `deliver_batch`)."""

    code: ClassVar[str]
    # The provider's code for channels that go through a ProviderAccount ("smsru",
    # "twilio", "telegram"…); empty for those that need none (e-mail, calls, letters).
    provider: ClassVar[str] = ""
    # The provider's own limit (messages per second) when the account names none.
    default_rate: ClassVar[float | None] = None
    # Provider status → chains.TouchStatus value (anymail-style normalisation).
    STATUS_MAP: ClassVar[dict[str, str]] = {}
    # Which address kind the channel needs (contacts.AddressKind value).
    address_kind: ClassVar[str]
    # True when the provider dedupes by our idempotency key, so an interrupted
    # send may be repeated safely; otherwise an interrupted touch becomes "unknown".
    idempotent: ClassVar[bool] = False
    # False when the provider's id is derived from our key (an e-mail's Message-ID):
    # not storing it lets a batch's results share one UPDATE.
    records_provider_id: ClassVar[bool] = True

    def __init__(self, account: ProviderAccount | None = None) -> None:
        self.account = account

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.account.options) if self.account is not None else {}

    @property
    def secrets(self) -> dict[str, str]:
        return self.account.secrets if self.account is not None else {}

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

    def handle_webhook(self, request: HttpRequest) -> WebhookReply:
        """Check the request's signature and read its events; WebhookForbidden if forged."""
        raise WebhookForbidden(f"{self.code} takes no webhooks")

    def respond(self, reply: WebhookReply, outcomes: list[str]) -> WebhookReply:
        """The answer to the provider once the events are applied (e.g. a bot's greeting)."""
        return reply

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
