"""The preference page behind the unsubscribe link: channels × purposes, "from everything",
one-click, and tokens that cannot reach anyone else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.binding import make_bind_token
from kasatka.contacts import suppression
from kasatka.contacts.actions import consent_states, record_consent, withdraw_consent
from kasatka.contacts.models import (
    AddressKind,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Purpose,
    Suppression,
    SuppressionReason,
)
from kasatka.contacts.unsubscribe import make_confirm_token, make_token
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders

pytestmark = pytest.mark.django_db

ANNA = "anna@example.com"


@pytest.fixture
def anna(shop, clock):
    """Offers by e-mail and calls, a phone too; nothing said about service messages."""
    return builders.contact(shop, phone="+79161234567")


def page(anna, channel: str = "email", touch_key: str = "") -> str:
    return f"/u/{make_token(anna.pk, channel, touch_key)}/"


def state(contact, channel: str, purpose: str) -> str | None:
    return consent_states([contact.pk]).get((contact.pk, channel, purpose))


def grid(response) -> dict[str, list[bool]]:
    return {row["channel"]: [c["on"] for c in row["cells"]] for row in response.context["rows"]}


def everything_recorded() -> tuple[int, int]:
    return Consent.objects.count(), Suppression.objects.count()


def test_the_page_shows_each_channel_and_purpose_as_they_stand_and_changes_nothing(
    client, anna
):
    withdraw_consent(anna, "call", ConsentBasis.VERBAL, "asked not to call")
    before = everything_recorded()

    response = client.get(page(anna))

    assert response.status_code == 200
    # [offers, service messages]; e-mail and phone channels, as she has those addresses.
    shown = grid(response)
    assert shown == {"email": [True, True], "sms": [False, True], "call": [False, True]}
    assert everything_recorded() == before


def test_unticking_offers_withdraws_them_and_keeps_service_messages(client, anna):
    cells = ["email:commercial", "email:informational", "call:commercial", "call:informational"]
    response = client.post(page(anna, touch_key="t9-1"), {
        "scope": "preferences", "shown": cells,
        "email:informational": "on", "call:commercial": "on", "call:informational": "on",
    })

    assert response.status_code == 200 and response.context["saved"]
    assert state(anna, "email", Purpose.COMMERCIAL) == ConsentStatus.WITHDRAWN
    assert anna.consents.order_by("-id").first().basis == ConsentBasis.PREFERENCES
    assert state(anna, "email", Purpose.INFORMATIONAL) is None, "nothing changed: no entry"
    assert state(anna, "call", Purpose.COMMERCIAL) == ConsentStatus.GRANTED
    assert grid(response)["email"] == [False, True]
    address = suppression.active_suppression_for(anna.business_id, AddressKind.EMAIL, ANNA)
    assert address.reason == SuppressionReason.WITHDRAWN


def test_service_messages_go_on_after_offers_are_withdrawn(client, anna, shop, clock, smtp):
    client.post(page(anna), {"scope": "preferences",
                             "shown": ["email:commercial", "email:informational"],
                             "email:informational": "on"})
    offers = builders.chain(shop, name="Акции")
    news = builders.chain(shop, [{"is_commercial": False, "body_template": "Заказ готов"}],
                          name="Заказы")
    enroll(anna, offers, clock.now())
    enroll(anna, news, clock.now())
    Worker(EngineConfig(), clock=clock).run_batch()

    touches = {t.enrollment.chain.name: t.status for t in Touch.objects.select_related(
        "enrollment__chain")}
    assert touches == {"Акции": TouchStatus.SKIPPED, "Заказы": TouchStatus.SENT}
    [message] = smtp.messages
    assert "Заказ готов" in message.get_body(("plain",)).get_content()


def test_the_contact_may_tick_a_box_back_and_that_lifts_the_withdrawal(client, anna):
    withdraw_consent(anna, "email", ConsentBasis.ONE_CLICK, "touch t1-1")
    row = suppression.active_suppression_for(anna.business_id, AddressKind.EMAIL, ANNA)

    client.post(page(anna), {"scope": "preferences",
                             "shown": ["email:commercial", "email:informational"],
                             "email:commercial": "on", "email:informational": "on"})

    assert state(anna, "email", Purpose.COMMERCIAL) == ConsentStatus.GRANTED
    row.refresh_from_db()
    assert not row.is_active and ": preferences" in row.lift_reason


def test_from_everything_withdraws_all_and_suppresses_the_contact(
    client, anna, shop, clock, smtp
):
    response = client.post(page(anna), {"scope": "all"})

    assert response.status_code == 200 and response.context["everything"]
    states = consent_states([anna.pk])
    assert all(s == ConsentStatus.WITHDRAWN for s in states.values()) and len(states) == 16
    assert suppression.active_contact_suppression(anna).reason == SuppressionReason.WITHDRAWN
    enroll(anna, builders.chain(shop, [{"is_commercial": False}]), clock.now())
    Worker(EngineConfig(), clock=clock).run_batch()
    assert Touch.objects.get().status == TouchStatus.SKIPPED
    assert smtp.messages == []


def test_one_click_withdraws_offers_on_the_links_channel_only(client, anna):
    response = client.post(page(anna, "email"), "List-Unsubscribe=One-Click",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and response.content == b""
    assert state(anna, "email", Purpose.COMMERCIAL) == ConsentStatus.WITHDRAWN
    assert state(anna, "email", Purpose.INFORMATIONAL) is None
    assert state(anna, "call", Purpose.COMMERCIAL) == ConsentStatus.GRANTED


def test_the_page_speaks_the_contacts_language(client, anna):
    anna.language = "en"
    anna.save()
    assert "What we may write to you about" in client.get(page(anna)).content.decode()


def test_a_pending_consent_shows_as_waiting(client, shop):
    lead = builders.contact(shop, consent=())
    record_consent(lead, "email", Purpose.COMMERCIAL, ConsentStatus.PENDING, ConsentBasis.FORM)
    cells = client.get(page(lead)).context["rows"][0]["cells"]
    assert [(c["on"], c["pending"]) for c in cells] == [(False, True), (True, False)]


# --- a token for one contact can never change another ------------------------------------


@pytest.fixture
def boris(shop, clock):
    return builders.contact(shop, email="boris@example.com", first_name="Борис")


def forged_tokens(anna, boris, other_contact) -> list[str]:
    good = make_token(anna.pk, "email", "t1-1")
    payload, _sep, signature = good.rpartition(":")
    with override_settings(SECRET_KEY="another-installation-" + "x" * 40):
        other_install = make_token(boris.pk, "email")
    return [
        good.replace(f"{anna.pk}.", f"{boris.pk}.", 1),           # another contact, same sig
        f"{boris.pk}.email.t1-1:{signature}",
        good[:-3],                                                 # cut
        good + "x",                                                # lengthened
        f"{payload}:",                                             # no signature
        other_install,                                             # another secret
        make_token(boris.pk, "pigeon"),                            # no such channel
        make_bind_token(other_contact.business_id, other_contact.pk),  # other kinds of link
        make_confirm_token(1, boris.pk),
        "",
    ]


@pytest.mark.parametrize("data", [
    {"scope": "all"}, {"scope": "channel"},
    {"scope": "preferences", "shown": ["email:commercial", "email:informational"]},
])
def test_forged_or_mangled_tokens_change_no_one(client, anna, boris, other_shop, data):
    other = builders.contact(other_shop, email="carl@example.com", first_name="Карл")
    before = everything_recorded()
    for token in forged_tokens(anna, boris, other):
        if not token:
            continue
        assert client.get(f"/u/{token}/").status_code == 404, token
        response = client.post(f"/u/{token}/", data)
        assert response.status_code == 404, token
        assert "web/unsubscribe_invalid.html" in [t.name for t in response.templates]
        one_click = client.post(f"/u/{token}/", "List-Unsubscribe=One-Click",
                                content_type="application/x-www-form-urlencoded")
        assert one_click.status_code == 404, token
    assert everything_recorded() == before


def test_a_token_changes_only_its_own_contact_even_in_another_business(
    client, anna, other_shop
):
    carl = builders.contact(other_shop, email=ANNA, first_name="Карл")  # the same mailbox
    response = client.post(page(carl), {"scope": "all"})
    assert response.status_code == 200
    assert suppression.active_contact_suppression(carl) is not None
    assert suppression.active_contact_suppression(anna) is None
    assert state(anna, "email", Purpose.COMMERCIAL) == ConsentStatus.GRANTED
    # The address is suppressed in the other business only: lists are per business.
    assert suppression.active_suppression_for(anna.business_id, AddressKind.EMAIL, ANNA) is None


def test_a_token_of_a_deleted_contact_is_invalid(client, anna):
    path = page(anna)
    anna.delete()
    assert client.post(path, {"scope": "all"}).status_code == 404


def test_a_page_open_across_clock_changes_still_records_once_per_change(client, anna, clock):
    # Saving the same choice twice records the change once: only differences are written.
    data = {"scope": "preferences", "shown": ["email:commercial"]}
    client.post(page(anna), data)
    clock.advance(timedelta(minutes=5))
    client.post(page(anna), data)
    assert anna.consents.filter(basis=ConsentBasis.PREFERENCES).count() == 1
