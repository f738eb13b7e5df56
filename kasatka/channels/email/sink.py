"""A local SMTP sink for the demo: mail is kept as .eml files and never leaves the machine."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _Handler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content or b""
        found = re.search(rb"^Message-ID:\s*<([^>]+)>", raw, re.MULTILINE | re.IGNORECASE)
        name = found.group(1).decode("ascii", "replace") if found else f"{time.time_ns()}"
        safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
        (self.directory / f"{time.time_ns()}-{safe}.eml").write_bytes(raw)
        return "250 OK: kept in the local sink"


class MailSink:
    """An SMTP server on 127.0.0.1 that files every message under `directory`."""

    def __init__(self, directory: Path, port: int, host: str = "127.0.0.1") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.controller = Controller(_Handler(directory), hostname=host, port=port)

    def start(self) -> MailSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
