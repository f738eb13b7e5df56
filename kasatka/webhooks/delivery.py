"""Delivering the outbox: claim what is due by the clock, POST it signed, record the answer.

`deliver_due(now)` is the whole of it, and may run in several processes and threads at
once: each takes a few due deliveries under a lease (PostgreSQL: FOR UPDATE SKIP LOCKED;
SQLite: the claim's transaction begins IMMEDIATE), so two sweeps never send one delivery
at the same time. A 2xx marks the delivery delivered and it is never sent again; any
other answer schedules the next attempt with exponential backoff and jitter (a
Retry-After on 429 or 503 is honoured) until the retry window closes. A subscription that
has failed for the whole window is paused, its pending deliveries held and the owner told.

The `sweep` task runs `deliver_due` and queues itself for the next attempt due; `kick`
queues it once for new work. The task worker also runs `deliver_due` every
KASATKA_TASKS["SWEEP_SECONDS"] beside its tasks (`KASATKA_TASKS["SWEEPS"]`), so a lost
task costs a second, never a delivery, and attempts follow Kasatka's clock even when it
runs faster than the task queue's.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Min, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django_tasks import task
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult, get_date_max

from kasatka.accounts.notices import notify_owners
from kasatka.channels.http import retry_after_seconds
from kasatka.dbutil import ids_in
from kasatka.engine import rules
from kasatka.engine.background import worker_id
from kasatka.engine.clock import now as clock_now

from . import signing
from .events import retry_window
from .models import DeliveryAttempt, DeliveryStatus, WebhookDelivery, WebhookSubscription

log = logging.getLogger("kasatka.webhooks")

NOTICE_KIND = "webhook-paused"


def _config(name: str) -> int:
    return int(settings.KASATKA_WEBHOOKS[name])


@dataclass(slots=True)
class Answer:
    """What one POST came to."""

    status_code: int | None
    response: str
    duration_ms: int
    error: str
    retry_after: float | None

    @property
    def accepted(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def receiver_down(self) -> bool:
        """Trouble of the receiver, not of this event: no answer, 5xx, 429."""
        return self.status_code is None or self.status_code >= 500 or self.status_code == 429


def post(client: httpx.Client, delivery: WebhookDelivery) -> Answer:
    """One signed POST of the delivery's event; never raises for the receiver's faults."""
    event = delivery.event
    body = event.body.encode()
    headers = signing.headers(
        delivery.subscription.secret, event.uid, int(time.time()), body
    )
    headers["user-agent"] = "Kasatka-Webhooks/1"
    limit = _config("RESPONSE_CHARS")
    started = time.monotonic()
    try:
        with client.stream("POST", delivery.subscription.url, content=body,
                           headers=headers) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size >= limit * 4:  # enough for the excerpt; the rest is not read
                    break
            text = b"".join(chunks).decode("utf-8", "replace")[:limit]
            retry_after = (
                retry_after_seconds(response.headers.get("retry-after"))
                if response.status_code in (429, 503) else None
            )
            return Answer(response.status_code, text, _ms(started), "", retry_after)
    except httpx.TimeoutException:
        error = f"timed out after {_config('TIMEOUT_SECONDS')} s"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return Answer(None, "", _ms(started), error[:500], None)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


_clients: dict[float, httpx.Client] = {}


def _client() -> httpx.Client:
    """The process's client (thread-safe; building one, with its TLS context, is slow)."""
    timeout = float(_config("TIMEOUT_SECONDS"))
    if timeout not in _clients:
        _clients[timeout] = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), follow_redirects=False
        )
    return _clients[timeout]


# --- the sweep ---------------------------------------------------------------------------


def deliver_due(now: datetime | None = None) -> int:
    """Attempt every delivery due by `now` (the clock's, by default); returns the attempts.

    Safe to run concurrently: each batch is claimed under a lease first."""
    me = f"{worker_id()}-{uuid.uuid4().hex[:8]}"
    attempts = 0
    client = _client()
    while True:
        at = now or clock_now()
        # A read first: the task worker calls this every second, and on SQLite a claim
        # takes the write lock even when nothing is due.
        if not WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=at
        ).exists():
            return attempts
        ids = claim(at, me)
        if not ids:
            return attempts
        attempts += _deliver_batch(client, ids, at, me)


def claim(now: datetime, owner: str) -> list[int]:
    """Put a lease on up to a batch of due deliveries, in one statement."""
    table = connection.ops.quote_name(WebhookDelivery._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    skip_locked = (
        "FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    )
    sql = f"""
        UPDATE {table} SET lease_owner = %s, lease_until = %s
        WHERE id IN (
            SELECT id FROM {table}
            WHERE status = %s AND next_attempt_at <= %s
              AND (lease_until IS NULL OR lease_until < %s)
            ORDER BY next_attempt_at LIMIT %s {skip_locked}
        )
        RETURNING id
    """
    params = [
        owner, adapt(now + timedelta(seconds=_config("LEASE_SECONDS"))),
        DeliveryStatus.PENDING, adapt(now), adapt(now), _config("BATCH_SIZE"),
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _deliver_batch(client: httpx.Client, ids: list[int], now: datetime, me: str) -> int:
    deliveries = list(
        ids_in(WebhookDelivery.objects.filter(lease_owner=me), "webhooks_webhookdelivery.id",
               ids)
        .select_related("event", "subscription")
        .order_by("next_attempt_at", "id")
    )
    # A receiver that is down (no answer, 5xx, 429) is not tried again in this round:
    # its other deliveries wait for its next attempt instead of each waiting for a
    # timeout. A 4xx is about one event and stops nothing else.
    failed_now: dict[int, datetime] = {}
    attempts = 0
    for delivery in deliveries:
        sub = delivery.subscription
        sub.refresh_from_db(fields=["paused_at", "is_active", "url", "secret_encrypted"])
        if sub.paused_at is not None or not sub.is_active:
            _release(delivery, me, status=DeliveryStatus.HELD)
            continue
        if sub.pk in failed_now:
            _release(delivery, me, next_attempt_at=failed_now[sub.pk])
            continue
        answer = post(client, delivery)
        attempts += 1
        following = record(delivery, answer, now, me)
        if following is not None and answer.receiver_down:
            failed_now[sub.pk] = following
    return attempts


def _release(
    delivery: WebhookDelivery, me: str, *, status: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:
    changes: dict[str, object] = {"lease_owner": "", "lease_until": None}
    if status == DeliveryStatus.HELD:
        changes.update(status=status, next_attempt_at=None)
    if next_attempt_at is not None:
        changes["next_attempt_at"] = next_attempt_at
    WebhookDelivery.objects.filter(pk=delivery.pk, lease_owner=me).update(**changes)


def record(
    delivery: WebhookDelivery, answer: Answer, now: datetime, me: str
) -> datetime | None:
    """Log the attempt and move the delivery on; returns the next attempt's time, if any."""
    try:
        with transaction.atomic():
            following = _record(delivery, answer, now, me)
    except IntegrityError:
        # Removed with its subscription while the request was out: nothing to record.
        log.info("webhook delivery %s was removed during its attempt", delivery.pk)
        return None
    log.info("webhook delivery %s (%s) → %s %s", delivery.pk, delivery.event.type,
             answer.status_code or "-", answer.error)
    return following


def _record(
    delivery: WebhookDelivery, answer: Answer, now: datetime, me: str
) -> datetime | None:
    sub = delivery.subscription
    attempts = delivery.attempts + 1
    last_error = answer.error or ("" if answer.accepted else f"HTTP {answer.status_code}")
    changes: dict[str, object] = {
        "attempts": attempts, "last_attempt_at": now, "last_status_code": answer.status_code,
        "last_error": last_error, "lease_owner": "", "lease_until": None,
    }
    following: datetime | None = None
    pause_reason = ""
    DeliveryAttempt.objects.create(
        business_id=delivery.business_id, delivery=delivery, at=now,
        status_code=answer.status_code, response=answer.response,
        duration_ms=answer.duration_ms, error=answer.error,
    )
    if answer.accepted:
        changes.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
        WebhookSubscription.objects.filter(pk=sub.pk, failing_since__isnull=False).update(
            failing_since=None
        )
    else:
        WebhookSubscription.objects.filter(pk=sub.pk, failing_since__isnull=True).update(
            failing_since=now
        )
        failing_since = WebhookSubscription.objects.values_list(
            "failing_since", flat=True
        ).get(pk=sub.pk) or now
        if answer.status_code == 410:
            pause_reason = _("The receiver answered 410 Gone: it wants no more events.")
        elif now >= delivery.give_up_at:
            if now - failing_since >= retry_window():
                pause_reason = _(
                    "Every delivery failed for %(days)s days; the last answer: %(error)s"
                ) % {"days": _window_days(), "error": last_error}
            else:
                changes.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
        else:
            delay = rules.backoff(
                attempts, _config("RETRY_BASE_SECONDS"), _config("RETRY_MAX_SECONDS"),
                answer.retry_after,
            )
            following = min(now + delay, delivery.give_up_at)
            changes["next_attempt_at"] = following
        if pause_reason:
            changes.update(status=DeliveryStatus.HELD, next_attempt_at=None)
    moved = WebhookDelivery.objects.filter(pk=delivery.pk, lease_owner=me).update(**changes)
    if not moved:
        log.warning("webhook delivery %s: lease lost before its answer was recorded",
                    delivery.pk)
    if pause_reason:
        pause(sub, pause_reason, told=True)
    return following


def _window_days() -> str:
    return f"{_config('RETRY_WINDOW_HOURS') / 24:g}"


# --- pause, resume, re-send ----------------------------------------------------------------


def pause(sub: WebhookSubscription, reason: str, told: bool = False) -> None:
    """Stop sending to the subscription: its pending deliveries wait, held, until resumed.

    With `told`, the owners get a notice (Today and e-mail) with a link to the page."""
    now = clock_now()
    with transaction.atomic():
        WebhookSubscription.objects.filter(pk=sub.pk).update(
            paused_at=now, pause_reason=reason[:300]
        )
        hold_pending(sub)
        sub.paused_at, sub.pause_reason = now, reason[:300]
        if told:
            business = sub.business
            with translation.override(business.language):
                notify_owners(
                    business, NOTICE_KIND,
                    _("Webhook paused: %(name)s") % {"name": str(sub)},
                    body=reason,
                    url=reverse("webhooks:detail", args=[sub.pk]),
                )
    log.warning("webhook subscription %s paused: %s", sub.pk, reason)


def resume(sub: WebhookSubscription) -> int:
    """Send again: held deliveries are due now, with a fresh retry window; returns them."""
    with transaction.atomic():
        WebhookSubscription.objects.filter(pk=sub.pk).update(
            paused_at=None, pause_reason="", failing_since=None
        )
        sub.paused_at, sub.pause_reason, sub.failing_since = None, "", None
        return release_held(sub)


def hold_pending(sub: WebhookSubscription) -> int:
    """The subscription's pending deliveries wait (paused, or switched off)."""
    return WebhookDelivery.objects.filter(
        subscription=sub, status=DeliveryStatus.PENDING
    ).update(status=DeliveryStatus.HELD, next_attempt_at=None, lease_owner="", lease_until=None)


def release_held(sub: WebhookSubscription) -> int:
    """Held deliveries are due now, each with a fresh retry window; returns how many."""
    now = clock_now()
    count = WebhookDelivery.objects.filter(subscription=sub, status=DeliveryStatus.HELD).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, give_up_at=now + retry_window()
    )
    if count:
        transaction.on_commit(kick)
    return count


def resend(delivery: WebhookDelivery) -> None:
    """The owner's "send again" on a delivery that was not accepted (failed or waiting).

    An accepted delivery is never sent again: a receiver has it once."""
    from django.core.exceptions import ValidationError

    if delivery.status == DeliveryStatus.DELIVERED:
        raise ValidationError(_("This event was accepted already; it is not sent twice."))
    if delivery.subscription.paused_at is not None:
        raise ValidationError(_("The subscription is paused; resume it first."))
    now = clock_now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).exclude(
            status=DeliveryStatus.DELIVERED
        ).update(
            status=DeliveryStatus.PENDING, next_attempt_at=now, give_up_at=now + retry_window(),
            lease_owner="", lease_until=None,
        )
        transaction.on_commit(kick)


# --- the task, and what queues it --------------------------------------------------------


@task()
def sweep() -> int:
    """Deliver what is due, then queue the sweep again for the next attempt due."""
    done = deliver_due()
    schedule_next()
    return done


def _sweep_waiting(before: datetime) -> bool:
    # A task queued to run at once has the backend's largest date as its run_after.
    return DBTaskResult.objects.filter(
        Q(run_after__lte=before) | Q(run_after=get_date_max()),
        status=TaskResultStatus.READY, task_path=sweep.module_path,
    ).exists()


def kick() -> None:
    """Queue a sweep now, unless one is waiting to run already."""
    if not _sweep_waiting(timezone.now() + timedelta(seconds=1)):
        sweep.enqueue()


def schedule_next() -> None:
    """Queue a sweep for the earliest pending attempt (translated from the clock to real
    time, which the task queue reads)."""
    earliest = WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).aggregate(
        at=Min("next_attempt_at")
    )["at"]
    if earliest is None:
        return
    run_after = timezone.now() + max(earliest - clock_now(), timedelta(0))
    if not _sweep_waiting(run_after):
        sweep.using(run_after=run_after).enqueue()
