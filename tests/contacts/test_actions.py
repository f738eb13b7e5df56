"""Creating contacts: validation before anything is saved, normalisation, inference."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils.translation import override

from kasatka.contacts.actions import ConsentGrant, consent_states, create_contact, withdraw_consent
from kasatka.contacts.models import (
    Address,
    AddressKind,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
)

pytestmark = pytest.mark.django_db


def test_an_invalid_email_is_refused_with_a_clear_error_and_nothing_is_saved(shop):
    with pytest.raises(ValidationError) as caught:
        create_contact(shop, first_name="Анна", phones=["+7 916 123-45-67"],
                       emails=["anna@@example"],
                       consents=[ConsentGrant("email")])
    assert "emails" in caught.value.message_dict
    assert "anna@@example" in caught.value.message_dict["emails"][0]
    assert Contact.objects.count() == Address.objects.count() == Consent.objects.count() == 0


def test_an_invalid_phone_is_refused_and_nothing_is_saved(shop):
    with pytest.raises(ValidationError) as caught, override("en"):
        create_contact(shop, first_name="Анна", phones=["+7 123"], emails=["anna@example.com"])
    assert "not a valid phone number" in caught.value.message_dict["phones"][0]
    assert Contact.objects.count() == Address.objects.count() == 0


def test_both_bad_fields_are_reported_at_once(shop):
    with pytest.raises(ValidationError) as caught:
        create_contact(shop, first_name="Анна", phones=["абв"], emails=["нет"])
    assert set(caught.value.message_dict) >= {"phones", "emails"}


def test_a_bad_time_zone_is_refused(shop):
    with pytest.raises(ValidationError) as caught:
        create_contact(shop, first_name="Анна", time_zone="Mars/Olympus")
    assert "time_zone" in caught.value.message_dict


def test_a_seller_of_another_business_cannot_own_the_contact(shop, charlie):
    with pytest.raises(ValidationError) as caught:
        create_contact(shop, first_name="Анна", owner=charlie)
    assert "owner" in caught.value.message_dict


def test_phones_are_stored_in_e164_and_emails_normalised(shop):
    c = create_contact(shop, first_name="Анна", phones=["8 (916) 123-45-67"],
                       emails=["Anna.Ivanova@Example.COM"])
    values = dict(c.addresses.values_list("kind", "value"))
    assert values[AddressKind.PHONE] == "+79161234567"
    assert values[AddressKind.EMAIL] == "Anna.Ivanova@example.com"


def test_time_zone_is_inferred_from_a_phone_with_one_zone(shop):
    c = create_contact(shop, first_name="Игорь", phones=["+7 383 222-33-44"])  # Novosibirsk
    assert c.time_zone == "Asia/Novosibirsk"


@pytest.mark.parametrize(
    ("first", "patronymic", "gender"),
    [("Анна", "Сергеевна", "female"), ("Иван", "Петрович", "male"), ("Саша", "Игоревна", "female"),
     ("Женя", "", "")],
)
def test_gender_is_inferred_when_not_given(shop, first, patronymic, gender):
    c = create_contact(shop, first_name=first, patronymic=patronymic)
    assert c.gender == gender


def test_a_given_gender_is_kept(shop):
    c = create_contact(shop, first_name="Саша", gender="male")
    assert c.gender == "male"


def test_consent_history_is_append_only_and_the_newest_entry_wins(shop):
    c = create_contact(shop, first_name="Анна", emails=["a@example.com"],
                       consents=[ConsentGrant("email", Purpose.COMMERCIAL, ConsentBasis.FORM)])
    assert consent_states([c.pk])[(c.pk, "email", Purpose.COMMERCIAL)] == ConsentStatus.GRANTED
    withdraw_consent(c, "email", ConsentBasis.VERBAL, "phoned the shop")
    assert consent_states([c.pk])[(c.pk, "email", Purpose.COMMERCIAL)] == ConsentStatus.WITHDRAWN
    first = Consent.objects.order_by("id").first()
    assert first is not None
    first.status = ConsentStatus.WITHDRAWN
    with pytest.raises(ValueError, match="append-only"):
        first.save()
    assert Consent.objects.count() == 2


def test_deploy_checks_warn_about_http_links_and_the_dev_key(settings):
    from django.core.checks import run_checks

    settings.KASATKA_BASE_URL = "http://shop.example"
    ids = {m.id for m in run_checks(include_deployment_checks=True)}
    assert {"kasatka.W001", "kasatka.W002"} <= ids
    settings.KASATKA_BASE_URL = "https://shop.example"
    settings.SECRET_KEY = "a-real-secret-" + "x" * 40
    ids = {m.id for m in run_checks(include_deployment_checks=True)}
    assert not {"kasatka.W001", "kasatka.W002"} & ids


def test_validation_messages_are_translated(shop):
    with pytest.raises(ValidationError) as caught, override("ru"):
        create_contact(shop, first_name="Анна", phones=["+7 123"])
    message = caught.value.message_dict["phones"][0]
    assert "+7 123" in message
    assert "phone number" not in message
