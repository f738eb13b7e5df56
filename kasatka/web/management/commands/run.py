"""`kasatka run`: migrate, optionally load the demo, and serve the web UI with its workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from argparse import ArgumentParser
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from kasatka.engine.clock import Clock, set_clock


class Command(BaseCommand):
    help = "Start Kasatka: the web UI, an engine worker and a task worker (Ctrl+C stops all)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--demo", action="store_true",
            help="Load the demo business if missing; keep e-mail in a local sink (var/mail)",
        )
        parser.add_argument(
            "--speed", type=float, default=1.0,
            help="Run the clock this many times faster (1440: a day a minute) to see touches flow",
        )
        parser.add_argument("--no-worker", action="store_true", help="Serve the web UI only")
        parser.add_argument("--threads", type=int, default=8, help="Web server threads")

    def handle(self, *args: Any, **options: Any) -> None:
        from waitress import serve

        from kasatka.wsgi import application

        call_command("migrate", interactive=False, verbosity=0)
        child_env = dict(os.environ)
        anchor = time.time()
        child_env.update(
            KASATKA_CLOCK_ANCHOR=str(anchor), KASATKA_CLOCK_SPEED=str(options["speed"])
        )
        set_clock(Clock(options["speed"], anchor, settings.KASATKA_CLOCK_OFFSET))

        sink = None
        if options["demo"]:
            call_command("demo", "--if-missing")
            from kasatka.channels.email.sink import MailSink

            mail_dir = settings.VAR_DIR / "mail"
            sink = MailSink(mail_dir, settings.EMAIL_PORT).start()
            child_env.update(
                KASATKA_SMTP_HOST="127.0.0.1",
                KASATKA_SMTP_PORT=str(settings.EMAIL_PORT),
                KASATKA_EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            )
            self.stdout.write(f"Demo e-mail is kept in {mail_dir} (a local SMTP sink).")

        # The engine worker delivers touches; the task worker runs imports, exports and
        # outbound webhooks.
        workers: list[subprocess.Popen[bytes]] = []
        if not options["no_worker"]:
            workers = [
                subprocess.Popen([sys.executable, "-m", "kasatka", command], env=child_env)
                for command in ("worker", "tasks")
            ]

        url = f"http://{options['host']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"Kasatka is running on {url}"))
        if options["demo"]:
            from kasatka.demo import DEMO_OWNER, DEMO_PASSWORD

            self.stdout.write(f"Log in as {DEMO_OWNER} / {DEMO_PASSWORD}")
        if options["speed"] != 1:
            self.stdout.write(f"The clock runs {options['speed']:g} times faster than real time.")
        def stop(signum: int, frame: object) -> None:
            raise KeyboardInterrupt  # SIGTERM stops the worker and the sink like Ctrl+C

        signal.signal(signal.SIGTERM, stop)
        try:
            serve(application, host=options["host"], port=options["port"],
                  threads=options["threads"], _quiet=True)
        except KeyboardInterrupt:
            pass
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
            if sink is not None:
                sink.stop()
