"""`kasatka email_receive --host --port [--business slug]`: an SMTP server for replies."""

from __future__ import annotations

import signal
import threading
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kasatka.accounts.models import Business
from kasatka.channels.email.smtpd import ReplyServer


class Command(BaseCommand):
    help = (
        "Receive e-mail replies over SMTP (point an MX record or a forwarding rule here). "
        "A message is taken for the business whose e-mail account has its recipient as "
        "option \"address\", or whose sending address it is; others are refused. "
        "Runs until SIGTERM or Ctrl+C."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Interface to listen on")
        parser.add_argument("--port", type=int, default=2526, help="Port to listen on")
        parser.add_argument(
            "--business", metavar="SLUG", help="Take mail to any recipient for this business"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["business"]
        if slug is not None and not Business.objects.filter(slug=slug).exists():
            raise CommandError(f"no business {slug!r}")
        stop = threading.Event()

        def finish(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, finish)
        signal.signal(signal.SIGINT, finish)
        server = ReplyServer(options["host"], options["port"], slug).start()
        self.stdout.write(f"taking replies by SMTP on {options['host']}:{options['port']}")
        try:
            stop.wait()
        finally:
            server.stop()
