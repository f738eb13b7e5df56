"""A real webhook receiver on 127.0.0.1 that checks every signature itself."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kasatka.webhooks import signing
from kasatka.webhooks.events import forget_subscriptions


@dataclass
class Request:
    msg_id: str
    body: bytes
    headers: dict[str, str]
    signature_ok: bool
    status: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)


# An answer: a status code, or (status, extra headers), or a callable of the request.
Answer = int | tuple[int, dict[str, str]]


@dataclass
class Receiver:
    """Answers each request with `answer(n, webhook_id)`, n counting the requests of that
    id from 1; verifies with `secret`.

    A request whose signature does not verify is answered 401, as a careful receiver
    would."""

    secret: str = ""
    answer: Callable[[int, str], Answer] = lambda n, msg_id: 200
    requests: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def accepted(self) -> list[Request]:
        return [r for r in self.requests if 200 <= r.status < 300]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    signing.verify(receiver.secret, headers, body)
                    ok = True
                except signing.InvalidSignature:
                    ok = False
                msg_id = headers.get("webhook-id", "")
                with receiver.lock:
                    seen = sum(1 for r in receiver.requests if r.msg_id == msg_id)
                    answer = receiver.answer(seen + 1, msg_id) if ok else 401
                    status, extra = answer if isinstance(answer, tuple) else (answer, {})
                    receiver.requests.append(Request(msg_id, body, headers, ok, status))
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                reply = b"ok" if 200 <= status < 300 else b"not now"
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def fresh_subscriptions() -> Iterator[None]:
    """Each test reads the subscriptions afresh (ids are reused after a rollback)."""
    forget_subscriptions()
    yield
    forget_subscriptions()
