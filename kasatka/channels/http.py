"""The one HTTP choke point of the channels: timeouts, retries' signals and error mapping.

Every HTTP channel (SMS, messengers) builds its request and reads the provider's answer;
everything between — the client, timeouts, 5xx, 429 with Retry-After, a connection that
breaks mid-request — is decided here, once, so that tests and fault injection have one
place to work on.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from django.conf import settings

from kasatka.channels.base import (
    BaseChannel,
    DeliveryError,
    DeliveryUncertain,
    Outbound,
    Result,
)
from kasatka.channels.ratelimit import Limiter

_client: httpx.Client | None = None


def client() -> httpx.Client:
    """The process's shared client: keeps connections to providers alive across batches.

    Connecting may take a while on a bad network; an answer that takes longer than
    KASATKA_HTTP_TIMEOUT is treated as lost (without provider-side idempotency: "unknown").
    """
    global _client
    if _client is None:
        timeout = settings.KASATKA_HTTP_TIMEOUT
        _client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=False
        )
    return _client


def reset_client() -> None:
    """Drop the shared client (after a settings change, in tests)."""
    global _client
    if _client is not None:
        _client.close()
    _client = None


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


def send(
    request: httpx.Request,
    *,
    idempotent: bool,
    retry_after: Callable[[httpx.Response], float | None] | None = None,
) -> httpx.Response:
    """Send one request; raise DeliveryError / DeliveryUncertain for what is not an answer.

    Returns any response that is not 429 or 5xx: the provider's own error codes (often
    in a 200 or 400 body) are for the channel's `parse_response` to read. `retry_after`
    reads a provider's own "try again in" (Telegram puts it in the JSON body) when the
    Retry-After header is missing.
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
    if response.status_code == 429 or response.status_code >= 500:
        wait = retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None and retry_after is not None:
            try:
                wait = retry_after(response)
            except ValueError:
                wait = None
        what = "rate limited (429)" if response.status_code == 429 else (
            f"server error {response.status_code}"
        )
        raise DeliveryError(f"{request.url.host}: {what}", retry_after=wait)
    return response


def json_answer(response: httpx.Response, provider: str) -> dict[str, Any]:
    """A provider's JSON object, or DeliveryError for anything else.

    A 4xx page that is not JSON means a wrong address in the account (not bad luck), so
    it is permanent; anything else unreadable may be a passing fault of the provider.
    """
    try:
        answer = response.json()
    except ValueError as exc:
        raise DeliveryError(
            f"{provider}: unreadable answer ({response.status_code})",
            permanent=400 <= response.status_code < 500,
        ) from exc
    if not isinstance(answer, dict):
        raise DeliveryError(f"{provider}: unexpected answer {str(answer)[:100]!r}")
    return answer


class HttpChannel(BaseChannel):
    """A channel spoken over a provider's HTTP API: fill in build_request and parse_response.

    The account's options may set "api_url" (a proxy, a test server); otherwise the
    provider's documented address, API_URL, is used.
    """

    API_URL: ClassVar[str] = ""
    # Providers that dedupe by our key (a client message id) may be retried after a lost answer.
    idempotent: ClassVar[bool] = False

    @property
    def api_url(self) -> str:
        return str(self.options.get("api_url") or self.API_URL).rstrip("/")

    def build_request(self, message: Outbound) -> httpx.Request:
        raise NotImplementedError

    def parse_response(self, response: httpx.Response, message: Outbound) -> str:
        """The provider's message id, or DeliveryError(permanent=…) from its error codes."""
        raise NotImplementedError

    def retry_after(self, response: httpx.Response) -> float | None:
        """A provider's own "retry in" from a 429/5xx body, when it sends no header."""
        return None

    def deliver(self, message: Outbound) -> str:
        response = send(
            self.build_request(message), idempotent=self.idempotent, retry_after=self.retry_after
        )
        return self.parse_response(response, message)

    def rate_limits(self) -> list[tuple[str, float | None]]:
        """The limits this batch must keep: the provider account's and the channel's."""
        limits: list[tuple[str, float | None]] = []
        if self.account is not None:
            rate = self.account.rate_per_second or self.default_rate
            limits.append((f"account:{self.account.pk}", rate))
        limits.append((f"channel:{self.code}", settings.KASATKA_CHANNEL_RATES.get(self.code)))
        return limits

    def deliver_batch(
        self, messages: Sequence[Outbound], should_stop: Callable[[], bool]
    ) -> list[Result | None]:
        """Deliver in order, each message in its rate-limit slot.

        Messages whose slot would come after half the lease are left untried (None):
        the engine puts them back, and the next batch takes them, rather than have the
        lease run out under a slow provider.
        """
        limiter = Limiter(self.rate_limits(), should_stop)
        budget_until = time.time() + settings.KASATKA_ENGINE["LEASE_SECONDS"] / 2
        results: list[Result | None] = []
        for i, message in enumerate(messages):
            if should_stop() or (limiter and not limiter.wait(len(messages) - i, budget_until)):
                results.extend([None] * (len(messages) - i))
                break
            results.append(self.attempt(message))
        return results
