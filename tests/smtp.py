"""A real SMTP server for tests (aiosmtpd), recording what it receives."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.messages]


class Handler:
    """Accepts everything but the addresses told to bounce; may be slowed down."""

    def __init__(self, received: Received, reject: dict[str, str], delay: float,
                 hold_after: int | None) -> None:
        self.received = received
        self.reject = reject
        self.delay = delay
        # After this many messages the next one is kept waiting for its "250":
        # the sender is then certainly between handing over and hearing back.
        self.hold_after = hold_after
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: Any) -> str:
        if address in self.reject:
            return self.reject[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            time.sleep(self.delay)  # a slow server, so that a test can kill a worker mid-batch
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self.received.lock:
            self.received.messages.append(message)  # type: ignore[arg-type]
            count = len(self.received.messages)
        if self.hold_after is not None and count == self.hold_after + 1:
            self.holding.set()
            self.release.wait(timeout=120)
        return "250 Message accepted"


class SMTPServer:
    def __init__(self, port: int | None = None, reject: dict[str, str] | None = None,
                 delay: float = 0.0, hold_after: int | None = None) -> None:
        self.port = port or free_port()
        self.received = Received()
        self.reject = reject or {}
        self.handler = Handler(self.received, self.reject, delay, hold_after)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def start(self) -> SMTPServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.handler.release.set()
        self.controller.stop()

    @property
    def messages(self) -> list[EmailMessage]:
        with self.received.lock:
            return list(self.received.messages)

    @property
    def message_ids(self) -> list[str]:
        return self.received.message_ids
