"""Who is calling: an API key, sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyHeader, HttpBearer

from kasatka.accounts.models import Business
from kasatka.engine.clock import now as clock_now

from .keys import find_key
from .models import ApiKey, Scope

# `last_used_at` is written at most this often per key: not one write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)

# What each scope may do: a write key reads too; a leads key only hands in leads.
ALLOWS: dict[str, frozenset[str]] = {
    Scope.READ: frozenset({"read"}),
    Scope.WRITE: frozenset({"read", "write", "leads"}),
    Scope.LEADS: frozenset({"leads"}),
}


def _authenticate(plain: str | None) -> ApiKey | None:
    if not plain:
        return None
    key = find_key(plain.strip())
    if key is None:
        return None
    now = clock_now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def _allowed(key: ApiKey | None, needed: str | None) -> ApiKey | None:
    """The key, or 403 when its scope does not allow what the operation needs: said
    before the request is read, so a read-only key gets 403 whatever it sent."""
    if key is not None and needed is not None and needed not in ALLOWS.get(key.scope, ()):
        raise HttpError(403, f"This key's scope ({key.scope}) does not allow {needed}.")
    return key


class BearerKey(HttpBearer):
    def __init__(self, needed: str | None = None) -> None:
        super().__init__()
        self.needed = needed

    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return _allowed(_authenticate(token), self.needed)


class HeaderKey(APIKeyHeader):
    param_name = "X-API-Key"

    def __init__(self, needed: str | None = None) -> None:
        super().__init__()
        self.needed = needed

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        return _allowed(_authenticate(key), self.needed)


# The API's authentication: either way of sending the key. Operations name the scope they
# need with `auth=READ`, `WRITE` or `LEADS`; the default checks the key only (the view
# then calls `require_scope`).
api_key_auth: list[Any] = [BearerKey(), HeaderKey()]
READ: list[Any] = [BearerKey("read"), HeaderKey("read")]
WRITE: list[Any] = [BearerKey("write"), HeaderKey("write")]
LEADS: list[Any] = [BearerKey("leads"), HeaderKey("leads")]


def key_of(request: HttpRequest) -> ApiKey:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    return key


def business_of_key(request: HttpRequest) -> Business:
    return key_of(request).business


def require_scope(request: HttpRequest, needed: str) -> Business:
    """The caller's business, or 403 when the key's scope does not allow `needed`
    ("read", "write" or "leads")."""
    key = key_of(request)
    if needed not in ALLOWS.get(key.scope, frozenset()):
        raise HttpError(403, f"This key's scope ({key.scope}) does not allow {needed}.")
    return key.business
