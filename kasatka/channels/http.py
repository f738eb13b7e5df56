"""The one HTTP choke point of the channels: timeouts, retries' signals and error mapping.

Every HTTP channel (SMS, messengers) builds its request and reads the provider's answer;
everything between — the client, timeouts, 5xx, 429 with Retry-After, a connection that
breaks mid-request — is decided here, once, so that tests and fault injection have one
place to work on.
"""

from __future__ import annotations

import email.utils
import time
from datetime import UTC, datetime
from typing import ClassVar

import httpx

from kasatka.channels.base import BaseChannel, DeliveryError, DeliveryUncertain, Outbound

# Connecting may take a while on a bad network; an answer that takes longer than this
# is treated as lost (and, without provider-side idempotency, as "unknown").
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)

_client: httpx.Client | None = None


def client() -> httpx.Client:
    """The process's shared client: keeps connections to providers alive across batches."""
    global _client
    if _client is None:
        _client = httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)
    return _client


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return max((when - current).total_seconds(), 0.0)


def send(request: httpx.Request, *, idempotent: bool) -> httpx.Response:
    """Send one request; raise DeliveryError / DeliveryUncertain for what is not an answer.

    Returns any response that is not 429 or 5xx: the provider's own error codes (often
    in a 200 or 400 body) are for the channel's `parse_response` to read.
    """
    try:
        response = client().send(request)
    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
        # Nothing reached the provider: safe to try again later.
        raise DeliveryError(f"cannot connect to {request.url.host}: {exc}") from exc
    except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError,
            httpx.ReadError) as exc:
        # The request may have been acted on before the answer was lost.
        if idempotent:
            raise DeliveryError(f"no answer from {request.url.host}: {exc!r}") from exc
        raise DeliveryUncertain(f"no answer from {request.url.host}: {exc!r}") from exc
    except httpx.HTTPError as exc:
        raise DeliveryError(f"HTTP error talking to {request.url.host}: {exc!r}") from exc
    if response.status_code == 429:
        raise DeliveryError(
            f"{request.url.host}: rate limited (429)",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if response.status_code >= 500:
        raise DeliveryError(
            f"{request.url.host}: server error {response.status_code}",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    return response


class HttpChannel(BaseChannel):
    """A channel spoken over a provider's HTTP API: fill in build_request and parse_response."""

    # Providers that dedupe by our key (a client message id) may be retried after a lost answer.
    idempotent: ClassVar[bool] = False

    def build_request(self, message: Outbound) -> httpx.Request:
        raise NotImplementedError

    def parse_response(self, response: httpx.Response, message: Outbound) -> str:
        """The provider's message id, or DeliveryError(permanent=…) from its error codes."""
        raise NotImplementedError

    def deliver(self, message: Outbound) -> str:
        response = send(self.build_request(message), idempotent=self.idempotent)
        return self.parse_response(response, message)
