"""The unsubscribe link and RFC 8058 one-click POST, end to end through a real SMTP server."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.contacts.actions import consent_states
from kasatka.contacts.models import ConsentBasis, ConsentStatus, Purpose
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def first_email(shop, clock, smtp, settings):
    """Anna got the first commercial e-mail of a two-step chain; returns (anna, its link)."""
    settings.KASATKA_BASE_URL = "https://kasatka.example"
    anna = builders.contact(shop)
    enroll(anna, builders.chain(shop, steps=[{}, {}]))
    Worker(EngineConfig(), clock=clock).run_batch()
    [message] = smtp.messages
    link = message["List-Unsubscribe"].strip().strip("<>")
    assert link.startswith("https://kasatka.example/u/")
    return anna, urlsplit(link).path


def send_next(clock, smtp) -> Touch:
    clock.advance(timedelta(days=3))
    Worker(EngineConfig(), clock=clock).run_batch()
    return Touch.objects.order_by("-id").first()


def commercial_email_state(anna) -> str | None:
    return consent_states([anna.pk]).get((anna.pk, "email", Purpose.COMMERCIAL))


def test_the_link_asks_first_then_records_the_withdrawal(client, first_email, clock, smtp):
    anna, path = first_email
    page = client.get(path)
    assert page.status_code == 200
    assert "Кедр" in page.content.decode()
    assert commercial_email_state(anna) == ConsentStatus.GRANTED  # a GET changes nothing

    done = client.post(path, {"scope": "channel"})
    assert done.status_code == 200
    assert commercial_email_state(anna) == ConsentStatus.WITHDRAWN
    consent = anna.consents.order_by("-id").first()
    assert consent.basis == ConsentBasis.UNSUBSCRIBE
    assert consent.source.startswith("touch t")
    assert Touch.objects.get().status == TouchStatus.UNSUBSCRIBED

    skipped = send_next(clock, smtp)
    assert skipped.status == TouchStatus.SKIPPED
    assert len(smtp.messages) == 1  # the next commercial e-mail did not go


def test_one_click_post_records_the_withdrawal_without_a_page(client, first_email, clock, smtp):
    anna, path = first_email
    response = client.post(
        path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert commercial_email_state(anna) == ConsentStatus.WITHDRAWN
    assert anna.consents.order_by("-id").first().basis == ConsentBasis.ONE_CLICK
    send_next(clock, smtp)
    assert len(smtp.messages) == 1


def test_stop_everything_withdraws_every_channel_and_purpose(client, first_email):
    anna, path = first_email
    client.post(path, {"scope": "all"})
    states = consent_states([anna.pk])
    assert states[(anna.pk, "call", Purpose.COMMERCIAL)] == ConsentStatus.WITHDRAWN
    assert states[(anna.pk, "email", Purpose.INFORMATIONAL)] == ConsentStatus.WITHDRAWN


def test_a_forged_link_is_refused_and_records_nothing(client, first_email):
    anna, path = first_email
    forged = path.replace("/u/", "/u/x")
    assert client.post(forged, {"scope": "all"}).status_code == 404
    assert commercial_email_state(anna) == ConsentStatus.GRANTED


def test_a_token_names_its_contact_and_touch_and_resists_tampering():
    from django.core import signing

    from kasatka.contacts.unsubscribe import make_token, read_token

    token = make_token(42, "email", "t7-3")
    data = read_token(token)
    assert (data.contact_id, data.channel, data.touch_key) == (42, "email", "t7-3")
    for forged in (token.replace("42.", "43.", 1), token[:-2], "42.email.t7-3", ""):
        with pytest.raises(signing.BadSignature):
            read_token(forged)
