"""The SMS length shown in the step's admin, before anything is sent."""

from __future__ import annotations

import html

import pytest
from django.test import Client

from kasatka.accounts.models import User
from kasatka.channels.models import ProviderAccount
from tests import builders

# What the step below renders to for the admin's sample contact (Анна Сергеевна).
SMS_BODY = (
    "{{ contact.greeting }}! Новая коллекция уже в салоне: диваны, кресла и столы "
    "со скидкой 20% до воскресенья. {{ business.name }}"
)
RENDERED = (
    "Уважаемая Анна Сергеевна! Новая коллекция уже в салоне: диваны, кресла и столы "
    "со скидкой 20% до воскресенья. Мебель «Кедр»"
)


@pytest.fixture
def admin_client(db) -> Client:
    User.objects.create_superuser("root", "root@example.com", "pw-Kasatka-1")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(User.objects.get(username="root"))
    return client


def sms_account(shop, provider: str, options: dict, active: bool = True) -> ProviderAccount:
    account = ProviderAccount(
        business=shop, channel="sms", provider=provider, options=options, is_active=active
    )
    account.set_secrets({})
    account.save()
    return account


def change_page(client: Client, chain) -> str:
    response = client.get(f"/admin/chains/chain/{chain.pk}/change/")
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_step_admin_shows_encoding_length_messages_and_sender(shop, admin_client):
    sms_account(shop, "smsru", {"sender": "Old"}, active=False)
    sms_account(shop, "smsc", {"sender": "Kedr"})
    chain = builders.chain(shop, [{"channels": ["sms"], "body_template": SMS_BODY}])
    page = change_page(admin_client, chain)
    assert len(RENDERED) == 123  # Cyrillic: UCS-2, more than 70 → parts of 67
    assert "UCS-2 (Cyrillic), 123 characters, 2 SMS; sender: Kedr" in page
    assert RENDERED in page


def test_a_latin_text_is_gsm7_and_twilio_sends_from_its_number(shop, admin_client):
    sms_account(shop, "twilio", {"from": "+15017122661"})
    body = "Hello from {{ business.website or 'Kedr' }}: sofas -20% {till} Sunday."
    chain = builders.chain(shop, [{"channels": ["sms"], "body_template": body}])
    page = change_page(admin_client, chain)
    # 42 letters; the braces, from the extension table, count two each.
    assert "GSM-7, 44 characters, 1 SMS; sender: +15017122661" in page


def test_without_an_sms_account_the_provider_default_sender_is_named(shop, admin_client):
    chain = builders.chain(shop, [{"channels": ["sms"], "body_template": "Скидка 😀"}])
    page = change_page(admin_client, chain)
    assert "UCS-2 (Cyrillic), 9 characters, 1 SMS; sender: the provider's default" in page


def test_an_emoji_alone_names_itself_as_the_reason_for_ucs2(shop, admin_client):
    chain = builders.chain(shop, [{"channels": ["sms"], "body_template": "Sale 😀"}])
    page = change_page(admin_client, chain)
    assert "UCS-2 (because of “😀”), 7 characters, 1 SMS" in page


def test_a_step_not_sent_by_sms_says_so(shop, admin_client):
    chain = builders.chain(shop, [{"channels": ["email"]}])
    page = change_page(admin_client, chain)
    assert "This step is not sent by SMS." in page
    assert "characters," not in page
