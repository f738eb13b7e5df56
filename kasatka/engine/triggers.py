"""Time-based triggers: what becomes due by the clock alone, not by a chain's step.

A lead's conversion window ends; a regular client lapses. The worker runs these every
KASATKA_ENGINE["TRIGGER_SECONDS"]; each trigger is idempotent (running it twice in a row
does nothing the second time), so several workers may run them without harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from django.db import InterfaceError, OperationalError

log = logging.getLogger("kasatka.engine")

Trigger = Callable[[datetime], int]


def _registered() -> list[tuple[str, Trigger]]:
    # Imported here: the triggers live with the models they act on.
    from kasatka.capture.actions import purge_expired_answers
    from kasatka.channels.email.imap import fetch_all_replies
    from kasatka.deals.nudging import nudge_stuck_deals
    from kasatka.insights.lapse import detect_lapses
    from kasatka.sales.conversion import close_expired_windows

    return [
        ("lead conversion windows", close_expired_windows),
        ("lapsed clients", detect_lapses),
        ("e-mail replies", fetch_all_replies),
        ("stuck deals", nudge_stuck_deals),
        ("lead capture's kept answers", purge_expired_answers),
    ]


def run_triggers(now: datetime) -> dict[str, int]:
    """Run every trigger once; returns how many things each acted on."""
    done: dict[str, int] = {}
    for name, trigger in _registered():
        try:
            done[name] = trigger(now)
        except (OperationalError, InterfaceError):
            raise  # the database went away: the worker's loop waits and reconnects
        except Exception:
            # A bug in one trigger must not stop delivery, nor the other triggers: it is
            # logged with its traceback and tried again on the next round.
            log.exception("trigger %s failed", name)
            done[name] = 0
            continue
        if done[name]:
            log.info("trigger %s: %s", name, done[name])
    return done
