"""Signed links of the contact's own pages: preferences (unsubscribe) and confirmation.

They work without a login and cannot be forged: the token is the credential, and each
kind of link (the preference page, the double opt-in confirmation) has its own key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .models import Channel

_SALT = b"kasatka.unsubscribe"
_CONFIRM_SALT = b"kasatka.confirm"
_PLACEHOLDER = "TOKEN"


@dataclass(frozen=True)
class UnsubscribeToken:
    contact_id: int
    channel: str
    touch_key: str


@functools.cache
def _key(secret: str, salt: bytes = _SALT) -> bytes:
    # Derived once per secret: the engine signs a link for every e-mail it writes.
    return hashlib.sha256(salt + b"|" + secret.encode()).digest()


def _signature(payload: str, salt: bytes = _SALT) -> str:
    key = _key(settings.SECRET_KEY, salt)
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
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
    if not contact_id.isdigit() or channel not in Channel.values:
        raise signing.BadSignature("malformed token")
    return UnsubscribeToken(int(contact_id), channel, touch_key)


@functools.cache
def _url_template(base_url: str) -> str:
    return base_url + reverse("unsubscribe", kwargs={"token": _PLACEHOLDER})


def unsubscribe_url(contact_id: int, channel: str, touch_key: str = "") -> str:
    template = _url_template(settings.KASATKA_BASE_URL)
    return template.replace(_PLACEHOLDER, make_token(contact_id, channel, touch_key))


# --- double opt-in ----------------------------------------------------------------------


def make_confirm_token(consent_id: int, contact_id: int) -> str:
    """The token of the link that confirms one pending consent entry."""
    payload = f"{consent_id}.{contact_id}"
    return f"{payload}:{_signature(payload, _CONFIRM_SALT)}"


def read_confirm_token(token: str) -> tuple[int, int]:
    """(consent id, contact id); raises signing.BadSignature for a forged or mangled token."""
    payload, _sep, signature = token.rpartition(":")
    if not hmac.compare_digest(signature.encode(), _signature(payload, _CONFIRM_SALT).encode()):
        raise signing.BadSignature("bad signature")
    consent_id, _dot, contact_id = payload.partition(".")
    if not (consent_id.isdigit() and contact_id.isdigit()):
        raise signing.BadSignature("malformed token")
    return int(consent_id), int(contact_id)


def confirm_url(consent_id: int, contact_id: int) -> str:
    path = reverse("confirm_consent", kwargs={"token": make_confirm_token(consent_id, contact_id)})
    return settings.KASATKA_BASE_URL + path
