"""`kasatka email_fetch [--business slug]`: fetch e-mail replies from IMAP once."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kasatka.accounts.models import Business
from kasatka.channels.email.imap import fetch_replies, imap_accounts


class Command(BaseCommand):
    help = (
        "Poll the IMAP mailbox of every active e-mail provider account (provider imap) "
        "once: replies are recorded on the contacts' cards. The worker does this by itself "
        "every trigger round; this is for cron and for checking a new account."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--business", metavar="SLUG", help="Only this business's account")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["business"]
        if slug is not None and not Business.objects.filter(slug=slug).exists():
            raise CommandError(f"no business {slug!r}")
        accounts = imap_accounts(slug)
        if not accounts:
            self.stdout.write("no active IMAP account")
            return
        failed = 0
        for account in accounts:
            fetched = fetch_replies(account)
            where = f"{account.business.slug} ({account.options.get('host', '?')})"
            if fetched.error:
                failed += 1
                self.stderr.write(f"{where}: {fetched.error}")
                continue
            self.stdout.write(
                f"{where}: {fetched.read} read, {fetched.applied} replies, "
                f"{fetched.duplicates} already recorded, {fetched.ignored} ignored"
            )
        if failed:
            raise CommandError(f"{failed} of {len(accounts)} mailboxes could not be read")
