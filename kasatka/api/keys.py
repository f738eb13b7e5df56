"""Issuing, finding and revoking API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NamedTuple

from kasatka.accounts.models import Business, User
from kasatka.engine.clock import now as clock_now

from .models import ApiKey

PREFIX = "ksk_"


class Issued(NamedTuple):
    key: ApiKey
    plain: str  # shown once, never stored


def _digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def issue_key(business: Business, name: str, scope: str, by: User | None = None) -> Issued:
    prefix = secrets.token_hex(6)
    plain = f"{PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        business=business, name=name[:100], prefix=prefix, hashed=_digest(plain), scope=scope,
        created_by=by, created_at=clock_now(),
    )
    return Issued(key, plain)


def find_key(plain: str) -> ApiKey | None:
    """The live key `plain` is, or None (unknown, malformed, wrong secret or revoked)."""
    if not plain.startswith(PREFIX):
        return None
    prefix, _sep, secret = plain[len(PREFIX):].partition("_")
    if not prefix or not secret:
        return None
    key = ApiKey.objects.select_related("business").filter(prefix=prefix).first()
    if key is None or not hmac.compare_digest(key.hashed, _digest(plain)):
        return None
    if key.revoked_at is not None:
        return None
    return key


def revoke_key(key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = clock_now()
        key.save(update_fields=["revoked_at"])
