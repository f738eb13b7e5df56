"""The contract every provider channel passes, against a real local HTTP server.

A provider's test module subclasses `ChannelContract`, says how its provider answers
(in the provider's documented formats) and what a status webhook looks like; pytest
then runs the same cases for each: success, permanent error, transient error then
success, 429 with Retry-After, timeout, and a status webhook with a good and a forged
signature. The cases drive the real engine (Worker) and the real webhook endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from django.test import Client

from kasatka.accounts.models import Business
from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels import http
from kasatka.channels.binding import hook_key
from kasatka.channels.models import InboundMessage, ProviderAccount
from kasatka.contacts.actions import record_consent
from kasatka.contacts.models import (
    CHANNEL_ADDRESS_KIND,
    Address,
    AddressState,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
)
from kasatka.engine.clock import ManualClock
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders

from .provider_server import Answer, ProviderServer, Request

BODY = "{{ contact.greeting }}! Новая коллекция уже в салоне. {{ business.name }}"


@dataclass
class Hook:
    """A webhook request as the provider sends it."""

    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)  # HTTP header names as sent
    query: str = ""  # "?a=b" appended to the hook address
    # For providers that sign nothing, the key in our hook address is the credential:
    # `forge` sets a made-up one.
    key: str | None = None


@dataclass
class Sent:
    """What a case hands the provider-specific checks."""

    touch: Touch
    contact: Contact
    address: Address
    request: Request


class ChannelContract:
    """Subclass per provider and fill in the class attributes and methods below."""

    channel: ClassVar[str]  # contacts.Channel value
    provider: ClassVar[str]  # key of registry.PROVIDERS
    address: ClassVar[str]  # our spelling of the contact's address (E.164, a chat id)
    secrets: ClassVar[dict[str, str]] = {}
    options: ClassVar[dict[str, Any]] = {}
    # The provider's id of the message `success()` accepts.
    message_id: ClassVar[str]
    # The address state a permanent error leaves (None: the address is not at fault).
    permanent_address_state: ClassVar[str | None] = AddressState.BOUNCED
    # The touch status the status webhook of `status_hook()` gives.
    hook_status: ClassVar[str] = TouchStatus.DELIVERED
    # Whether the provider dedupes by our key: a timeout is then retried, else "unknown".
    idempotent: ClassVar[bool] = False

    # --- the provider's answers -------------------------------------------------
    def success(self) -> Answer:
        raise NotImplementedError

    def permanent(self) -> Answer:
        raise NotImplementedError

    def transient(self) -> Answer:
        return Answer(503, "Service Unavailable")

    def rate_limited(self, seconds: int) -> Answer:
        return Answer(429, "Too Many Requests", {"Retry-After": str(seconds)})

    def check_request(self, sent: Sent) -> None:
        """Assert the request is what the provider documents (path, auth, fields)."""
        raise NotImplementedError

    # --- its webhooks ------------------------------------------------------------
    def status_hook(self, message_id: str) -> Hook:
        """A "delivered" status webhook for message_id, correctly signed."""
        raise NotImplementedError

    def forge(self, hook: Hook) -> Hook:
        """The same webhook with a wrong signature (or secret)."""
        raise NotImplementedError

    # --- fixtures -------------------------------------------------------------------
    @pytest.fixture
    def short_timeout(self, settings):
        settings.KASATKA_HTTP_TIMEOUT = 0.5
        http.reset_client()
        yield
        http.reset_client()

    @pytest.fixture
    def world(self, shop: Business, clock: ManualClock, settings):
        settings.KASATKA_BASE_URL = "http://testserver"
        return World(self, shop, clock)

    # --- the cases ----------------------------------------------------------------------
    def test_success_sends_in_the_documented_format_and_records_the_id(self, world, server):
        s = server(self.success())
        touch = world.send(s)
        assert touch.status == TouchStatus.SENT, touch.error
        assert touch.provider_message_id == self.message_id
        assert len(s.requests) == 1
        self.check_request(Sent(touch, world.contact, world.address_row, s.requests[0]))

    def test_permanent_error_fails_the_touch_and_suppresses_the_address(self, world, server):
        s = server(self.permanent())
        touch = world.send(s)
        assert touch.status in (TouchStatus.FAILED, TouchStatus.BOUNCED)
        assert touch.error
        world.address_row.refresh_from_db()
        if self.permanent_address_state is None:
            assert world.address_row.state == AddressState.ACTIVE
        else:
            assert world.address_row.state == self.permanent_address_state
            assert world.address_row.state_reason, "the reason is recorded"
        assert len(s.requests) == 1, "a permanent error is not retried"

    def test_transient_error_then_success_retries_under_the_same_key(self, world, server):
        s = server(self.transient(), self.success())
        touch = world.send(s)
        assert touch.status == TouchStatus.DEFERRED
        enrollment = touch.enrollment
        enrollment.refresh_from_db()
        assert enrollment.next_touch_at > world.clock.now()
        world.clock.advance(timedelta(hours=7))
        touch = world.run()
        assert touch.status == TouchStatus.SENT, touch.error
        assert touch.provider_message_id == self.message_id
        assert Touch.objects.filter(enrollment=enrollment).count() == 1
        assert len(s.requests) == 2

    def test_429_honours_retry_after(self, world, server):
        s = server(self.rate_limited(3600), self.success())
        touch = world.send(s)
        assert touch.status == TouchStatus.DEFERRED
        touch.enrollment.refresh_from_db()
        # The engine's own first backoff is a minute; the provider asked for an hour.
        assert touch.enrollment.next_touch_at >= world.clock.now() + timedelta(seconds=3600)
        world.clock.advance(timedelta(minutes=30))
        assert world.run().status == TouchStatus.DEFERRED, "not retried before it was asked"
        assert len(s.requests) == 1
        world.clock.advance(timedelta(minutes=31))
        assert world.run().status == TouchStatus.SENT

    def test_timeout_is_never_a_blind_resend(self, world, server, short_timeout):
        slow = replace(self.success(), delay=2.0)
        s = server(slow, self.success())
        touch = world.send(s)
        if self.idempotent:
            assert touch.status == TouchStatus.DEFERRED  # the provider dedupes: retry
        else:
            assert touch.status == TouchStatus.UNKNOWN  # it may have gone: shown, not resent
            world.clock.advance(timedelta(days=1))
            world.run()
            assert len(s.requests) == 1

    def test_status_webhook_with_a_good_signature_updates_the_touch(self, world, server):
        s = server(self.success())
        touch = world.send(s)
        response = world.post_hook(self.status_hook(touch.provider_message_id))
        assert response.status_code == 200, response.content
        touch.refresh_from_db()
        assert touch.status == self.hook_status

    def test_status_webhook_with_a_forged_signature_is_refused(self, world, server):
        s = server(self.success())
        touch = world.send(s)
        inbound_before = InboundMessage.objects.count()
        response = world.post_hook(self.forge(self.status_hook(touch.provider_message_id)))
        assert response.status_code == 403
        touch.refresh_from_db()
        assert touch.status == TouchStatus.SENT
        assert InboundMessage.objects.count() == inbound_before

    def test_a_wrong_hook_key_is_refused_before_the_provider_check(self, world, server):
        s = server(self.success())
        touch = world.send(s)
        hook = self.status_hook(touch.provider_message_id)
        response = world.post_hook(hook, key="not-the-key")
        assert response.status_code == 403
        touch.refresh_from_db()
        assert touch.status == TouchStatus.SENT


class World:
    """One business with this provider set up, one consenting contact, one chain."""

    def __init__(self, contract: ChannelContract, shop: Business, clock: ManualClock) -> None:
        self.contract = contract
        self.shop = shop
        self.clock = clock
        self.account: ProviderAccount | None = None
        self.contact = builders.contact(shop, email=None, consent=())
        kind = CHANNEL_ADDRESS_KIND[contract.channel]
        self.address_row = Address.objects.create(
            business=shop, contact=self.contact, kind=kind, value=contract.address
        )
        record_consent(
            self.contact, contract.channel, Purpose.COMMERCIAL, ConsentStatus.GRANTED,
            ConsentBasis.VISIT,
        )
        self.chain = builders.chain(
            shop, [{"channels": [contract.channel], "body_template": BODY}]
        )

    def connect(self, server: ProviderServer) -> ProviderAccount:
        account = ProviderAccount(
            business=self.shop, channel=self.contract.channel, provider=self.contract.provider,
            name="test", options={**self.contract.options, "api_url": server.url},
        )
        account.set_secrets(dict(self.contract.secrets))
        account.save()
        self.account = account
        return account

    def send(self, server: ProviderServer) -> Touch:
        self.connect(server)
        enroll(self.contact, self.chain, self.clock.now())
        return self.run()

    def run(self) -> Touch:
        Worker(EngineConfig.from_settings(retry_base_seconds=60), clock=self.clock).run(
            once=True
        )
        return Touch.objects.select_related("enrollment").get(contact=self.contact)

    def hook_path(self, key: str | None = None) -> str:
        assert self.account is not None
        return f"/hooks/{self.account.pk}/{key or hook_key(self.account.pk)}/"

    def post_hook(self, hook: Hook, key: str | None = None) -> Any:
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in hook.headers.items()}
        return Client().post(
            self.hook_path(key or hook.key) + hook.query,
            data=hook.body, content_type=hook.content_type, **headers,
        )
