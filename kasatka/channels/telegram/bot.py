"""What ties a business's bot to Kasatka: its deep links and its webhook secret.

Both are derived from the ProviderAccount (and the site's SECRET_KEY), so nothing needs
storing: the link a contact was given in an e-mail and the secret Telegram was told in
setWebhook stay the same for as long as the account and the key do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

from django.conf import settings

from kasatka.channels.binding import make_bind_token

if TYPE_CHECKING:
    from kasatka.channels.models import ProviderAccount

_SECRET_SALT = b"kasatka.telegram.webhook"


def bot_username(account: ProviderAccount | None) -> str:
    """The bot's @username from the account's options, without the "@"."""
    if account is None:
        return ""
    return str(account.options.get("bot_username") or "").strip().lstrip("@")


def deep_link(account: ProviderAccount | None, contact_id: int) -> str:
    """t.me/<bot>?start=<signed token>: opening it and pressing Start binds the chat.

    Empty when the business has no bot (or its username is not filled in), so that a
    template can write `{% if telegram_link %}…{% endif %}`.
    """
    username = bot_username(account)
    if account is None or not username:
        return ""
    return f"https://t.me/{username}?start={make_bind_token(account.business_id, contact_id)}"


def webhook_secret(account: ProviderAccount) -> str:
    """The secret_token given to setWebhook; Telegram sends it back in every update.

    An account may set its own ("webhook_secret" among the secrets); otherwise it is
    derived from the account, distinct from the key in the hook's address, so that a
    leaked address alone does not let anyone post updates. 43 characters of A–Z, a–z,
    0–9, "_" and "-", as Telegram requires.
    """
    own = account.secrets.get("webhook_secret", "").strip()
    if own:
        return own
    key = hashlib.sha256(_SECRET_SALT + b"|" + settings.SECRET_KEY.encode()).digest()
    digest = hmac.new(key, f"account:{account.pk}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
