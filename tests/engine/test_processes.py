"""Real `kasatka worker` processes against the test database and a real SMTP server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.email.channel import message_id_for
from tests import builders
from tests.smtp import SMTPServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


def start_worker(smtp_port: int, *args: str, clock_offset: float = 0) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "KASATKA_EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "KASATKA_SMTP_HOST": "127.0.0.1",
        "KASATKA_SMTP_PORT": str(smtp_port),
        "KASATKA_MESSAGE_ID_DOMAIN": settings.KASATKA_MESSAGE_ID_DOMAIN,
        "KASATKA_CLOCK_OFFSET": str(clock_offset),
        "KASATKA_ENGINE_IDLE_SECONDS": "0.2",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kasatka", "worker", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 600) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out
    return out


def claimed(output: str) -> int:
    found = re.search(r"(\d+) batches, (\d+) enrollments", output)
    assert found, output
    return int(found.group(2))


@pytest.mark.postgres
def test_two_workers_deliver_10000_touches_each_exactly_once(shop):
    chain = builders.chain(shop)
    builders.many_enrollments(shop, chain, 10_000, timezone.now() - timedelta(minutes=1))
    server = SMTPServer().start()
    try:
        workers = [start_worker(server.port, "--once", "--batch-size", "200") for _ in range(2)]
        outputs = [finish(w) for w in workers]
    finally:
        server.stop()

    ids = server.message_ids
    assert len(ids) == 10_000
    assert len(set(ids)) == 10_000
    assert Touch.objects.filter(status=TouchStatus.SENT).count() == 10_000
    expected = {message_id_for(k) for k in Touch.objects.values_list("idempotency_key", flat=True)}
    assert set(ids) == expected
    # Both processes took a share: the work was really split between them.
    assert all(claimed(out) > 0 for out in outputs), outputs
    assert sum(claimed(out) for out in outputs) == 10_000


def test_a_worker_killed_mid_batch_is_completed_by_another_after_its_lease(shop):
    n, batch, lease = 500, 100, 60
    chain = builders.chain(shop)
    builders.many_enrollments(shop, chain, n, timezone.now() - timedelta(minutes=1))
    # The 151st message is accepted but its "250" is held back: the worker is then
    # certainly in the middle of its second batch when it is killed.
    server = SMTPServer(hold_after=150).start()
    try:
        first = start_worker(
            server.port, "--batch-size", str(batch), "--lease-seconds", str(lease)
        )
        assert server.handler.holding.wait(timeout=120), first.communicate()[0]
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        server.handler.release.set()
        interrupted = Touch.objects.filter(status=TouchStatus.SENDING).count()
        # Results are recorded per batch: the whole second batch is still "sending".
        assert interrupted == batch

        # A second worker whose clock is past the dead worker's lease.
        finish(start_worker(server.port, "--once", "--batch-size", str(batch),
                            clock_offset=lease + 1))
    finally:
        server.stop()

    ids = server.message_ids
    assert len(ids) == len(set(ids)), "a Message-ID arrived twice"
    statuses = Counter(Touch.objects.values_list("status", flat=True))
    assert set(statuses) <= {TouchStatus.SENT, TouchStatus.UNKNOWN}, statuses
    assert statuses[TouchStatus.SENT] + statuses[TouchStatus.UNKNOWN] == n
    assert statuses[TouchStatus.UNKNOWN] == interrupted <= batch
    sent_ids = {
        message_id_for(k)
        for k in Touch.objects.filter(status=TouchStatus.SENT).values_list(
            "idempotency_key", flat=True
        )
    }
    assert sent_ids <= set(ids)


def test_sigterm_finishes_the_batch_and_releases_the_rest(shop):
    n, batch = 300, 300
    chain = builders.chain(shop)
    builders.many_enrollments(shop, chain, n, timezone.now() - timedelta(minutes=1))
    server = SMTPServer(delay=0.01).start()
    try:
        worker = start_worker(server.port, "--batch-size", str(batch))
        deadline = time.monotonic() + 120
        while len(server.message_ids) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        finish(worker, timeout=60)
        delivered = len(server.message_ids)
        statuses = Counter(Touch.objects.values_list("status", flat=True))
        assert statuses[TouchStatus.SENT] == delivered < n
        assert statuses[TouchStatus.QUEUED] == n - delivered  # released, not lost
        assert statuses[TouchStatus.SENDING] == 0
        # Released claims are free at once: no waiting for a lease to expire.
        finish(start_worker(server.port, "--once"))
    finally:
        server.stop()
    ids = server.message_ids
    assert len(ids) == n == len(set(ids))
