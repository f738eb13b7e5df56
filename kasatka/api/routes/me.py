"""`GET /keys/me`: which business and scope a key stands for (a connection check)."""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from ..auth import key_of
from ..problems import COMMON_PROBLEMS

router = Router(tags=["keys"])


class KeyOut(Schema):
    name: str
    prefix: str
    scope: str
    business: str
    created_at: datetime
    last_used_at: datetime | None


@router.get("/me", response={200: KeyOut, **COMMON_PROBLEMS}, operation_id="key_me")
def me(request: HttpRequest) -> KeyOut:
    key = key_of(request)
    return KeyOut(
        name=key.name, prefix=key.prefix, scope=key.scope, business=key.business.name,
        created_at=key.created_at, last_used_at=key.last_used_at,
    )
