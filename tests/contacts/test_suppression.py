"""The suppression list: what sets an entry, what it stops, what lifts it, and the admin."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import translation

from kasatka.chains.actions import enroll
from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.base import StatusEvent
from kasatka.channels.binding import make_bind_token
from kasatka.channels.inbound import apply_events
from kasatka.contacts import suppression
from kasatka.contacts.actions import (
    ConsentGrant,
    consent_states,
    create_contact,
    record_consent,
    set_address_state,
    withdraw_consent,
    withdraw_everything,
)
from kasatka.contacts.models import (
    Address,
    AddressKind,
    AddressState,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
    Suppression,
    SuppressionReason,
)
from kasatka.contacts.suppression import ConsentRefused
from kasatka.engine.worker import EngineConfig, Worker
from kasatka.sales.imports import import_purchases
from kasatka.sales.intake import create_lead
from tests import builders
from tests.channels.conftest import server  # noqa: F401  (a fixture)
from tests.channels.contract import World
from tests.channels.sms import test_smsc as smsc
from tests.channels.telegram import updates
from tests.channels.telegram.conftest import bot  # noqa: F401  (a fixture)
from tests.smtp import SMTPServer

pytestmark = pytest.mark.django_db

ANNA = "anna@example.com"


def active(shop, value: str) -> Suppression | None:
    kind = AddressKind.EMAIL if "@" in value else AddressKind.PHONE
    return suppression.active_suppression_for(shop.pk, kind, value)


def run_worker(clock) -> None:
    Worker(EngineConfig.from_settings(), clock=clock).run(once=True)


# --- the list itself -----------------------------------------------------------------------


def test_suppressing_an_address_twice_keeps_one_active_row(shop):
    first = suppression.suppress_address(shop.pk, AddressKind.EMAIL, ANNA,
                                         SuppressionReason.MANUAL, "asked by phone")
    again = suppression.suppress_address(shop.pk, AddressKind.EMAIL, ANNA,
                                         SuppressionReason.BOUNCED, "550")
    assert again.pk == first.pk and again.reason == SuppressionReason.MANUAL
    assert Suppression.objects.count() == 1


def test_a_bounce_takes_over_from_a_withdrawal_on_the_same_address(shop):
    withdrawn = suppression.suppress_address(shop.pk, AddressKind.EMAIL, ANNA,
                                             SuppressionReason.WITHDRAWN)
    bounced = suppression.suppress_address(shop.pk, AddressKind.EMAIL, ANNA,
                                           SuppressionReason.BOUNCED, "550 no such user")
    withdrawn.refresh_from_db()
    assert not withdrawn.is_active and withdrawn.lift_reason == "superseded: bounced"
    assert active(shop, ANNA) == bounced and suppression.blocks_sending(bounced)
    # …and a later withdrawal does not soften it back.
    suppression.suppress_address(shop.pk, AddressKind.EMAIL, ANNA, SuppressionReason.WITHDRAWN)
    assert active(shop, ANNA) == bounced


def test_suppressing_a_contact_is_idempotent_and_a_lift_says_why_and_by_whom(shop, owner):
    anna = builders.contact(shop)
    row = suppression.suppress_contact(anna, SuppressionReason.MANUAL, "court order", by=owner)
    assert suppression.suppress_contact(anna, SuppressionReason.WITHDRAWN).pk == row.pk
    assert suppression.lift(row, "lifted by staff", by=owner)
    assert not suppression.lift(row, "twice")
    row.refresh_from_db()
    assert row.lift_reason == "lifted by staff (olga)" and row.lifted_at is not None
    assert suppression.active_contact_suppression(anna) is None


# --- what sets an entry --------------------------------------------------------------------


def test_a_bounce_at_the_real_smtp_server_suppresses_the_address(shop, clock, settings):
    mail = SMTPServer(reject={ANNA: "550 5.1.1 No such user"}).start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", mail.port
    try:
        anna = builders.contact(shop)
        enroll(anna, builders.chain(shop))
        run_worker(clock)
    finally:
        mail.stop()
    row = active(shop, ANNA)
    assert row is not None and row.reason == SuppressionReason.BOUNCED
    assert "No such user" in row.note
    assert suppression.blocks_sending(row)


def test_an_address_set_blocked_is_suppressed_blocked(shop):
    anna = builders.contact(shop)
    address = anna.addresses.get()
    set_address_state([address.pk], AddressState.BLOCKED, "blocked the bot")
    assert active(shop, ANNA).reason == SuppressionReason.BLOCKED
    set_address_state([address.pk], AddressState.ACTIVE, "fixed by hand")
    assert active(shop, ANNA) is not None, "a state set back is no proof: staff lift it"


def test_a_chat_that_blocked_the_bot_is_suppressed_until_it_binds_again(
    shop, clock, server, bot  # noqa: F811
):
    anna = builders.contact(shop, consent=())
    account = bot()
    updates.post(account, updates.message(f"/start {make_bind_token(shop.pk, anna.pk)}"))
    updates.post(account, updates.member("kicked"))
    row = suppression.active_suppression_for(shop.pk, AddressKind.TELEGRAM, updates.CHAT)
    assert row is not None and row.reason == SuppressionReason.BLOCKED

    updates.post(account, updates.message(f"/start {make_bind_token(shop.pk, anna.pk)}"))

    row.refresh_from_db()
    assert not row.is_active and row.lift_reason == "bound again by the contact"


def test_a_spam_complaint_suppresses_the_address_and_nothing_more_goes_there(
    shop, clock, server, settings  # noqa: F811
):
    settings.KASATKA_BASE_URL = "http://testserver"
    contract = smsc.TestSmscContract()
    world = World(contract, shop, clock)
    provider = server(contract.success(), contract.success())
    touch = world.send(provider)
    assert touch.status == TouchStatus.SENT

    outcome = apply_events(world.account, [
        StatusEvent(touch.provider_message_id, TouchStatus.COMPLAINED, "reported as spam")
    ])

    assert outcome == [TouchStatus.COMPLAINED]
    row = active(shop, smsc.NUMBER)
    assert row.reason == SuppressionReason.COMPLAINED and row.note == "reported as spam"
    clock.advance(timedelta(days=2))
    enroll(world.contact, builders.chain(shop, [{"channels": ["sms"], "is_commercial": False,
                                                 "body_template": "Заказ готов"}]))
    run_worker(clock)
    later = Touch.objects.filter(contact=world.contact).order_by("-id").first()
    assert later.status == TouchStatus.SKIPPED
    assert len(provider.requests) == 1


def test_withdrawing_offers_protects_the_address_without_stopping_service_messages(shop):
    anna = builders.contact(shop)
    withdraw_consent(anna, "email", ConsentBasis.UNSUBSCRIBE, "touch t1-1")
    row = active(shop, ANNA)
    assert row.reason == SuppressionReason.WITHDRAWN and f"#{anna.pk}" in row.note
    assert not suppression.blocks_sending(row)
    assert suppression.active_contact_suppression(anna) is None


def test_withdrawing_everything_suppresses_the_contact_and_its_addresses(shop):
    anna = builders.contact(shop, phone="+79161234567")
    withdraw_everything(anna, ConsentBasis.UNSUBSCRIBE, "touch t1-1")
    own = suppression.active_contact_suppression(anna)
    assert own is not None and own.reason == SuppressionReason.WITHDRAWN
    assert suppression.blocks_sending(own)
    assert active(shop, ANNA).reason == SuppressionReason.WITHDRAWN
    assert active(shop, "+79161234567").reason == SuppressionReason.WITHDRAWN


def test_stop_words_on_one_channel_do_not_suppress_the_whole_contact(shop):
    anna = builders.contact(shop, phone="+79161234567")
    withdraw_consent(anna, "sms", ConsentBasis.REPLY, "sms reply: СТОП", list(Purpose.values))
    assert active(shop, "+79161234567").reason == SuppressionReason.WITHDRAWN
    assert suppression.active_contact_suppression(anna) is None


# --- imports and the API cannot re-subscribe ----------------------------------------------


@pytest.fixture
def english():
    with translation.override("en"):
        yield


def _csv(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def test_an_import_cannot_resubscribe_and_reports_the_row(shop, clock, english):
    anna = builders.contact(shop, consent=())
    record_consent(anna, "email", Purpose.COMMERCIAL, ConsentStatus.GRANTED, ConsentBasis.VISIT)
    withdraw_consent(anna, "email", ConsentBasis.ONE_CLICK, "touch t1-1")

    result = import_purchases(shop, _csv(
        "customer,date,amount,email,phone,name,consent\n"
        f"A-1,2026-01-10,1500,{ANNA},,Иванова Анна,email\n"
        f"A-1,2026-01-20,700,{ANNA},,Иванова Анна,email\n"
        "B-2,2026-01-11,300,boris@example.com,,Смирнов Борис,email sms\n"
    ))

    assert (result.imported, result.bad_rows) == (3, 0), result.errors
    assert result.consents_refused == 1
    [refused] = result.refused_consents
    assert refused.line == 2
    assert ANNA in refused.reason and "withdrew consent" in refused.reason
    assert consent_states([anna.pk])[(anna.pk, "email", Purpose.COMMERCIAL)] == "withdrawn"
    boris = Contact.objects.get(first_name="Борис")
    states = consent_states([boris.pk])
    assert states[(boris.pk, "email", Purpose.COMMERCIAL)] == ConsentStatus.GRANTED
    assert states[(boris.pk, "sms", Purpose.COMMERCIAL)] == ConsentStatus.GRANTED
    assert result.consents_recorded == 2
    assert boris.consents.get(channel="email").basis == ConsentBasis.IMPORT
    # Importing the same file again records nothing twice.
    again = import_purchases(shop, _csv(
        "customer,date,amount,email,consent\nB-2,2026-01-11,300,boris@example.com,email\n"
    ))
    assert (again.consents_recorded, again.duplicates) == (0, 1)


def test_a_reimport_creates_the_contact_but_without_the_consent(shop, clock, english):
    anna = builders.contact(shop)
    withdraw_consent(anna, "email", ConsentBasis.UNSUBSCRIBE, "touch t1-1")
    anna.delete()  # the shop erased her card; the address stays on the list

    result = import_purchases(shop, _csv(
        f"customer,date,amount,email,name,consent\nA-1,2026-01-10,1500,{ANNA},Иванова Анна,email\n"
    ))

    assert (result.imported, result.contacts_created, result.consents_refused) == (1, 1, 1)
    again = Contact.objects.get(addresses__value=ANNA)
    assert not again.consents.exists()


def test_an_unknown_channel_in_the_consent_column_is_a_bad_row(shop, clock, english):
    result = import_purchases(shop, _csv(
        "customer,date,amount,consent\nA-1,2026-01-10,100,email pigeon\n"
    ))
    assert result.bad_rows == 1 and "pigeon" in result.errors[0].reason


def test_an_api_grant_for_a_suppressed_address_saves_nothing(shop, english):
    suppression.suppress_address(shop.pk, AddressKind.EMAIL, ANNA, SuppressionReason.COMPLAINED)
    with pytest.raises(ConsentRefused) as refused:
        create_contact(shop, first_name="Анна", emails=["anna@EXAMPLE.com"],
                       consents=[ConsentGrant("email", basis=ConsentBasis.API)])
    assert "complained" in refused.value.messages[0]
    assert refused.value.suppression.reason == SuppressionReason.COMPLAINED
    assert not Contact.objects.exists()


def test_an_import_cannot_undo_the_contacts_own_withdrawal(shop, english):
    anna = builders.contact(shop)  # no phone: nothing to put on the list
    withdraw_consent(anna, "call", ConsentBasis.VERBAL, "asked not to call")
    assert not Suppression.objects.exists()
    with pytest.raises(ConsentRefused, match="withdrew"):
        record_consent(anna, "call", Purpose.COMMERCIAL, ConsentStatus.GRANTED,
                       ConsentBasis.IMPORT)


# --- what lifts an entry ------------------------------------------------------------------


def test_a_new_form_consent_lifts_withdrawn_and_names_the_consent(shop, clock):
    anna = builders.contact(shop, phone="+79161234567")
    withdraw_everything(anna, ConsentBasis.UNSUBSCRIBE, "touch t1-1")
    row, own = active(shop, ANNA), suppression.active_contact_suppression(anna)

    create_lead(shop, name="Анна Иванова", email=ANNA, consent=["email"], at=clock.now())

    row.refresh_from_db()
    own.refresh_from_db()
    assert not row.is_active and not own.is_active
    granted = anna.consents.get(basis=ConsentBasis.FORM)
    assert row.lift_reason.startswith(f"new consent #{granted.pk}: form")
    assert active(shop, "+79161234567") is not None, "the phone was not given again"
    # Only the e-mail came back: the other channels stay withdrawn in the history.
    states = consent_states([anna.pk])
    assert states[(anna.pk, "email", Purpose.COMMERCIAL)] == ConsentStatus.GRANTED
    assert states[(anna.pk, "sms", Purpose.COMMERCIAL)] == ConsentStatus.WITHDRAWN


def test_a_consent_at_a_visit_lifts_a_complaint_for_a_new_contact_too(shop):
    suppression.suppress_address(shop.pk, AddressKind.EMAIL, ANNA, SuppressionReason.COMPLAINED)
    builders.contact(shop)  # consent given at a visit, with the same address
    assert active(shop, ANNA) is None


def test_a_form_consent_does_not_lift_a_bounce(shop, clock):
    anna = builders.contact(shop)
    set_address_state([anna.addresses.get().pk], AddressState.BOUNCED, "550")
    create_lead(shop, name="Анна", email=ANNA, consent=["email"], at=clock.now())
    assert active(shop, ANNA).reason == SuppressionReason.BOUNCED


def test_a_staff_grant_neither_lifts_nor_is_refused(shop):
    anna = builders.contact(shop, consent=())
    withdraw_everything(anna, ConsentBasis.UNSUBSCRIBE)
    record_consent(anna, "email", Purpose.COMMERCIAL, ConsentStatus.GRANTED, ConsentBasis.STAFF)
    assert active(shop, ANNA) is not None
    assert suppression.active_contact_suppression(anna) is not None


# --- the admin -----------------------------------------------------------------------------


def test_staff_add_find_filter_and_lift_in_the_admin(shop, admin_client, admin_user):
    response = admin_client.post("/admin/contacts/suppression/add/", {
        "business": shop.pk, "kind": "email", "value": " boris@EXAMPLE.com ",
        "reason": "manual", "note": "asked by phone",
    })
    assert response.status_code == 302, response.content.decode()[-3000:]
    added = Suppression.objects.get()
    assert (added.value, added.created_by) == ("boris@example.com", admin_user)
    twice = admin_client.post("/admin/contacts/suppression/add/", {
        "business": shop.pk, "kind": "email", "value": "boris@example.com", "reason": "manual",
    })
    assert twice.status_code == 200 and Suppression.objects.count() == 1
    suppression.suppress_address(shop.pk, AddressKind.EMAIL, ANNA, SuppressionReason.BOUNCED)

    found = admin_client.get("/admin/contacts/suppression/", {"q": "boris"}).content.decode()
    assert "boris@example.com" in found and ANNA not in found
    bounced = admin_client.get("/admin/contacts/suppression/", {"reason": "bounced"})
    assert ANNA in bounced.content.decode()

    admin_client.post("/admin/contacts/suppression/", {
        "action": "lift_selected", "_selected_action": [added.pk],
    })
    added.refresh_from_db()
    assert not added.is_active and added.lift_reason.startswith("lifted by staff")
    in_force = admin_client.get("/admin/contacts/suppression/", {"active": "yes"}).content
    assert ANNA in in_force.decode() and "boris@example.com" not in in_force.decode()


def test_staff_suppress_a_whole_contact_in_the_admin(shop, admin_client):
    anna = builders.contact(shop)
    response = admin_client.post("/admin/contacts/suppression/add/", {
        "business": shop.pk, "contact": anna.pk, "reason": "manual", "note": "court order",
    })
    assert response.status_code == 302
    assert suppression.active_contact_suppression(anna).note == "court order"
    assert Address.objects.filter(contact=anna).exists()
