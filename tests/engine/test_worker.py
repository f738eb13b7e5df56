"""The engine in one process against a real SMTP server and the test database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kasatka.chains.actions import enroll
from kasatka.chains.models import Enrollment, EnrollmentState, Step, Touch, TouchStatus
from kasatka.channels.call.models import CallTask
from kasatka.channels.email.channel import EmailChannel
from kasatka.contacts.models import Address, AddressState
from kasatka.engine.worker import EngineConfig, Worker
from kasatka.sales.actions import record_purchase
from tests import builders
from tests.smtp import SMTPServer, free_port

pytestmark = pytest.mark.django_db


def worker(clock, **overrides) -> Worker:
    config = EngineConfig(batch_size=overrides.pop("batch_size", 50), retry_base_seconds=60,
                          retry_max_seconds=3600, max_attempts=overrides.pop("max_attempts", 5))
    return Worker(config, clock=clock, worker_id=overrides.pop("worker_id", "w-test"))


def smtp_at(settings, port: int) -> int:
    """Point Django's SMTP backend at 127.0.0.1:port (the test runner defaults to locmem)."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    return port


def test_it_sends_a_due_email_once_with_its_key_as_message_id(shop, alice, clock, smtp, settings):
    chain = builders.chain(shop, steps=[{}, {}])
    anna = builders.contact(shop, owner=alice)
    e = enroll(anna, chain)

    assert worker(clock).run_batch() == 1
    assert worker(clock).run_batch() == 0

    [message] = smtp.messages
    touch = Touch.objects.get()
    assert touch.status == TouchStatus.SENT
    domain = settings.KASATKA_MESSAGE_ID_DOMAIN
    assert message["Message-ID"] == f"<{touch.idempotency_key}@{domain}>"
    assert message["Subject"].strip() == "Анна Сергеевна, новость №1"
    assert message["To"] == "anna@example.com"
    body = message.get_body(("plain",)).get_content()
    assert body.startswith("Уважаемая Анна Сергеевна!")
    html = message.get_body(("html",)).get_content()
    assert "Уважаемая Анна Сергеевна!" in html
    e.refresh_from_db()
    second = chain.steps.get(position=2)
    assert e.step == second
    assert e.next_touch_at == clock.now() + second.delay
    assert e.lease_owner == "" and e.lease_until is None


def test_it_sends_nothing_before_the_touch_is_due(shop, clock, smtp):
    chain = builders.chain(shop, steps=[{"delay": timedelta(hours=3)}])
    enroll(builders.contact(shop), chain)

    assert worker(clock).run_batch() == 0
    clock.advance(timedelta(hours=3))
    assert worker(clock).run_batch() == 1
    assert len(smtp.messages) == 1


def test_it_walks_the_chain_to_its_end(shop, clock, smtp):
    chain = builders.chain(shop, steps=[{}, {}, {}])
    e = enroll(builders.contact(shop), chain)
    for _ in range(3):
        worker(clock).run_batch()
        clock.advance(timedelta(days=2))
    e.refresh_from_db()
    assert e.state == EnrollmentState.FINISHED
    assert e.next_touch_at is None
    assert [m["Subject"].strip() for m in smtp.messages] == [
        f"Анна Сергеевна, новость №{i}" for i in (1, 2, 3)
    ]


def test_commercial_email_carries_one_click_unsubscribe(shop, clock, smtp, settings):
    settings.KASATKA_BASE_URL = "https://kasatka.example"
    enroll(builders.contact(shop), builders.chain(shop))
    worker(clock).run_batch()
    [message] = smtp.messages
    assert message["List-Unsubscribe"].strip().startswith("<https://kasatka.example/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_informational_email_has_no_list_unsubscribe(shop, clock, smtp):
    chain = builders.chain(shop, steps=[{"is_commercial": False}])
    enroll(builders.contact(shop, consent=()), chain)
    worker(clock).run_batch()
    [message] = smtp.messages
    assert message["List-Unsubscribe"] is None


def test_it_skips_commercial_touch_without_consent_and_exits_when_nothing_left(shop, clock, smtp):
    chain = builders.chain(shop, steps=[{}, {}])
    e = enroll(builders.contact(shop, consent=()), chain)
    worker(clock).run_batch()
    touch = Touch.objects.get()
    assert touch.status == TouchStatus.SKIPPED
    assert "no consent" in touch.error
    e.refresh_from_db()
    assert e.state == EnrollmentState.EXITED
    assert "cannot be reached" in e.exit_reason
    assert smtp.messages == []


def test_it_falls_back_to_the_next_channel_of_the_step(shop, alice, clock, smtp):
    chain = builders.chain(shop, steps=[{"channels": ["email", "call"]}])
    anna = builders.contact(shop, email=None, phone="+7 916 123-45-67", owner=alice)
    enroll(anna, chain)
    worker(clock).run_batch()
    task = CallTask.objects.get()
    assert task.assignee == alice
    assert task.phone == "+79161234567"
    assert "Уважаемая Анна Сергеевна" in task.script
    assert Touch.objects.get().channel == "call"
    assert smtp.messages == []


def test_a_purchase_ends_a_warming_chain_before_the_next_touch(shop, clock, smtp):
    chain = builders.chain(shop, steps=[{}, {}])
    anna = builders.contact(shop)
    e = enroll(anna, chain)
    worker(clock).run_batch()
    clock.advance(timedelta(days=1))
    record_purchase(anna, Decimal("15000"))
    clock.advance(timedelta(days=2))
    worker(clock).run_batch()
    e.refresh_from_db()
    assert e.state == EnrollmentState.EXITED
    assert e.exit_reason == "purchased"
    assert len(smtp.messages) == 1


def test_purchase_recorded_behind_the_engines_back_still_exits_at_send_time(shop, clock, smtp):
    from kasatka.sales.models import Purchase

    chain = builders.chain(shop, steps=[{}, {}])
    anna = builders.contact(shop)
    e = enroll(anna, chain)
    Purchase.objects.create(business=shop, contact=anna, amount=1, purchased_at=clock.now())
    worker(clock).run_batch()
    e.refresh_from_db()
    assert e.state == EnrollmentState.EXITED
    assert smtp.messages == []


def test_smtp_down_backs_off_then_delivers_everything(shop, clock, settings):
    port = smtp_at(settings, free_port())  # nothing listens there yet
    chain = builders.chain(shop)
    builders.many_enrollments(shop, chain, 20, clock.now())

    assert worker(clock).run_batch() == 20
    touches = Touch.objects.all()
    assert {t.status for t in touches} == {TouchStatus.DEFERRED}
    assert all("cannot connect" in t.error for t in touches)
    retry_at = min(Enrollment.objects.values_list("next_touch_at", flat=True))
    assert retry_at >= clock.now() + timedelta(seconds=48)  # 60 s base minus jitter

    assert worker(clock).run_batch() == 0  # backing off, not hammering
    clock.advance(timedelta(seconds=80))
    assert worker(clock).run_batch() == 20  # still down: second attempt
    later = min(Enrollment.objects.values_list("next_touch_at", flat=True))
    assert later - clock.now() >= timedelta(seconds=96)  # the delay doubled

    server = SMTPServer(port=port).start()
    try:
        clock.advance(timedelta(seconds=150))
        assert worker(clock).run_batch() == 20
    finally:
        server.stop()
    assert len(server.message_ids) == 20 == len(set(server.message_ids))
    assert set(Touch.objects.values_list("status", flat=True)) == {TouchStatus.SENT}
    assert set(Touch.objects.values_list("attempts", flat=True)) == {3}


def test_transient_failures_give_up_after_the_limit(shop, clock, settings):
    smtp_at(settings, free_port())
    e = enroll(builders.contact(shop), builders.chain(shop))
    for _ in range(3):
        worker(clock, max_attempts=3).run_batch()
        clock.advance(timedelta(hours=2))
    touch = Touch.objects.get()
    assert touch.status == TouchStatus.FAILED
    assert "gave up after 3 attempts" in touch.error
    e.refresh_from_db()
    assert e.state == EnrollmentState.FINISHED


def test_smtp_550_bounces_the_address_with_the_reason_and_never_retries(shop, clock, settings):
    server = SMTPServer(reject={"gone@example.com": "550 5.1.1 No such mailbox"}).start()
    smtp_at(settings, server.port)
    try:
        chain = builders.chain(shop, steps=[{}, {}])
        anna = builders.contact(shop, email="gone@example.com")
        e = enroll(anna, chain)
        worker(clock).run_batch()
        clock.advance(timedelta(days=3))
        worker(clock).run_batch()
    finally:
        server.stop()
    touch = Touch.objects.order_by("id").first()
    assert touch is not None
    assert touch.status == TouchStatus.BOUNCED
    assert touch.attempts == 1
    assert "550" in touch.error
    address = Address.objects.get(value="gone@example.com")
    assert address.state == AddressState.BOUNCED
    assert "No such mailbox" in address.state_reason
    e.refresh_from_db()
    assert e.state == EnrollmentState.EXITED  # the only address is gone
    assert server.messages == []


def test_a_touch_interrupted_while_sending_is_marked_unknown_not_resent(shop, clock, smtp):
    chain = builders.chain(shop, steps=[{}, {}])
    e = enroll(builders.contact(shop), chain)
    # A worker wrote the touch, handed it to SMTP and died before hearing back.
    Touch.objects.create(
        business=shop, enrollment=e, step=e.step, contact=e.contact, channel="email",
        status=TouchStatus.SENDING, idempotency_key=Touch.key_for(e.pk, e.step_id), attempts=1,
    )
    Enrollment.objects.filter(pk=e.pk).update(
        lease_owner="dead-worker", lease_until=clock.now() + timedelta(minutes=5)
    )
    assert worker(clock).run_batch() == 0  # the lease still holds
    clock.advance(timedelta(minutes=6))
    assert worker(clock).run_batch() == 1
    touch = Touch.objects.get()
    assert touch.status == TouchStatus.UNKNOWN
    assert smtp.messages == []
    e.refresh_from_db()
    assert e.step == chain.steps.get(position=2)  # moved on: shown, not repeated


def test_an_interrupted_call_task_is_completed_once(shop, alice, clock, smtp):
    chain = builders.chain(shop, steps=[{"channels": ["call"]}])
    e = enroll(builders.contact(shop, phone="+79161234567", owner=alice), chain)
    Touch.objects.create(
        business=shop, enrollment=e, step=e.step, contact=e.contact, channel="call",
        status=TouchStatus.SENDING, idempotency_key=Touch.key_for(e.pk, e.step_id), attempts=1,
    )
    worker(clock).run_batch()
    assert Touch.objects.get().status == TouchStatus.SENT  # the call channel is idempotent
    assert CallTask.objects.count() == 1


def test_a_template_that_fails_at_send_time_fails_that_touch_only(shop, clock, smtp):
    chain = builders.chain(shop, steps=[{}, {}])
    broken, fine = builders.contact(shop), builders.contact(shop, email="boris@example.com",
                                                           first_name="Борис",
                                                           patronymic="Ильич")
    first = chain.steps.get(position=1)
    # A template edited in the database behind the validation's back.
    Step.objects.filter(pk=first.pk).update(body_template="{{ contact.greeting ")
    enroll(broken, chain)
    worker(clock).run_batch()
    touch = Touch.objects.get(contact=broken)
    assert touch.status == TouchStatus.FAILED
    assert "template" in touch.error
    Step.objects.filter(pk=first.pk).update(body_template="Добрый день!")
    enroll(fine, chain)
    assert worker(clock).run_batch() == 1
    assert len(smtp.messages) == 1


def test_stop_finishes_the_message_in_hand_and_releases_the_rest(
    shop, clock, smtp, monkeypatch
):
    chain = builders.chain(shop)
    builders.many_enrollments(shop, chain, 10, clock.now())
    w = worker(clock)
    real_deliver = EmailChannel.deliver

    def deliver_then_sigterm(self, message):
        result = real_deliver(self, message)
        w.stop()  # as the SIGTERM handler does
        return result

    monkeypatch.setattr(EmailChannel, "deliver", deliver_then_sigterm)
    w.run_batch()
    assert len(smtp.messages) == 1
    statuses = sorted(Touch.objects.values_list("status", flat=True))
    assert statuses == [TouchStatus.QUEUED] * 9 + [TouchStatus.SENT]
    assert Enrollment.objects.exclude(lease_owner="").count() == 0

    monkeypatch.undo()
    assert worker(clock, worker_id="w2").run_batch() == 9
    assert len(set(smtp.message_ids)) == 10 == len(smtp.message_ids)


def test_an_expired_lease_returns_the_enrollment_to_the_pool(shop, clock, smtp):
    enroll(builders.contact(shop), builders.chain(shop))
    first = worker(clock, worker_id="first")
    assert first.claim(clock.now())  # claimed, then the worker vanished
    assert worker(clock, worker_id="second").run_batch() == 0
    clock.advance(timedelta(seconds=first.config.lease_seconds + 1))
    assert worker(clock, worker_id="second").run_batch() == 1
    assert len(smtp.messages) == 1


def test_a_paused_chain_sends_nothing(shop, clock, smtp):
    chain = builders.chain(shop)
    enroll(builders.contact(shop), chain)
    chain.is_active = False
    chain.save()
    assert worker(clock).run_batch() == 0
    assert smtp.messages == []


def test_batch_queries_do_not_grow_with_the_batch(shop, clock, smtp):
    from kasatka.accounts.models import sending_rules

    chain = builders.chain(shop, steps=[{}, {"channels": ["call"]}])
    sending_rules(shop)  # made on first use: from here on every batch only reads them
    counts = []
    for n in (3, 30):
        builders.many_enrollments(shop, chain, n, clock.now())
        with CaptureQueriesContext(connection) as ctx:
            assert worker(clock).run_batch() == n
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_a_lost_database_connection_does_not_kill_the_worker(shop, clock, smtp, monkeypatch):
    from django.db import OperationalError

    enroll(builders.contact(shop), builders.chain(shop))
    w = worker(clock)
    real_claim = Worker.claim
    calls = {"n": 0}

    def claim_failing_once(self, now):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_claim(self, now)

    monkeypatch.setattr(Worker, "claim", claim_failing_once)
    w.config.idle_seconds = 0.01
    w.run(once=True)
    assert len(smtp.messages) == 1
