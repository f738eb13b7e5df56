"""Signed unsubscribe links: they work without a login and cannot be forged."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SALT = "kasatka.unsubscribe"


@dataclass(frozen=True)
class UnsubscribeToken:
    contact_id: int
    channel: str
    touch_key: str


def make_token(contact_id: int, channel: str, touch_key: str = "") -> str:
    data = {"c": contact_id, "ch": channel, "k": touch_key}
    return signing.dumps(data, salt=_SALT, compress=True)


def read_token(token: str) -> UnsubscribeToken:
    """Raises signing.BadSignature for a forged or mangled token."""
    data = signing.loads(token, salt=_SALT)
    return UnsubscribeToken(int(data["c"]), str(data["ch"]), str(data.get("k", "")))


def unsubscribe_url(contact_id: int, channel: str, touch_key: str = "") -> str:
    path = reverse("unsubscribe", kwargs={"token": make_token(contact_id, channel, touch_key)})
    return f"{settings.KASATKA_BASE_URL}{path}"
