"""`kasatka worker`: deliver due touches until stopped (or once, for cron)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from kasatka.engine.worker import EngineConfig, run_worker


class Command(BaseCommand):
    help = "Deliver due touches. SIGTERM finishes the batch in hand and releases the rest."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Deliver what is due now and exit (for cron)"
        )
        parser.add_argument("--batch-size", type=int, help="Enrollments claimed per batch")
        parser.add_argument("--lease-seconds", type=float, help="How long a claim is held")
        parser.add_argument("--idle-seconds", type=float, help="Sleep when nothing is due")
        parser.add_argument("--retry-base-seconds", type=float, help="First retry delay")

    def handle(self, *args: Any, **options: Any) -> None:
        config = EngineConfig.from_settings(
            batch_size=options["batch_size"],
            lease_seconds=options["lease_seconds"],
            idle_seconds=options["idle_seconds"],
            retry_base_seconds=options["retry_base_seconds"],
        )
        stats = run_worker(once=options["once"], config=config)
        self.stdout.write(str(stats))
