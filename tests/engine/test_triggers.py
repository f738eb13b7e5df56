"""The time-based triggers the worker runs: one failing never stops the others or delivery."""

from __future__ import annotations

import logging

import pytest
from django.db import OperationalError

from kasatka.engine import triggers

pytestmark = pytest.mark.django_db


def test_a_failing_trigger_is_logged_and_the_others_still_run(monkeypatch, clock, caplog):
    ran: list[str] = []

    def broken(now):
        raise ValueError("a bug")

    def fine(now):
        ran.append("fine")
        return 2

    monkeypatch.setattr(triggers, "_registered", lambda: [("broken", broken), ("fine", fine)])
    with caplog.at_level(logging.ERROR, logger="kasatka.engine"):
        done = triggers.run_triggers(clock.now())
    assert done == {"broken": 0, "fine": 2}
    assert ran == ["fine"]
    assert "trigger broken failed" in caplog.text


def test_a_lost_database_is_left_to_the_workers_reconnect(monkeypatch, clock):
    def gone(now):
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(triggers, "_registered", lambda: [("gone", gone)])
    with pytest.raises(OperationalError):
        triggers.run_triggers(clock.now())


def test_the_real_triggers_run_on_an_empty_database(clock):
    assert triggers.run_triggers(clock.now()) == {
        "lead conversion windows": 0, "lapsed clients": 0, "stuck deals": 0,
        "e-mail replies": 0, "lead capture's kept answers": 0,
    }
