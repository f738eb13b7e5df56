"""Delivery against a real receiver: retries through the backoff, exactly one acceptance,
a receiver down for days paused and the owner told, re-sends and resuming."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Min

from kasatka.accounts.models import Notice
from kasatka.contacts.actions import create_contact
from kasatka.webhooks import actions, signing
from kasatka.webhooks.delivery import NOTICE_KIND, deliver_due
from kasatka.webhooks.models import (
    DeliveryAttempt,
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookEvent,
)
from tests.smtp import free_port

pytestmark = pytest.mark.django_db

WINDOW = timedelta(hours=72)


def subscribe(shop, owner, url, types=(EventType.CONTACT_CREATED,)):
    return actions.create_subscription(shop, url, types, name="1С", by=owner)


def new_contacts(shop, n: int) -> list:
    return [
        create_contact(shop, first_name=f"Клиент {i}", phones=[f"+7916123450{i}"])
        for i in range(n)
    ]


def drain(clock, limit: int = 200) -> int:
    """Deliver what is due, then move the clock to the next attempt, until none is left."""
    rounds = 0
    while rounds < limit:
        deliver_due(clock.now())
        earliest = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(
            at=Min("next_attempt_at")
        )["at"]
        if earliest is None:
            return rounds
        clock.set(max(earliest, clock.now()))
        rounds += 1
    raise AssertionError("deliveries still pending")


def test_a_receiver_failing_three_times_accepts_each_event_exactly_once(
    shop, owner, clock, receiver
):
    # Per event: a 500, a 429 asking for an hour, a dropped 502, then 200.
    script = {1: 500, 2: (429, {"Retry-After": "3600"}), 3: 502}
    receiver.answer = lambda n, msg_id: script.get(n, 200)
    sub = subscribe(shop, owner, receiver.url)
    receiver.secret = sub.secret
    start = clock.now()
    contacts = new_contacts(shop, 3)

    deliver_due(clock.now())
    # The receiver failed: its other events wait for its next attempt instead of each
    # failing in turn.
    assert len(receiver.requests) == 1
    first = WebhookDelivery.objects.order_by("pk").first()
    assert set(WebhookDelivery.objects.values_list("next_attempt_at", flat=True)) == {
        first.next_attempt_at
    }
    drain(clock)

    events = list(WebhookEvent.objects.filter(business=shop))
    assert len(events) == 3
    accepted = receiver.accepted()
    assert sorted(r.msg_id for r in accepted) == sorted(e.uid for e in events)
    assert all(r.signature_ok for r in receiver.requests)
    assert len(receiver.requests) == 12
    for event in events:
        tries = [r for r in receiver.requests if r.msg_id == event.uid]
        assert [r.status for r in tries] == [500, 429, 502, 200]
        assert {r.body for r in tries} == {event.body.encode()}  # the same bytes each time
    assert {r.json["data"]["contact"]["id"] for r in accepted} == {c.pk for c in contacts}
    for d in WebhookDelivery.objects.all():
        assert d.status == DeliveryStatus.DELIVERED and d.attempts == 4
        assert d.delivered_at < start + timedelta(hours=12)
        log = list(d.attempt_log.order_by("at", "pk"))
        assert [a.status_code for a in log] == [500, 429, 502, 200]
        assert log[2].at - log[1].at >= timedelta(seconds=3600)  # Retry-After honoured
        assert all(a.duration_ms < 5000 and a.response for a in log)
    # Nothing more is due, whatever the clock says: an accepted delivery is never sent again.
    clock.advance(timedelta(days=5))
    assert deliver_due(clock.now()) == 0
    assert len(receiver.requests) == 12


def test_a_receiver_down_past_the_window_pauses_the_subscription_and_tells_the_owner(
    shop, owner, clock, receiver, smtp, django_capture_on_commit_callbacks
):
    owner.email = "olga@kedr.example"
    owner.save()
    sub = subscribe(shop, owner, f"http://127.0.0.1:{free_port()}/down")  # nobody listens
    start = clock.now()
    new_contacts(shop, 2)

    with django_capture_on_commit_callbacks(execute=True):
        drain(clock)

    sub.refresh_from_db()
    assert sub.paused_at is not None and sub.paused_at >= start + WINDOW
    assert "ConnectError" in sub.pause_reason
    deliveries = list(WebhookDelivery.objects.filter(subscription=sub).order_by("pk"))
    assert {d.status for d in deliveries} == {DeliveryStatus.HELD}
    # One delivery probes the dead receiver through the backoff; the other waits
    # behind it instead of failing on its own.
    assert [d.attempts > 10 for d in deliveries] == [True, False]
    first = DeliveryAttempt.objects.filter(delivery__subscription=sub).aggregate(
        at=Min("at"))["at"]
    assert first == start
    notice = Notice.objects.get(business=shop, kind=NOTICE_KIND)
    assert notice.url == f"/settings/webhooks/{sub.pk}/"
    [mail] = smtp.messages
    assert mail["To"] == "olga@kedr.example"
    assert f"/settings/webhooks/{sub.pk}/" in mail.get_body(("plain",)).get_content()

    # Paused: nothing goes out, and new events wait too.
    clock.advance(timedelta(days=1))
    create_contact(shop, first_name="Поздний")
    assert deliver_due(clock.now()) == 0
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.HELD).count() == 3

    # The receiver is back and the owner resumes: everything held arrives once.
    receiver.secret = sub.secret
    actions.update_subscription(sub, url=receiver.url, event_types=sub.event_types, name="1С")
    assert actions.resume(sub) == 3
    drain(clock)
    assert len(receiver.accepted()) == 3 and len(receiver.requests) == 3
    assert not WebhookDelivery.objects.exclude(status=DeliveryStatus.DELIVERED).exists()


def test_a_receiver_that_says_gone_is_paused_at_once(shop, owner, clock, receiver):
    receiver.answer = lambda n, msg_id: 410
    sub = subscribe(shop, owner, receiver.url)
    receiver.secret = sub.secret
    new_contacts(shop, 1)
    deliver_due(clock.now())
    sub.refresh_from_db()
    assert sub.paused_at == clock.now() and "410" in sub.pause_reason
    assert Notice.objects.filter(business=shop, kind=NOTICE_KIND).exists()


def test_an_event_refused_while_others_pass_gives_up_without_pausing(
    shop, owner, clock, receiver
):
    poisoned: set[str] = set()
    sub = subscribe(shop, owner, receiver.url)
    receiver.secret = sub.secret
    new_contacts(shop, 1)
    poisoned.add(WebhookEvent.objects.get().uid)

    def answer(n: int, msg_id: str) -> int:
        return 422 if msg_id in poisoned else 200

    receiver.answer = answer
    for day in range(4):  # another client every day keeps the receiver healthy
        clock.advance(timedelta(days=1))
        create_contact(shop, first_name=f"День {day}")
        drain(clock)
    sub.refresh_from_db()
    assert sub.paused_at is None
    failed = WebhookDelivery.objects.get(event__uid__in=poisoned)
    assert failed.status == DeliveryStatus.FAILED and failed.last_status_code == 422
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.DELIVERED).count() == 4

    # The owner fixes the receiver and sends it again by hand.
    poisoned.clear()
    actions.resend(failed)
    deliver_due(clock.now())
    failed.refresh_from_db()
    assert failed.status == DeliveryStatus.DELIVERED
    with pytest.raises(ValidationError):
        actions.resend(failed)  # accepted once: never again
    assert len([r for r in receiver.accepted() if r.msg_id == failed.event.uid]) == 1


def test_a_tampered_body_fails_the_signature_check(shop, owner, clock, receiver):
    sub = subscribe(shop, owner, receiver.url)
    receiver.secret = sub.secret
    new_contacts(shop, 1)
    deliver_due(clock.now())
    [sent] = receiver.requests
    assert sent.signature_ok
    signing.verify(sub.secret, sent.headers, sent.body)
    tampered = sent.body.replace("Клиент".encode(), "Хакер".encode())
    with pytest.raises(signing.InvalidSignature):
        signing.verify(sub.secret, sent.headers, tampered)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(signing.new_secret(), sent.headers, sent.body)
    stale = int(sent.headers["webhook-timestamp"]) + 600
    with pytest.raises(signing.InvalidSignature):
        signing.verify(sub.secret, sent.headers, sent.body, now=stale)


def test_the_signature_is_the_standard_webhooks_one():
    # The example of the Standard Webhooks reference libraries' tests.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    assert signing.sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == (
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_a_test_event_goes_to_that_subscription_only(shop, owner, clock, receiver):
    sub = subscribe(shop, owner, receiver.url)
    other = subscribe(shop, owner, receiver.url.replace("/hooks", "/other"))
    receiver.secret = sub.secret
    delivery = actions.send_test(sub)
    deliver_due(clock.now())
    assert delivery.subscription_id == sub.pk
    assert not WebhookDelivery.objects.filter(subscription=other).exists()
    [request] = receiver.accepted()
    assert request.json["type"] == "webhook.test"
    assert json.loads(delivery.event.body)["data"] == {"subscription": sub.pk}
