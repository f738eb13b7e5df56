"""Double opt-in: e-mail consent from a form waits for the contact's click on a mailed link,
through a real SMTP server."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from kasatka.accounts.models import sending_rules
from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.contacts import suppression
from kasatka.contacts.actions import (
    ConsentGrant,
    consent_states,
    create_contact,
    record_consent,
    set_address_state,
    withdraw_consent,
)
from kasatka.contacts.models import (
    AddressKind,
    AddressState,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
)
from kasatka.contacts.unsubscribe import make_confirm_token
from kasatka.engine.worker import EngineConfig, Worker
from kasatka.sales.intake import create_lead
from tests import builders

pytestmark = pytest.mark.django_db

ANNA = "anna@example.com"


@pytest.fixture
def opt_in(shop, settings):
    settings.KASATKA_BASE_URL = "https://kasatka.example"
    rules = sending_rules(shop)
    rules.double_opt_in = True
    rules.save()
    return rules


def commercial_email(contact) -> str | None:
    return consent_states([contact.pk]).get((contact.pk, "email", Purpose.COMMERCIAL))


def link_in(message) -> str:
    body = message.get_body(("plain",)).get_content()
    [url] = re.findall(r"https://kasatka\.example/c/\S+/", body)
    return urlsplit(url).path


def leave_lead(client, django_capture_on_commit_callbacks, **fields):
    data = {"name": "Анна Иванова", "email": ANNA, "consent": ["email"], **fields}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/lead/kedr/", data)
    assert response.status_code == 200, response.content.decode()[-2000:]
    return Contact.objects.get(addresses__value=ANNA)


def test_the_lead_form_consent_waits_for_the_link_in_the_mail(
    client, shop, clock, smtp, opt_in, django_capture_on_commit_callbacks
):
    anna = leave_lead(client, django_capture_on_commit_callbacks)

    assert commercial_email(anna) == ConsentStatus.PENDING
    [mail] = smtp.messages
    assert mail["To"] == ANNA and "Кедр" in mail["From"]
    path = link_in(mail)

    # Until confirmed, no offer goes by e-mail (nor by the lead-conversion chain's).
    warming = builders.chain(shop, name="Прогрев")
    enroll(anna, warming, clock.now())
    Worker(EngineConfig(), clock=clock).run_batch()
    assert Touch.objects.get(enrollment__chain=warming).status == TouchStatus.SKIPPED
    assert not [m for m in smtp.messages if "новость №1" in m["Subject"]]

    page = client.get(path)  # a link scanner, or the contact looking first
    assert page.status_code == 200 and page.context["outcome"] == ""
    assert commercial_email(anna) == ConsentStatus.PENDING

    done = client.post(path)

    assert done.status_code == 200 and done.context["confirmed"]
    assert commercial_email(anna) == ConsentStatus.GRANTED
    confirmed = anna.consents.order_by("-id").first()
    assert confirmed.basis == ConsentBasis.CONFIRMED
    assert client.post(path).context["outcome"] == "already"
    assert anna.consents.filter(basis=ConsentBasis.CONFIRMED).count() == 1

    clock.advance(timedelta(days=1))
    news = builders.chain(shop, name="Новинки")
    enroll(anna, news, clock.now())
    Worker(EngineConfig(), clock=clock).run_batch()
    assert Touch.objects.get(enrollment__chain=news).status == TouchStatus.SENT
    assert [m["To"] for m in smtp.messages if "новость №1" in m["Subject"]] == [ANNA]


def test_without_double_opt_in_the_form_consent_counts_at_once(
    client, shop, smtp, django_capture_on_commit_callbacks
):
    anna = leave_lead(client, django_capture_on_commit_callbacks)
    assert commercial_email(anna) == ConsentStatus.GRANTED
    assert smtp.messages == []


def test_consent_given_in_person_or_on_other_channels_is_not_held(
    shop, clock, opt_in, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        anna = builders.contact(shop, consent=("email",))  # at a visit
        lead = create_lead(shop, name="Борис", phone="+79161234567", email="boris@example.com",
                           consent=["sms"], at=clock.now()).contact
    assert commercial_email(anna) == ConsentStatus.GRANTED
    states = consent_states([lead.pk])
    assert states[(lead.pk, "sms", Purpose.COMMERCIAL)] == ConsentStatus.GRANTED
    assert smtp.messages == []


def test_the_api_basis_is_held_too_and_created_contacts_get_their_mail(
    shop, opt_in, smtp, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        anna = create_contact(shop, first_name="Анна", emails=[ANNA],
                              consents=[ConsentGrant("email", basis=ConsentBasis.API)])
    assert commercial_email(anna) == ConsentStatus.PENDING
    assert len(smtp.messages) == 1


def test_a_form_sent_again_neither_mails_twice_in_a_day_nor_undoes_a_confirmation(
    shop, clock, opt_in, smtp, django_capture_on_commit_callbacks
):
    def form_again():
        with django_capture_on_commit_callbacks(execute=True):
            create_lead(shop, name="Анна", email=ANNA, consent=["email"], at=clock.now())

    form_again()
    form_again()
    assert len(smtp.messages) == 1
    clock.advance(timedelta(days=2))
    form_again()
    assert len(smtp.messages) == 2, "a day later the contact may ask for the link again"

    anna = Contact.objects.get()
    pending = anna.consents.order_by("-id").first()
    assert record_consent(anna, "email", Purpose.COMMERCIAL, ConsentStatus.GRANTED,
                          ConsentBasis.CONFIRMED).status == ConsentStatus.GRANTED
    form_again()
    assert commercial_email(anna) == ConsentStatus.GRANTED
    assert len(smtp.messages) == 2
    assert anna.consents.filter(pk__gt=pending.pk).count() == 1


def test_confirming_lifts_a_withdrawal_on_the_list(
    client, shop, clock, opt_in, smtp, django_capture_on_commit_callbacks
):
    old = builders.contact(shop)
    withdraw_consent(old, "email", ConsentBasis.UNSUBSCRIBE, "touch t1-1")
    row = suppression.active_suppression_for(shop.pk, AddressKind.EMAIL, ANNA)

    anna = leave_lead(client, django_capture_on_commit_callbacks)
    assert anna == old
    row.refresh_from_db()
    assert row.is_active, "a form alone is not the contact's word under double opt-in"

    client.post(link_in(smtp.messages[0]))

    row.refresh_from_db()
    assert not row.is_active and ": confirmed" in row.lift_reason


def test_no_confirmation_goes_to_a_bounced_address(
    shop, clock, opt_in, smtp, django_capture_on_commit_callbacks
):
    old = builders.contact(shop, consent=())
    set_address_state([old.addresses.get().pk], AddressState.BOUNCED, "550 no such user")
    with django_capture_on_commit_callbacks(execute=True):
        create_lead(shop, name="Анна", email=ANNA, consent=["email"], at=clock.now())
    assert commercial_email(old) == ConsentStatus.PENDING
    assert smtp.messages == []


def test_an_old_or_overtaken_link_confirms_nothing(client, shop, clock, opt_in, settings):
    settings.KASATKA_CONFIRM_DAYS = 7
    anna = builders.contact(shop, consent=())
    pending = record_consent(anna, "email", Purpose.COMMERCIAL, ConsentStatus.GRANTED,
                             ConsentBasis.FORM)
    assert pending.status == ConsentStatus.PENDING
    path = f"/c/{make_confirm_token(pending.pk, anna.pk)}/"

    clock.advance(timedelta(days=8))
    assert client.post(path).context["outcome"] == "expired"
    assert commercial_email(anna) == ConsentStatus.PENDING

    withdraw_consent(anna, "email", ConsentBasis.UNSUBSCRIBE)
    assert client.post(path).context["outcome"] == "superseded"
    assert commercial_email(anna) == ConsentStatus.WITHDRAWN


def test_forged_confirmation_links_confirm_no_one(client, shop, clock, opt_in):
    anna = builders.contact(shop, consent=())
    boris = builders.contact(shop, email="boris@example.com", first_name="Борис", consent=())
    mine = record_consent(anna, "email", Purpose.COMMERCIAL, ConsentStatus.GRANTED,
                          ConsentBasis.FORM)
    his = record_consent(boris, "email", Purpose.COMMERCIAL, ConsentStatus.GRANTED,
                         ConsentBasis.FORM)
    token = make_confirm_token(mine.pk, anna.pk)
    payload, _sep, signature = token.rpartition(":")
    before = Consent.objects.count()
    for forged in (
        f"{his.pk}.{anna.pk}:{signature}",          # another consent under my signature
        f"{his.pk}.{boris.pk}:{signature}",
        make_confirm_token(his.pk, anna.pk),        # signed, but not Anna's consent
        token[:-2],
        f"{payload}:",
    ):
        assert client.get(f"/c/{forged}/").status_code == 404, forged
        assert client.post(f"/c/{forged}/").status_code == 404, forged
    assert client.post(f"/c/{token.replace(':', ':x')}/").status_code == 404
    assert Consent.objects.count() == before
    assert commercial_email(boris) == ConsentStatus.PENDING
