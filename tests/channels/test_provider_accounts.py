"""Provider secrets: encrypted in the database, masked in the admin, refused if the key changed."""

from __future__ import annotations

import pytest
from django.db import connection

from kasatka.channels.models import ProviderAccount
from kasatka.channels.secrets import mask

pytestmark = pytest.mark.django_db


@pytest.fixture
def smsru(shop):
    account = ProviderAccount(business=shop, channel="sms", provider="smsru", name="SMS.ru",
                              options={"sender": "KEDR"})
    account.set_secrets({"api_id": "A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B"})
    account.save()
    return account


def test_secrets_are_not_stored_in_plain_text(smsru):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secrets_encrypted FROM channels_provideraccount")
        [(stored,)] = cursor.fetchall()
    assert "A3CA597E" not in stored
    assert ProviderAccount.objects.get().secrets == {
        "api_id": "A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B"
    }


def test_secrets_cannot_be_read_with_another_key(smsru, settings):
    settings.KASATKA_ENCRYPTION_KEY = "another key entirely"
    with pytest.raises(ValueError, match="KASATKA_ENCRYPTION_KEY"):
        _ = ProviderAccount.objects.get().secrets


def test_a_secret_is_shown_only_by_its_last_characters():
    assert mask("A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B") == "••••••1A8B"
    assert mask("short") == "•••••"


def test_the_admin_shows_secrets_masked_and_keeps_them_when_left_empty(admin_client, smsru):
    page = admin_client.get(f"/admin/channels/provideraccount/{smsru.pk}/change/")
    content = page.content.decode()
    assert page.status_code == 200
    assert "••••••1A8B" in content
    assert "A3CA597E" not in content
    response = admin_client.post(
        f"/admin/channels/provideraccount/{smsru.pk}/change/",
        {"business": smsru.business_id, "channel": "sms", "provider": "smsru",
         "name": "SMS.ru main", "options": '{"sender": "KEDR"}', "is_active": "on",
         "rate_per_second": "20", "new_secrets": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    smsru.refresh_from_db()
    assert smsru.name == "SMS.ru main"
    assert smsru.secrets["api_id"].endswith("1A8B")


def test_one_active_account_per_channel_and_business(smsru, shop):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ProviderAccount.objects.create(business=shop, channel="sms", provider="smsc")
    ProviderAccount.objects.create(business=shop, channel="sms", provider="smsc",
                                   is_active=False)


def test_the_admin_shows_the_webhook_address_to_give_the_provider(admin_client, smsru):
    from kasatka.channels.binding import hook_key

    page = admin_client.get(f"/admin/channels/provideraccount/{smsru.pk}/change/")
    assert f"/hooks/{smsru.pk}/{hook_key(smsru.pk)}/" in page.content.decode()


@pytest.mark.parametrize(("channel", "provider", "error"), [
    ("sms", "smsru-typo", "Unknown provider"),
    ("telegram", "smsru", "smsru sends sms, not telegram"),
])
def test_the_admin_refuses_a_provider_of_another_channel(admin_client, shop, channel, provider,
                                                        error):
    response = admin_client.post("/admin/channels/provideraccount/add/", {
        "business": shop.pk, "channel": channel, "provider": provider, "name": "x",
        "options": "{}", "is_active": "on", "rate_per_second": "", "new_secrets": "",
    }, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not ProviderAccount.objects.exists()
