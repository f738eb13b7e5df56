"""The API's foundation: keys found by prefix and hash, problem details, rate limits."""

from __future__ import annotations

import pytest
from django.test import Client

from kasatka.api.keys import find_key, issue_key, revoke_key
from kasatka.api.models import ApiKey, Scope
from kasatka.api.ratelimit import take

pytestmark = pytest.mark.django_db


def test_a_key_is_stored_hashed_and_found_by_its_plain_text(shop, owner):
    issued = issue_key(shop, "till", Scope.WRITE, owner)
    row = ApiKey.objects.get(pk=issued.key.pk)
    assert issued.plain not in {row.hashed, row.prefix, row.name}
    assert issued.plain.split("_", 2)[2] not in row.hashed  # the secret may hold "_"
    assert find_key(issued.plain) == row
    assert find_key(issued.plain[:-1] + ("A" if issued.plain[-1] != "A" else "B")) is None
    revoke_key(row)
    assert find_key(issued.plain) is None


def test_the_key_is_sent_either_way_and_a_bad_one_gets_a_problem(shop, owner):
    issued = issue_key(shop, "till", Scope.READ, owner)
    client = Client()
    for headers in ({"Authorization": f"Bearer {issued.plain}"}, {"X-API-Key": issued.plain}):
        answer = client.get("/api/v1/keys/me", headers=headers)
        assert answer.status_code == 200, answer.content
        assert answer.json()["business"] == shop.name
    answer = client.get("/api/v1/keys/me", headers={"X-API-Key": "ksk_nope_nope"})
    assert answer.status_code == 401
    assert answer["Content-Type"] == "application/problem+json"
    assert answer.json()["status"] == 401
    assert ApiKey.objects.get(pk=issued.key.pk).last_used_at is not None


def test_the_rate_limit_lets_a_burst_through_then_says_how_long_to_wait():
    now = 1_000_000.0
    allowed = [take("api:test", per_minute=60, burst=3, now=now) for _ in range(3)]
    assert allowed == [0.0, 0.0, 0.0]
    wait = take("api:test", per_minute=60, burst=3, now=now)
    assert 0.9 < wait <= 1.0  # one request a second: the next slot is a second away
    assert take("api:test", per_minute=60, burst=3, now=now + wait) == 0.0


def test_over_the_limit_the_api_answers_429_with_retry_after(shop, owner, settings):
    settings.KASATKA_API = {"RATE_PER_MINUTE": 2, "BURST": 1}
    issued = issue_key(shop, "till", Scope.READ, owner)
    client = Client(headers={"X-API-Key": issued.plain})
    assert client.get("/api/v1/keys/me").status_code == 200
    answer = client.get("/api/v1/keys/me")
    assert answer.status_code == 429
    assert int(answer["Retry-After"]) >= 1
    assert answer.json()["type"].endswith("rate-limited")
