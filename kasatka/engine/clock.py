"""The one clock of Kasatka: real time, time running faster for a demo, or time set by a test."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings


class Clock:
    """Real time, optionally running `speed` times faster from `anchor` (a demo fast-forward)."""

    def __init__(
        self, speed: float = 1.0, anchor: float | None = None, offset: float = 0.0
    ) -> None:
        self.speed = speed
        self.anchor = time.time() if anchor is None else anchor
        self.offset = offset

    def now(self) -> datetime:
        real = time.time()
        virtual = self.anchor + (real - self.anchor) * self.speed + self.offset
        return datetime.fromtimestamp(virtual, tz=UTC)


class ManualClock(Clock):
    """A clock that moves only when told: tests and the simulator."""

    def __init__(self, start: datetime) -> None:
        super().__init__()
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


_clock: Clock | None = None


def get_clock() -> Clock:
    global _clock
    if _clock is None:
        anchor = settings.KASATKA_CLOCK_ANCHOR
        _clock = Clock(
            settings.KASATKA_CLOCK_SPEED,
            float(anchor) if anchor else None,
            settings.KASATKA_CLOCK_OFFSET,
        )
    return _clock


def set_clock(clock: Clock | None) -> None:
    """Install a clock (None: back to the configured one)."""
    global _clock
    _clock = clock


def now() -> datetime:
    return get_clock().now()
