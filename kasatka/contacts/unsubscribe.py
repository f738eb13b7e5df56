"""Signed unsubscribe links: they work without a login and cannot be forged."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALT = b"kasatka.unsubscribe"
_PLACEHOLDER = "TOKEN"


@dataclass(frozen=True)
class UnsubscribeToken:
    contact_id: int
    channel: str
    touch_key: str


@functools.cache
def _key(secret: str) -> bytes:
    # Derived once per secret: the engine signs a link for every e-mail it writes.
    return hashlib.sha256(_SALT + b"|" + secret.encode()).digest()


def _signature(payload: str) -> str:
    digest = hmac.new(_key(settings.SECRET_KEY), payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:20]).decode().rstrip("=")


def make_token(contact_id: int, channel: str, touch_key: str = "") -> str:
    payload = f"{contact_id}.{channel}.{touch_key}"
    return f"{payload}:{_signature(payload)}"


def read_token(token: str) -> UnsubscribeToken:
    """Raises signing.BadSignature for a forged or mangled token."""
    payload, _sep, signature = token.rpartition(":")
    if not hmac.compare_digest(signature.encode(), _signature(payload).encode()):
        raise signing.BadSignature("bad signature")
    contact_id, _dot, rest = payload.partition(".")
    channel, _dot, touch_key = rest.partition(".")
    if not contact_id.isdigit() or not channel:
        raise signing.BadSignature("malformed token")
    return UnsubscribeToken(int(contact_id), channel, touch_key)


@functools.cache
def _url_template(base_url: str) -> str:
    return base_url + reverse("unsubscribe", kwargs={"token": _PLACEHOLDER})


def unsubscribe_url(contact_id: int, channel: str, touch_key: str = "") -> str:
    template = _url_template(settings.KASATKA_BASE_URL)
    return template.replace(_PLACEHOLDER, make_token(contact_id, channel, touch_key))
