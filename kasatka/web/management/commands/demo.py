"""`kasatka demo`: build the demo furniture workshop with its history and live touches."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from kasatka.demo import DemoError, build_demo, demo_exists

DEMO_URL = "http://127.0.0.1:8000"


class Command(BaseCommand):
    help = "Create the demo business: a furniture workshop with clients, visits and chains."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--contacts", type=int, default=500, help="How many clients to create (500)"
        )
        parser.add_argument(
            "--seed", type=int, default=2026, help="The same seed gives the same demo"
        )
        existing = parser.add_mutually_exclusive_group()
        existing.add_argument(
            "--replace", action="store_true", help="Delete the demo business first if it exists"
        )
        existing.add_argument(
            "--if-missing", action="store_true",
            help="Do nothing, quietly, if the demo business already exists",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["contacts"] < 0:
            raise CommandError(_("--contacts cannot be negative."))
        if options["if_missing"] and demo_exists():
            return
        started = time.monotonic()
        try:
            result = build_demo(
                contacts=options["contacts"], seed=options["seed"], replace=options["replace"]
            )
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        by_type = ", ".join(
            _("type %(type)s: %(n)s") % {"type": t, "n": n}
            for t, n in sorted(result.visits_by_type.items())
        )
        self.stdout.write(
            self.style.SUCCESS(
                _("Demo business “%(name)s” built in %(seconds).1f s.")
                % {"name": result.business.name, "seconds": time.monotonic() - started}
            )
        )
        self.stdout.write(
            _(
                "%(contacts)s contacts, %(visits)s visits (%(by_type)s), %(purchases)s purchases, "
                "%(enrollments)s enrollments (%(active)s active), %(touches)s touches so far, "
                "%(deals)s deals."
            )
            % {
                "contacts": result.contacts,
                "visits": result.visits,
                "by_type": by_type,
                "purchases": result.purchases,
                "enrollments": result.enrollments,
                "active": result.active_enrollments,
                "touches": result.touches,
                "deals": result.deals,
            }
        )
        self.stdout.write(
            _("Open %(url)s and log in as %(user)s / %(password)s")
            % {"url": DEMO_URL, "user": result.owner_username, "password": result.password}
        )
