"""Signed links that bind a contact's messenger chat to their card (Telegram /start).

The token rides in a deep link (`t.me/<bot>?start=<token>`), so it must fit the
messengers' limits: at most 64 characters of A–Z, a–z, 0–9, "_" and "-".
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from django.conf import settings
from django.core import signing

_SALT = b"kasatka.bind"


def _signature(payload: str) -> str:
    key = hashlib.sha256(_SALT + b"|" + settings.SECRET_KEY.encode()).digest()
    digest = hmac.new(key, payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:15]).decode()  # 20 characters, no padding


def make_bind_token(business_id: int, contact_id: int) -> str:
    payload = f"{business_id}-{contact_id}"
    return f"{payload}_{_signature(payload)}"


def read_bind_token(token: str, business_id: int) -> int:
    """The contact id of a token issued for this business; BadSignature otherwise."""
    token = token.strip()
    # The signature has a fixed length and may itself hold "_" or "-".
    payload, sep, signature = token[:-21], token[-21:-20], token[-20:]
    expected = _signature(payload).encode()
    if not payload or sep != "_" or not hmac.compare_digest(signature.encode(), expected):
        raise signing.BadSignature("bad signature")
    business, _dash, contact = payload.partition("-")
    if not (business.isdigit() and contact.isdigit()) or int(business) != business_id:
        raise signing.BadSignature("token of another business")
    return int(contact)


def hook_key(account_id: int) -> str:
    """The secret part of a provider account's webhook address."""
    return _signature(f"hook:{account_id}")


def check_hook_key(account_id: int, key: str) -> bool:
    return hmac.compare_digest(key.encode(), hook_key(account_id).encode())
