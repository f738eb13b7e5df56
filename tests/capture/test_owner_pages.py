"""The owner's pages of capture forms: made by the owner and the head of sales, with the
snippet to paste; nobody else's forms are reachable."""

from __future__ import annotations

import pytest

from kasatka.capture.models import CaptureForm

pytestmark = pytest.mark.django_db


def test_the_owner_makes_a_form_and_gets_its_snippet(client, shop, owner, settings):
    settings.KASATKA_BASE_URL = "https://crm.kedr.example"
    client.force_login(owner)
    answer = client.post("/capture/", {
        "name": "Кухни", "default_source": "Сайт", "consent_text": "Согласен на письма.",
        "allowed_origins": "https://kedr.example/\nhttps://kuhni.kedr.example",
        "channels": ["email", "messengers"], "is_active": "on",
    })
    form = CaptureForm.objects.get(business=shop)
    assert answer.status_code == 302 and answer["Location"] == f"/capture/f/{form.pk}/"
    assert form.channel_keys == ["email", "messengers"]
    assert form.origins == {"https://kedr.example", "https://kuhni.kedr.example"}
    page = client.get(f"/capture/f/{form.pk}/").content.decode()
    # The snippet is shown as text to copy, with absolute addresses.
    assert f"action=&quot;https://crm.kedr.example/capture/{form.token}/&quot;" in page
    assert "https://crm.kedr.example/static/capture/embed.js" in page
    assert 'value=&quot;messengers&quot;' in page and 'value=&quot;sms&quot;' not in page


def test_an_origin_with_a_path_is_refused(client, shop, owner):
    client.force_login(owner)
    answer = client.post("/capture/", {"name": "Кухни", "allowed_origins": "https://a.example/x",
                                       "is_active": "on"})
    assert answer.status_code == 400
    assert not CaptureForm.objects.exists()


def test_the_head_of_sales_edits_a_form(client, shop, head):
    form = CaptureForm.objects.create(business=shop, name="Старая")
    client.force_login(head)
    answer = client.post(f"/capture/f/{form.pk}/", {"name": "Новая", "channels": ["sms"]})
    assert answer.status_code == 302
    form.refresh_from_db()
    assert (form.name, form.channels, form.is_active) == ("Новая", "sms", False)


@pytest.mark.parametrize("persona", ["alice", "marketer"])
def test_sellers_and_marketers_may_not(client, shop, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/capture/").status_code == 403


def test_another_business_s_form_is_404(client, shop, other_shop, charlie, owner):
    theirs = CaptureForm.objects.create(business=other_shop, name="Их")
    client.force_login(owner)
    assert client.get(f"/capture/f/{theirs.pk}/").status_code == 404
    assert client.get("/capture/").content.decode().count("Их") == 0
