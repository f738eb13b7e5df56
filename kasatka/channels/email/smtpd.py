"""An SMTP server that takes replies in, for an MX or a forwarding rule: `kasatka email_receive`.

A message is taken for the business whose reply address it is sent to: the option
"address" of its e-mail account (provider imap or inbound), else the business's own
sending address. With `business` set, every recipient counts as that business's.
Unknown recipients are refused at RCPT (550), so this is no open relay for anything.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.controller import Controller
from django.db import connections
from django.db.models import Q

from kasatka.channels.email.imap import ImapEmailChannel
from kasatka.channels.email.replies import InboundEmailChannel, take_reply
from kasatka.channels.inbound import apply_events
from kasatka.channels.models import ProviderAccount

log = logging.getLogger("kasatka.channels")

_PROVIDERS = (ImapEmailChannel.provider, InboundEmailChannel.provider)


def account_for(recipient: str, business_slug: str | None = None) -> ProviderAccount | None:
    """The active e-mail account that takes replies sent to `recipient`."""
    accounts = ProviderAccount.objects.filter(
        channel=InboundEmailChannel.code, provider__in=_PROVIDERS, is_active=True
    ).select_related("business").order_by("pk")
    if business_slug is not None:
        return accounts.filter(business__slug=business_slug).first()
    address = recipient.strip().lower()
    for account in accounts.filter(
        Q(options__address__iexact=address) | Q(business__email_from_address__iexact=address)
    ):
        return account
    return None


class _Handler:
    def __init__(self, business_slug: str | None) -> None:
        self.business_slug = business_slug

    # Each runs in a thread of asyncio's pool, with that thread's own database connection,
    # closed when done as after a request: an idle server holds none.
    def _account(self, recipient: str) -> ProviderAccount | None:
        try:
            return account_for(recipient, self.business_slug)
        finally:
            connections.close_all()

    def _receive(self, recipients: list[str], raw: bytes) -> None:
        try:
            done: set[int] = set()
            for recipient in recipients:
                account = account_for(recipient, self.business_slug)
                if account is None or account.pk in done:
                    continue  # one reply copied to two addresses of a shop is one reply
                done.add(account.pk)
                event, reason = take_reply(account, raw)
                outcome = apply_events(account, [event]) if event is not None else [reason]
                log.info("e-mail to %s for account %s: %s", recipient, account.pk, outcome[0])
        finally:
            connections.close_all()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        # The database is reached from a worker thread: Django's ORM is not async-safe.
        if await asyncio.to_thread(self._account, address) is None:
            return "550 5.1.1 No replies are taken for this address"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or b""
        try:
            await asyncio.to_thread(self._receive, list(envelope.rcpt_tos), raw)
        except Exception:
            # A 4xx keeps the message at the sending server, which tries again later; an
            # unhandled error would answer 5xx and bounce the client's reply for good.
            log.exception("e-mail to %s could not be recorded", envelope.rcpt_tos)
            return "451 4.3.0 The reply could not be recorded now; try again later"
        return "250 OK: taken"


class ReplyServer:
    """The SMTP receiver on host:port; start() returns at once, stop() ends it."""

    def __init__(self, host: str, port: int, business_slug: str | None = None) -> None:
        self.controller = Controller(_Handler(business_slug), hostname=host, port=port)

    def start(self) -> ReplyServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
