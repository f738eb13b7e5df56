"""`kasatka telegram_webhook <account_id>`: tell Telegram where to send a bot's updates."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kasatka.channels.base import DeliveryError
from kasatka.channels.models import ProviderAccount
from kasatka.channels.telegram.setwebhook import set_webhook


class Command(BaseCommand):
    help = (
        "Call setWebhook for a Telegram provider account: updates go to this site's "
        "webhook address (KASATKA_BASE_URL), signed with the account's secret."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("account_id", type=int, help="The ProviderAccount of the bot")

    def handle(self, *args: Any, **options: Any) -> None:
        account = ProviderAccount.objects.filter(
            pk=options["account_id"], provider="telegram"
        ).select_related("business").first()
        if account is None:
            raise CommandError(f"no Telegram provider account {options['account_id']}")
        if not account.secrets.get("bot_token"):
            raise CommandError("the account has no bot_token among its secrets")
        try:
            done = set_webhook(account)
        except DeliveryError as exc:
            raise CommandError(f"Telegram refused: {exc.message}") from exc
        self.stdout.write(f"@{done.username or '?'}: updates go to {done.url}")
