"""Rate limits per API key, shared by every web process: one UPDATE per request (GCRA).

Each key has a row (`channels.RateLimit`, key `api:<id>`) holding its theoretical arrival
time (TAT). A request is let through when the TAT is at most a burst's worth ahead of
now; it then moves the TAT one interval on. A refused request changes nothing and is told
how long to wait (`Retry-After`). No Redis: the database is what all processes share.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import HttpRequest
from ninja.throttling import BaseThrottle

from kasatka.channels.models import RateLimit


def take(key: str, per_minute: int, burst: int, now: float | None = None) -> float:
    """Let one request of `key` through: 0.0 when allowed, else the seconds to wait."""
    fixed = now is not None
    now = time.time() if now is None else now
    interval = 60.0 / per_minute
    tolerance = interval * max(burst - 1, 0)
    table = connection.ops.quote_name(RateLimit._meta.db_table)
    sql = (
        f"UPDATE {table} SET next_free_at = "
        f"(CASE WHEN next_free_at > %s THEN next_free_at ELSE %s END) + %s "
        f"WHERE key = %s AND next_free_at - %s <= %s RETURNING next_free_at"
    )
    for _attempt in range(2):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [now, now, interval, key, now, tolerance])
            if cursor.fetchone() is not None:
                return 0.0
        tat = RateLimit.objects.filter(key=key).values_list("next_free_at", flat=True).first()
        if tat is not None:
            fresh = time.time()
            if not fixed and _attempt == 0 and fresh - now > 0.001:
                # Waiting for the row's lock made `now` stale: judge once more with the
                # time it is now, so that a slow database never refuses below the rate.
                now = fresh
                continue
            return max(float(tat) - now - tolerance, 0.001)
        try:
            with transaction.atomic():
                RateLimit.objects.create(key=key, next_free_at=now + interval)
            return 0.0
        except IntegrityError:
            pass  # another process made the row first: go through the UPDATE again
    return interval


class KeyThrottle(BaseThrottle):
    """`KASATKA_API_RATE_PER_MINUTE` requests a minute per key (or the key's own figure),
    with bursts of `KASATKA_API_BURST`; beyond: 429 with Retry-After."""

    def __init__(self) -> None:
        self._local = threading.local()  # one instance serves every thread's requests

    def allow_request(self, request: HttpRequest) -> bool:
        key = getattr(request, "auth", None)
        if key is None or not hasattr(key, "rate_per_minute"):
            return True
        per_minute = key.rate_per_minute or settings.KASATKA_API["RATE_PER_MINUTE"]
        if per_minute <= 0:
            return True
        wait = take(f"api:{key.pk}", per_minute, settings.KASATKA_API["BURST"])
        self._local.wait = wait or None
        return wait == 0.0

    def wait(self) -> float | None:
        wait: float | None = getattr(self._local, "wait", None)
        return wait
