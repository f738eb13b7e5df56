"""The inbox: a public form's lead is kept at once and handed to the intake by the task
worker; a lead that fails there is kept with its error and tried again, never lost."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from kasatka.capture.actions import process_inbox
from kasatka.capture.models import CaptureForm, LeadInbox
from kasatka.contacts.models import Contact

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def deferred(settings):
    settings.KASATKA_CAPTURE = {**settings.KASATKA_CAPTURE, "DEFER": True,
                                "PER_IP_PER_MINUTE": 0, "INBOX_ATTEMPTS": 3}


@pytest.fixture
def form(shop) -> CaptureForm:
    return CaptureForm.objects.create(business=shop, name="Сайт", channels="email,sms")


def _post(client, form, data):
    return client.post(f"/capture/{form.token}/", json.dumps(data),
                       content_type="application/json")


@pytest.mark.django_db(transaction=True)  # the task worker closes its connections
def test_the_lead_is_kept_at_once_and_becomes_a_contact_when_the_worker_sweeps(
    client, shop, form
):
    answer = _post(client, form, {"name": "Анна Петрова", "phone": "8 916 123-45-67",
                                  "consent": ["sms"]})
    assert answer.status_code == 200
    row = LeadInbox.objects.get()
    assert row.processed_at is None
    assert not Contact.objects.filter(business=shop).exists()

    call_command("tasks", "--once")  # what the task worker's sweep does every second

    row.refresh_from_db()
    assert row.processed_at is not None and row.error == ""
    contact = Contact.objects.get(business=shop)
    assert row.contact == contact
    assert contact.last_name == "Петрова"
    assert contact.addresses.get(kind="phone").value == "+79161234567"
    assert process_inbox() == 0  # handled once


def test_what_the_intake_refuses_needs_no_worker_to_be_told(client, shop, form):
    answer = _post(client, form, {"name": "Анна", "phone": "12"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "phone"
    assert not LeadInbox.objects.exists()


def test_a_lead_that_fails_is_kept_with_its_error_and_tried_again_then_set_aside(shop, form):
    broken = LeadInbox.objects.create(
        business=shop, form=form, submission={"phone": "+79161234567", "unknown": 1},
        received_at=form.created_at,
    )
    good = LeadInbox.objects.create(
        business=shop, form=form, submission={"phone": "+79167654321"},
        received_at=form.created_at,
    )
    assert process_inbox() == 1  # the good one; the broken one does not stop it
    broken.refresh_from_db()
    assert broken.processed_at is None and broken.attempts == 1
    assert "unknown" in broken.error
    assert LeadInbox.objects.get(pk=good.pk).contact is not None
    process_inbox()
    process_inbox()
    broken.refresh_from_db()
    assert broken.attempts == 3  # the setting: set aside, kept for the owner to see
    process_inbox()
    assert LeadInbox.objects.get(pk=broken.pk).attempts == 3
