"""`kasatka tasks`: run background tasks (imports, exports, outbound webhooks)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from kasatka.engine.background import requeue_stale, run_forever, run_ready_tasks, run_sweeps


class Command(BaseCommand):
    help = (
        "Run background tasks until stopped; first queue again those a dead worker left "
        "running."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Run the tasks ready now and exit (for cron)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            requeue_stale()
            swept = run_sweeps()
            self.stdout.write(f"{run_ready_tasks()} task(s) run, {swept} item(s) swept")
            return
        run_forever()
