"""`kasatka run --demo`, the README's first command, as a user starts it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.smtp import free_port

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_run_demo_serves_the_ui_delivers_to_the_local_sink_and_stops_cleanly(tmp_path: Path):
    port, smtp_port = free_port(), free_port()
    env = {
        **os.environ,
        "KASATKA_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'kasatka.sqlite3'}",
        "KASATKA_SMTP_PORT": str(smtp_port),
        "KASATKA_ENGINE_IDLE_SECONDS": "0.5",
    }
    env.pop("KASATKA_EMAIL_BACKEND", None)
    log = (tmp_path / "run.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "kasatka", "run", "--demo", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        def page_answers() -> bool:
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for(page_answers, 180, "the web UI")
        mail = tmp_path / "mail"
        wait_for(lambda: mail.exists() and any(mail.glob("*.eml")), 120, "demo e-mail in the sink")
        output = (tmp_path / "run.log").read_text()
        assert "owner / kasatka-demo" in output
        assert f"http://127.0.0.1:{port}/" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/static/web/kasatka.css") as r:
            assert r.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, (tmp_path / "run.log").read_text()
    eml = next((tmp_path / "mail").glob("*.eml")).read_bytes()
    assert b"Message-ID: <t" in eml
