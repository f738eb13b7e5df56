"""Provider accounts on the settings pages: the owner alone sets secrets, nobody ever sees
one again, an empty field keeps what is stored."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kasatka.channels.models import ProviderAccount

pytestmark = pytest.mark.django_db

API_ID = "A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B"
NEW_API_ID = "F00DBABE-1111-2222-3333-444455556666"


@pytest.fixture
def smsru(shop):
    account = ProviderAccount(business=shop, channel="sms", provider="smsru", name="SMS.ru",
                              options={"sender": "KEDR", "callback": "on"})
    account.set_secrets({"api_id": API_ID})
    account.save()
    return account


def edit(client, account, **changes):
    data = {"name": account.name, "is_active": "on", "rate_per_second": "",
            "option_sender": "KEDR", "option_api_url": "", "extra_options": ""}
    data.update(changes)
    return client.post(reverse("settings:channel", args=[account.pk]),
                       {k: v for k, v in data.items() if v is not None})


def test_the_owner_connects_a_provider_with_its_secret(client, owner, shop):
    client.force_login(owner)
    assert client.get(reverse("settings:channel_new")).status_code == 200
    url = reverse("settings:channel_new") + "?provider=smsru"
    form = client.get(url).content.decode()
    assert 'name="secret_api_id"' in form and 'name="option_sender"' in form
    response = client.post(url, {
        "name": "SMS.ru", "is_active": "on", "rate_per_second": "20",
        "option_sender": "KEDR", "secret_api_id": API_ID,
    })
    account = ProviderAccount.objects.get(business=shop)
    assert response["Location"] == reverse("settings:channel", args=[account.pk])
    assert (account.channel, account.provider, account.is_active) == ("sms", "smsru", True)
    assert account.options == {"sender": "KEDR"}
    assert account.rate_per_second == 20
    assert account.secrets == {"api_id": API_ID}


def test_an_unknown_provider_is_refused(client, owner):
    client.force_login(owner)
    response = client.get(reverse("settings:channel_new") + "?provider=pigeon")
    assert response.status_code == 400
    assert not ProviderAccount.objects.exists()


def test_the_secret_never_comes_back_to_the_page(client, owner, head, smsru):
    for person in (owner, head):
        client.force_login(person)
        for name, args in (("settings:channel", [smsru.pk]), ("settings:channels", [])):
            page = client.get(reverse(name, args=args)).content.decode()
            assert API_ID not in page
            assert API_ID[:8] not in page
        assert "1A8B" in client.get(reverse("settings:channel", args=[smsru.pk])).content.decode()


def test_the_secret_is_not_echoed_when_the_form_has_an_error(client, owner, smsru):
    client.force_login(owner)
    response = edit(client, smsru, secret_api_id=NEW_API_ID, rate_per_second="-1")
    assert response.status_code == 400
    assert NEW_API_ID not in response.content.decode()
    smsru.refresh_from_db()
    assert smsru.secrets == {"api_id": API_ID}


def test_an_empty_secret_field_keeps_the_stored_secret(client, owner, smsru):
    client.force_login(owner)
    response = edit(client, smsru, name="SMS.ru main", secret_api_id="")
    assert response.status_code == 302
    smsru.refresh_from_db()
    assert smsru.name == "SMS.ru main"
    assert smsru.secrets == {"api_id": API_ID}
    # Options the page has no field for are kept in "other options".
    assert smsru.options == {"sender": "KEDR"}


def test_other_options_are_shown_and_kept(client, owner, smsru):
    client.force_login(owner)
    page = client.get(reverse("settings:channel", args=[smsru.pk])).content.decode()
    assert "callback" in page
    edit(client, smsru, extra_options='{"callback": "on"}', option_api_url="http://127.0.0.1:9")
    smsru.refresh_from_db()
    assert smsru.options == {"sender": "KEDR", "callback": "on", "api_url": "http://127.0.0.1:9"}


def test_the_owner_changes_and_removes_a_secret(client, owner, smsru):
    client.force_login(owner)
    edit(client, smsru, secret_api_id=NEW_API_ID)
    smsru.refresh_from_db()
    assert smsru.secrets == {"api_id": NEW_API_ID}
    assert NEW_API_ID not in client.get(
        reverse("settings:channel", args=[smsru.pk])
    ).content.decode()
    edit(client, smsru, clear_api_id="on")
    smsru.refresh_from_db()
    assert smsru.secrets == {}


def test_the_head_sees_the_secrets_masked_without_fields(client, head, smsru):
    client.force_login(head)
    page = client.get(reverse("settings:channel", args=[smsru.pk])).content.decode()
    assert 'name="secret_api_id"' not in page
    assert "data-masked" in page
    assert "/hooks/" not in page  # the webhook's key is a credential too


def test_the_head_edits_the_account_but_never_its_secrets(client, head, smsru):
    client.force_login(head)
    assert edit(client, smsru, name="SMS.ru (Галина)").status_code == 302
    smsru.refresh_from_db()
    assert smsru.name == "SMS.ru (Галина)" and smsru.secrets == {"api_id": API_ID}

    for sneaked in ({"secret_api_id": NEW_API_ID}, {"clear_api_id": "on"},
                    {"extra_secrets": '{"api_id": "x"}'}):
        response = edit(client, smsru, name="Взлом", **sneaked)
        assert response.status_code == 403
        smsru.refresh_from_db()
        assert smsru.secrets == {"api_id": API_ID} and smsru.name == "SMS.ru (Галина)"


def test_the_head_connects_a_provider_without_secrets(client, head, shop):
    client.force_login(head)
    url = reverse("settings:channel_new") + "?provider=telegram"
    assert 'name="secret_bot_token"' not in client.get(url).content.decode()
    assert client.post(url, {"name": "Бот", "is_active": "on",
                             "secret_bot_token": "123:AA"}).status_code == 403
    assert client.post(url, {"name": "Бот", "is_active": "on",
                             "option_bot_username": "kedr_bot"}).status_code == 302
    account = ProviderAccount.objects.get(business=shop)
    assert account.secrets == {} and account.options == {"bot_username": "kedr_bot"}


def test_one_active_account_per_channel(client, owner, shop, smsru):
    client.force_login(owner)
    url = reverse("settings:channel_new") + "?provider=smsc"
    response = client.post(url, {"name": "SMSC", "is_active": "on", "secret_login": "kedr"})
    assert response.status_code == 400
    assert ProviderAccount.objects.filter(business=shop).count() == 1
    client.post(reverse("settings:channel_deactivate", args=[smsru.pk]))
    smsru.refresh_from_db()
    assert not smsru.is_active
    assert client.post(url, {"name": "SMSC", "is_active": "on",
                             "secret_login": "kedr"}).status_code == 302
    assert ProviderAccount.objects.get(provider="smsc").is_active


def test_imap_options_keep_their_types(client, owner, shop):
    client.force_login(owner)
    url = reverse("settings:channel_new") + "?provider=imap"
    client.post(url, {"name": "Ответы", "is_active": "on", "option_host": "imap.yandex.ru",
                      "option_port": "993", "option_ssl": "false", "option_timeout": "2.5",
                      "secret_password": "app-password"})
    account = ProviderAccount.objects.get(business=shop)
    assert account.options == {"host": "imap.yandex.ru", "port": 993, "ssl": False,
                               "timeout": 2.5}
    assert account.secrets == {"password": "app-password"}


def test_another_businesss_account_is_404(client, owner, other_shop):
    theirs = ProviderAccount(business=other_shop, channel="sms", provider="smsru", name="Их")
    theirs.set_secrets({"api_id": API_ID})
    theirs.save()
    client.force_login(owner)
    assert client.get(reverse("settings:channel", args=[theirs.pk])).status_code == 404
    assert edit(client, theirs, name="Наш").status_code == 404
    assert client.post(reverse("settings:channel_deactivate",
                               args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active and theirs.name == "Их"
    assert "Их" not in client.get(reverse("settings:channels")).content.decode()


def test_the_owner_sees_the_webhook_address(client, owner, smsru):
    client.force_login(owner)
    page = client.get(reverse("settings:channel", args=[smsru.pk])).content.decode()
    assert f"/hooks/{smsru.pk}/" in page


def test_unreadable_secrets_do_not_break_the_page(client, owner, smsru, settings):
    settings.KASATKA_ENCRYPTION_KEY = "another key entirely"
    client.force_login(owner)
    response = client.get(reverse("settings:channel", args=[smsru.pk]))
    assert response.status_code == 200
    assert edit(client, smsru, secret_api_id=NEW_API_ID).status_code == 302
    smsru.refresh_from_db()
    assert smsru.secrets == {"api_id": NEW_API_ID}


def test_a_secret_ending_in_markup_is_shown_as_text(client, owner, smsru):
    smsru.set_secrets({"api_id": "0123456789<b>"})
    smsru.save()
    client.force_login(owner)
    page = client.get(reverse("settings:channel", args=[smsru.pk])).content.decode()
    assert "<b>" not in page
    assert "&lt;b&gt;" in page
