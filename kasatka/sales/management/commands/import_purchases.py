"""`kasatka import_purchases <business slug> <file.csv>`: load past purchases from a CSV."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business
from kasatka.sales.imports import ImportFormatError, import_purchases


class Command(BaseCommand):
    help = (
        "Import purchase history from a CSV file (columns: customer, date, amount; optional "
        "on_promotion, phone, email, name, seller). Bad rows are reported by line and "
        "skipped; rows already imported are skipped; no chain is started per row."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("business", help="The business's slug")
        parser.add_argument("file", type=Path, help="The CSV file")
        parser.add_argument(
            "--no-lifecycle", action="store_true",
            help="Do not recompute the lifecycle stages of the contacts at the end",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        business = Business.objects.filter(slug=options["business"]).first()
        if business is None:
            raise CommandError(_("No business “%(slug)s”.") % {"slug": options["business"]})
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(_("No file %(path)s.") % {"path": path})
        started = time.monotonic()
        try:
            result = import_purchases(
                business, path, recompute_lifecycle=not options["no_lifecycle"]
            )
        except (ImportFormatError, UnicodeDecodeError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            _(
                "%(imported)s purchases imported, %(duplicates)s already there, "
                "%(bad)s bad rows; %(contacts)s new contacts; %(seconds).1f s."
            )
            % {
                "imported": result.imported,
                "duplicates": result.duplicates,
                "bad": result.bad_rows,
                "contacts": result.contacts_created,
                "seconds": time.monotonic() - started,
            }
        )
        for error in result.errors:
            self.stderr.write(str(error))
        if result.bad_rows > len(result.errors):
            self.stderr.write(
                _("…and %(n)s more bad rows.") % {"n": result.bad_rows - len(result.errors)}
            )
