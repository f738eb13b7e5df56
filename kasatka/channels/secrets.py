"""Provider secrets encrypted at rest (Fernet), and shown back only masked."""

from __future__ import annotations

import base64
import functools
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


@functools.cache
def _fernet(key_material: str) -> Fernet:
    # A key of its own, derived from the configured secret: tokens in the database
    # are useless without the server's settings.
    digest = hashlib.sha256(b"kasatka.provider-secrets|" + key_material.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _key_material() -> str:
    return str(getattr(settings, "KASATKA_ENCRYPTION_KEY", "") or settings.SECRET_KEY)


def encrypt(values: dict[str, str]) -> str:
    return _fernet(_key_material()).encrypt(json.dumps(values).encode()).decode()


def decrypt(token: str) -> dict[str, str]:
    """The secrets; raises ValueError when the key changed or the token was altered."""
    if not token:
        return {}
    try:
        data = _fernet(_key_material()).decrypt(token.encode())
    except InvalidToken as exc:
        raise ValueError(
            "provider secrets cannot be decrypted: was KASATKA_ENCRYPTION_KEY changed?"
        ) from exc
    loaded = json.loads(data)
    return {str(k): str(v) for k, v in loaded.items()}


def mask(value: str) -> str:
    """Enough to recognise a secret, never enough to use it: '••••••a1b2'."""
    if len(value) <= 8:
        return "•" * len(value)
    return "•" * 6 + value[-4:]
