"""setWebhook: point a business's bot at Kasatka's webhook endpoint, with its secret."""

from __future__ import annotations

from dataclasses import dataclass

from kasatka.channels.models import ProviderAccount
from kasatka.channels.views import hook_url

from .bot import bot_username, webhook_secret
from .channel import ALLOWED_UPDATES, TelegramChannel


@dataclass
class WebhookSet:
    """What was told to Telegram, for the command to print."""

    url: str
    username: str


def set_webhook(account: ProviderAccount) -> WebhookSet:
    """Call getMe (filling in the bot's username if missing), then setWebhook.

    setWebhook is idempotent: running this again (after a domain change, a new token)
    simply replaces the address. Raises DeliveryError when Telegram refuses.
    """
    channel = TelegramChannel(account)
    username = bot_username(account)
    if not username:
        me = channel.call("getMe", {})
        username = str(me.get("username") or "") if isinstance(me, dict) else ""
        if username:
            account.options = {**account.options, "bot_username": username}
            account.save(update_fields=["options"])
    url = hook_url(account)
    channel.call("setWebhook", {
        "url": url,
        "secret_token": webhook_secret(account),
        "allowed_updates": ALLOWED_UPDATES,
    })
    return WebhookSet(url, username)
