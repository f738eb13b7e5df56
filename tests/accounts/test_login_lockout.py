"""Guessing passwords is slowed down: after a few failures the account is locked for a while."""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, username: str, password: str, ip: str = "203.0.113.7"):
    return client.post(
        "/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(
    client, alice, settings
):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        assert _sign_in(client, "alice", "guess").status_code == 200  # the form, with an error
    locked = _sign_in(client, "alice", "guess")  # the fifth failure locks
    assert locked.status_code == 429
    assert "15" in locked.content.decode()  # the page says how long to wait
    right = _sign_in(client, "alice", "pw-Kasatka-1")
    assert right.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lock_ends_after_the_cool_off_time(client, alice):
    for _ in range(5):
        _sign_in(client, "alice", "guess")
    assert _sign_in(client, "alice", "pw-Kasatka-1").status_code == 429
    # Fifteen minutes pass (axes reads the wall clock: move the attempts back instead).
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=16)
        attempt.save(update_fields=["attempt_time"])
    response = _sign_in(client, "alice", "pw-Kasatka-1")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_the_lock_is_per_user_name_and_address(client, alice, bob):
    """A guesser at Alice's account does not lock Bob out, nor Alice at another address."""
    for _ in range(5):
        _sign_in(client, "alice", "guess")
    assert _sign_in(Client(), "bob", "pw-Kasatka-1").status_code == 302
    assert _sign_in(Client(), "alice", "pw-Kasatka-1", ip="198.51.100.9").status_code == 302


def test_a_success_resets_the_count(client, alice):
    for _ in range(4):
        _sign_in(client, "alice", "guess")
    assert _sign_in(client, "alice", "pw-Kasatka-1").status_code == 302
    client.logout()
    for _ in range(4):
        assert _sign_in(client, "alice", "guess").status_code == 200
    assert _sign_in(client, "alice", "pw-Kasatka-1").status_code == 302


def test_the_limit_is_a_setting(client, alice, settings):
    settings.AXES_FAILURE_LIMIT = 2
    _sign_in(client, "alice", "guess")
    assert _sign_in(client, "alice", "guess").status_code == 429
