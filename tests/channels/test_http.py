"""The HTTP choke point against a real local HTTP server."""

from __future__ import annotations

import email.utils

import httpx
import pytest

from kasatka.channels import http
from kasatka.channels.base import DeliveryError, DeliveryUncertain
from tests.smtp import free_port

from .provider_server import Answer


def post(url: str) -> httpx.Request:
    return httpx.Request("POST", url + "/send", data={"to": "79161234567", "msg": "Привет"})


def test_an_answer_is_returned_with_the_request_delivered(server):
    s = server(Answer(200, {"status": "OK"}))
    response = http.send(post(s.url), idempotent=False)
    assert response.json() == {"status": "OK"}
    assert s.requests[0].form == {"to": ["79161234567"], "msg": ["Привет"]}


def test_a_provider_error_in_a_4xx_is_left_to_the_channel(server):
    s = server(Answer(400, {"error": "invalid number"}))
    assert http.send(post(s.url), idempotent=False).status_code == 400


def test_a_server_error_is_transient(server):
    s = server(Answer(503, "maintenance"))
    with pytest.raises(DeliveryError) as caught:
        http.send(post(s.url), idempotent=False)
    assert not caught.value.permanent
    assert "503" in caught.value.message


@pytest.mark.parametrize("header", ["7", "date"])
def test_429_is_transient_and_carries_retry_after(server, header):
    if header == "date":
        header = email.utils.formatdate(usegmt=True)  # now: retry at once
        expected = 0.0
    else:
        expected = 7.0
    s = server(Answer(429, "slow down", {"Retry-After": header}))
    with pytest.raises(DeliveryError) as caught:
        http.send(post(s.url), idempotent=False)
    assert not caught.value.permanent
    assert caught.value.retry_after == pytest.approx(expected, abs=1.5)


def test_nobody_listening_is_transient():
    request = post(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(DeliveryError) as caught:
        http.send(request, idempotent=False)
    assert not caught.value.permanent
    assert "cannot connect" in caught.value.message


def test_a_lost_answer_is_uncertain_unless_the_provider_dedupes(server, monkeypatch):
    monkeypatch.setattr(http, "_client", httpx.Client(timeout=httpx.Timeout(0.3)))
    s = server(Answer(200, "late", delay=1.0))
    with pytest.raises(DeliveryUncertain):
        http.send(post(s.url), idempotent=False)
    with pytest.raises(DeliveryError) as caught:
        http.send(post(s.url), idempotent=True)
    assert not caught.value.permanent


def test_retry_after_reads_both_forms():
    assert http.retry_after_seconds("120") == 120
    assert http.retry_after_seconds(None) is None
    assert http.retry_after_seconds("soon") is None
    later = email.utils.formatdate(1_000_060, usegmt=True)
    assert http.retry_after_seconds(later, now=1_000_000) == 60
