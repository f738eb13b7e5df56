"""Rate limits hold for all workers together: slots are reserved in the database."""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from kasatka.chains.models import Enrollment, Touch, TouchStatus
from kasatka.channels.models import ProviderAccount, RateLimit
from kasatka.channels.ratelimit import Limiter, reserve
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.engine.test_processes import finish, start_worker

from .provider_server import Answer, ProviderServer, Request


def test_reservations_never_share_a_slot(db):
    # Two workers asking at the same moment get consecutive, disjoint stretches.
    first = reserve("account:1", rate=20, count=20, now=1000.0)
    second = reserve("account:1", rate=20, count=20, now=1000.0)
    assert first == 1000.0
    assert second == pytest.approx(1001.0)
    # A limit that has been idle starts from now, not from its old slot.
    assert reserve("account:1", rate=20, count=1, now=5000.0) == 5000.0


def test_limits_are_kept_apart_by_key(db):
    assert reserve("account:1", rate=1, count=10, now=0.0) == 0.0
    assert reserve("account:2", rate=1, count=1, now=0.0) == 0.0


def test_a_limiter_spaces_messages_by_the_slowest_limit(db):
    fake_now = [100.0]
    limiter = Limiter([("account:7", 10), ("channel:sms", 5)], clock=lambda: fake_now[0])
    slots = [limiter.next_slot(remaining=10 - i) for i in range(10)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) == pytest.approx(0.2)  # 5 per second, the stricter of the two


def test_a_slot_past_the_budget_is_not_waited_for(db):
    limiter = Limiter([("account:8", 1)])
    now = time.time()
    assert limiter.wait(remaining=3, budget_until=now + 10)
    assert limiter.wait(remaining=2, budget_until=now + 10)  # one second later
    assert not limiter.wait(remaining=1, budget_until=now + 1.5)


def test_slots_a_worker_came_too_late_for_are_given_up_not_burst(db):
    fake_now = [100.0]
    limiter = Limiter([("account:9", 2)], clock=lambda: fake_now[0])
    assert limiter.wait(remaining=10, budget_until=1e12)  # slot 100.0 of 100.0, 100.5…
    fake_now[0] = 110.0  # a slow answer: the worker is back ten seconds later
    assert limiter.wait(remaining=9, budget_until=1e12)
    # The stale slots were dropped and a fresh stretch reserved from now.
    assert RateLimit.objects.get(key="account:9").next_free_at == pytest.approx(111.0)
    assert limiter.next_slot(remaining=8) == pytest.approx(110.5)


def test_a_limiter_without_limits_is_falsy():
    assert not Limiter([("account:1", None), ("channel:sms", 0)])


class _SmsRu(ProviderServer):
    """Accepts every message with its own id, as SMS.ru does."""

    def answer_for(self, request: Request) -> Answer:
        number = request.form["to"][0]
        return Answer(200, {"status": "OK", "status_code": 100, "sms": {
            number: {"status": "OK", "status_code": 100, "sms_id": f"id-{number}"}
        }})


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_workers_keep_one_provider_limit_of_20_per_second(shop):
    total, rate = 1000, 20
    chain = builders.chain(shop, [{"channels": ["sms"], "body_template": "Новая коллекция"}])
    builders.many_enrollments(
        shop, chain, total, timezone.now() - timedelta(minutes=1), channel="sms"
    )
    server = _SmsRu().start()
    try:
        account = ProviderAccount(
            business=shop, channel="sms", provider="smsru", options={"api_url": server.url},
            rate_per_second=rate,
        )
        account.set_secrets({"api_id": "test"})
        account.save()
        workers = [start_worker(0, "--once", "--batch-size", "50") for _ in range(2)]
        outputs = [finish(w, timeout=300) for w in workers]
    finally:
        server.stop()

    assert Touch.objects.filter(status=TouchStatus.SENT).count() == total
    assert len(server.requests) == total
    # Both workers sent: the limit was shared, not kept by one worker alone.
    assert all("sent" in out for out in outputs), outputs
    # Counted per one-second window as the provider saw them. Slots are 1/rate apart and a
    # message leaves at most 1/rate after its slot (later ones are given up); the server's
    # own timestamps add scheduling jitter on a loaded machine. So a window holds the limit
    # plus the one or two messages such jitter moves across its edge — never a burst (an
    # unlimited run puts hundreds in one window).
    first = min(r.at for r in server.requests)
    per_window = Counter(math.floor(r.at - first) for r in server.requests)
    assert max(per_window.values()) <= rate + 3, sorted(per_window.items())
    # And the run takes at least the time the limit implies: 1,000 slots 1/20 s apart.
    span = max(r.at for r in server.requests) - first
    assert span >= (total - 1) / rate - 0.2, span


def test_what_a_batch_cannot_send_within_its_lease_goes_back_untouched(shop, clock, settings):
    settings.KASATKA_ENGINE = {**settings.KASATKA_ENGINE, "LEASE_SECONDS": 4}
    chain = builders.chain(shop, [{"channels": ["sms"], "body_template": "Новая коллекция"}])
    builders.many_enrollments(shop, chain, 6, clock.now(), channel="sms")
    server = _SmsRu().start()
    try:
        account = ProviderAccount(
            business=shop, channel="sms", provider="smsru", options={"api_url": server.url},
            rate_per_second=1,
        )
        account.set_secrets({"api_id": "test"})
        account.save()
        Worker(EngineConfig.from_settings(lease_seconds=4), clock=clock).run_batch()
    finally:
        server.stop()
    # One a second for the two seconds of half the lease: three at most went out.
    sent = Touch.objects.filter(status=TouchStatus.SENT)
    assert 1 <= sent.count() <= 3
    assert len(server.requests) == sent.count()
    back = Touch.objects.filter(status=TouchStatus.QUEUED)
    assert back.count() == 6 - sent.count()
    assert set(back.values_list("attempts", flat=True)) == {0}
    released = Enrollment.objects.filter(touches__in=back)
    assert all(e.lease_owner == "" and e.next_touch_at == clock.now() for e in released)
