"""Signatures as Standard Webhooks 1.0 makes them (https://www.standardwebhooks.com/).

`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
bytes behind the subscription's secret `whsec_<base64>`. `verify` is what a receiver
does; Kasatka's tests use it in their receiver, and docs/webhooks.md shows it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping

PREFIX = "whsec_"
# 32 random bytes: the spec asks for 24 to 64.
SECRET_BYTES = 32
# A receiver refuses a timestamp further than this from its own clock (replays).
TOLERANCE_SECONDS = 5 * 60


class InvalidSignature(ValueError):
    """The request is not what the sender signed, or too old."""


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    return base64.b64decode(secret[len(PREFIX):])


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The value of the `webhook-signature` header."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(
    secret: str,
    request_headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise InvalidSignature unless the headers sign this body within the tolerance.

    The header names are looked up in lower case; pass a case-insensitive mapping or
    lower-cased keys."""
    try:
        msg_id = request_headers["webhook-id"]
        stamp = request_headers["webhook-timestamp"]
        given = request_headers["webhook-signature"]
    except KeyError as exc:
        raise InvalidSignature(f"missing header {exc}") from exc
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise InvalidSignature("the timestamp is not a number") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("the timestamp is too far from now")
    expected = sign(secret, msg_id, timestamp, body).split(",", 1)[1]
    for candidate in given.split():
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return
    raise InvalidSignature("no signature matches")
