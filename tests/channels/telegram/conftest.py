"""A business with a Telegram bot whose API is a local ProviderServer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from kasatka.accounts.models import Business
from kasatka.channels.models import ProviderAccount
from tests.channels.provider_server import ProviderServer

from .updates import BOT_USERNAME, TOKEN


@pytest.fixture
def bot(shop: Business, settings: Any) -> Callable[..., ProviderAccount]:
    """The shop's bot account, talking to the given server; no webhook_secret of its own."""
    settings.KASATKA_BASE_URL = "https://crm.kedr.example"

    def make(server: ProviderServer | None = None, **options: Any) -> ProviderAccount:
        account = ProviderAccount(
            business=shop, channel="telegram", provider="telegram", name="@" + BOT_USERNAME,
            options={"bot_username": BOT_USERNAME, **options,
                     **({"api_url": server.url} if server is not None else {})},
        )
        account.set_secrets({"bot_token": TOKEN})
        account.save()
        return account

    return make
