"""Rate limits shared by every worker: slots reserved with one atomic UPDATE.

A limit is a row holding the next free sending slot (Unix time). A worker about to send
n messages moves it forward by n / rate in one statement and gets the start of its
slots back; its messages then leave 1 / rate apart from there. Whatever the number of
workers or hosts, no two get the same slot, so the provider never sees more than `rate`
messages in a second (give or take the network's jitter). The database is the one
thing all workers share, so no Redis is needed.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from django.db import IntegrityError, connection, transaction

from .models import RateLimit

# How much a worker reserves at once: at most a second's worth, so that several
# workers interleave instead of one taking the provider for a long stretch.
RESERVE_SECONDS = 1.0


def reserve(key: str, rate: float, count: int, now: float | None = None) -> float:
    """Reserve `count` slots of `key` at `rate` per second; return when the first one is."""
    now = time.time() if now is None else now
    table = connection.ops.quote_name(RateLimit._meta.db_table)
    span = count / rate
    sql = (
        f"UPDATE {table} SET next_free_at = "
        f"(CASE WHEN next_free_at > %s THEN next_free_at ELSE %s END) + %s "
        f"WHERE key = %s RETURNING next_free_at"
    )
    for _attempt in range(2):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [now, now, span, key])
            row = cursor.fetchone()
        if row is not None:
            return float(row[0]) - span
        try:
            with transaction.atomic():
                RateLimit.objects.create(key=key, next_free_at=0.0)
        except IntegrityError:
            pass  # another worker created it first
    raise RuntimeError(f"rate limit {key!r} could not be reserved")


class Limiter:
    """Hands out sending times for one batch under one or more limits (key, rate)."""

    def __init__(
        self,
        limits: list[tuple[str, float | None]],
        should_stop: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits = [(key, float(rate)) for key, rate in limits if rate and rate > 0]
        self.clock = clock
        self.should_stop = should_stop
        self._pause = threading.Event()
        self._slots: list[list[float]] = [[] for _ in self.limits]

    def __bool__(self) -> bool:
        return bool(self.limits)

    def next_slot(self, remaining: int) -> float:
        """The time the next message may leave (reserving more slots when needed)."""
        start = 0.0
        for i, (key, rate) in enumerate(self.limits):
            slots = self._slots[i]
            if not slots:
                count = max(1, min(remaining, math.ceil(rate * RESERVE_SECONDS)))
                first = reserve(key, rate, count, self.clock())
                slots.extend(first + n / rate for n in range(count))
            start = max(start, slots.pop(0))
        return start

    def wait(self, remaining: int, budget_until: float) -> bool:
        """Wait for the next slot; False when it lies past the budget or a stop came.

        A slot the worker came too late for (a slow answer, a pause) is given up, not
        used in a burst: sending late ones back to back would crowd another worker's
        slots into the same second.
        """
        tolerance = min(1 / rate for _key, rate in self.limits)
        slot = self.next_slot(remaining)
        while self.clock() - slot > tolerance:
            slot = self.next_slot(remaining)
        if slot > budget_until:
            return False
        while (delay := slot - self.clock()) > 0:
            if self.should_stop():
                return False
            self._pause.wait(min(delay, 0.2))
        return not self.should_stop()
