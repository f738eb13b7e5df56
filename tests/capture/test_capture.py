"""The public lead endpoint: idempotent retries, the honeypot, rate limits, problems with
the field, the consent text kept, UTM attribution, CORS, plain HTML posts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client

from kasatka.capture.actions import purge_expired_answers
from kasatka.capture.models import CaptureForm, ConsentText
from kasatka.contacts.models import Address, Consent, Contact
from kasatka.sales.models import LeadSource
from tests.capture.conftest import kept_answers

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("capture_mode")]

SITE = "https://kedr-mebel.example"


@pytest.fixture(autouse=True)
def no_ip_limit(settings):
    """Every test posts from 127.0.0.1: the per-IP limit is tested on its own."""
    settings.KASATKA_CAPTURE = {**settings.KASATKA_CAPTURE, "PER_IP_PER_MINUTE": 0}


@pytest.fixture
def form(shop, clock) -> CaptureForm:
    return CaptureForm.objects.create(
        business=shop, name="Кухни", default_source="Сайт",
        consent_text="Я согласен получать письма и SMS от «Кедра». " * 12,
        channels="email,sms",
    )


def post_json(client: Client, form: CaptureForm, data: dict, **headers: str):
    return client.post(
        f"/capture/{form.token}/", json.dumps(data), content_type="application/json",
        headers=headers,
    )


LEAD = {"name": "Анна Иванова", "phone": "8 (916) 123-45-67", "consent": ["email", "sms"]}


def contacts_with(shop, phone: str = "+79161234567"):
    return Contact.objects.filter(
        business=shop, addresses__kind="phone", addresses__value=phone
    ).distinct()


def test_the_same_lead_posted_five_times_with_one_key_makes_one_contact(client, shop, form):
    answers = [post_json(client, form, LEAD, **{"Idempotency-Key": "lead-1"}) for _ in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json()["ok"] is True
    assert contacts_with(shop).count() == 1
    # One consent entry per channel: the retries recorded nothing again.
    assert Consent.objects.filter(business=shop).count() == 2
    assert kept_answers("lead-1") == 1


def test_the_same_key_with_another_lead_is_refused(client, shop, form):
    assert post_json(client, form, LEAD, **{"Idempotency-Key": "k"}).status_code == 200
    other = post_json(client, form, {**LEAD, "phone": "+79160000001"}, **{"Idempotency-Key": "k"})
    assert other.status_code == 422
    assert other["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]
    assert not contacts_with(shop, "+79160000001").exists()


def test_a_kept_answer_expires_after_the_setting(client, shop, form, clock, settings):
    settings.KASATKA_CAPTURE = {**settings.KASATKA_CAPTURE, "IDEMPOTENCY_HOURS": 2}
    post_json(client, form, LEAD, **{"Idempotency-Key": "k"})
    clock.advance(timedelta(hours=3))
    # Expired: the key is free for a new request, which is processed (and merges).
    again = post_json(client, form, {**LEAD, "email": "anna@example.com"},
                      **{"Idempotency-Key": "k"})
    assert again.status_code == 200
    assert Address.objects.filter(business=shop, value="anna@example.com").exists()
    clock.advance(timedelta(hours=3))
    assert purge_expired_answers() == 1
    assert kept_answers("k") == 0


def test_a_repeated_lead_merges_into_the_contact(client, shop, form):
    post_json(client, form, LEAD)
    post_json(client, form, {"name": "Анна", "phone": "+7 916 123 45 67",
                             "email": "anna@example.com"})
    assert contacts_with(shop).count() == 1
    assert Contact.objects.filter(business=shop).count() == 1
    assert Address.objects.filter(business=shop, value="anna@example.com").exists()


def test_a_filled_honeypot_is_thanked_and_counted_but_nothing_is_stored(client, shop, form):
    real = post_json(client, form, {**LEAD, "phone": "+79160000002"})
    bot = post_json(client, form, {**LEAD, "website": "http://spam.example"})
    assert bot.status_code == real.status_code == 200
    assert bot.json() == real.json()
    assert not contacts_with(shop).exists()
    form.refresh_from_db()
    assert form.trapped == 1


def test_too_many_posts_get_429_with_retry_after(client, shop, form, settings):
    settings.KASATKA_CAPTURE = {**settings.KASATKA_CAPTURE, "PER_IP_PER_MINUTE": 2,
                                "PER_IP_BURST": 2}
    codes = [post_json(client, form, {**LEAD, "phone": f"+7916000000{i}"}).status_code
             for i in range(3)]
    assert codes == [200, 200, 429]
    refused = post_json(client, form, LEAD)
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert refused.json()["type"].endswith("rate-limited")
    assert contacts_with(shop).count() == 0
    # A plain form post gets a page, with the same header.
    page = client.post(f"/capture/{form.token}/", {"phone": "+79160000009"})
    assert page.status_code == 429 and int(page["Retry-After"]) >= 1


def test_a_form_has_its_own_limit_whatever_the_address(client, shop, form, settings):
    settings.KASATKA_CAPTURE = {**settings.KASATKA_CAPTURE, "PER_FORM_PER_MINUTE": 1,
                                "PER_FORM_BURST": 1}
    assert post_json(client, form, LEAD).status_code == 200
    other_ip = client.post(f"/capture/{form.token}/", json.dumps(LEAD),
                           content_type="application/json", REMOTE_ADDR="10.0.0.9")
    assert other_ip.status_code == 429


def test_a_bad_phone_is_a_problem_on_the_phone_field(client, shop, form):
    answer = post_json(client, form, {"name": "Анна", "phone": "12"})
    assert answer.status_code == 422
    assert answer["Content-Type"] == "application/problem+json"
    body = answer.json()
    assert body["status"] == 422
    assert [e["field"] for e in body["errors"]] == ["phone"]
    assert body["errors"][0]["reason"]
    assert not Contact.objects.filter(business=shop).exists()


def test_no_phone_and_no_email_is_refused_on_the_phone_field(client, shop, form):
    answer = post_json(client, form, {"name": "Анна"})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "phone"


def test_a_box_the_form_does_not_offer_is_refused(client, shop, form):
    answer = post_json(client, form, {**LEAD, "consent": ["call"]})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "consent"


def test_the_consent_text_shown_is_kept_with_the_consent(client, shop, form):
    shown = "Согласен на рассылку по e-mail и SMS. Отписаться можно в любой момент. " * 10
    post_json(client, form, {**LEAD, "consent_text": shown})
    contact = contacts_with(shop).get()
    entries = Consent.objects.filter(contact=contact)
    assert sorted(entries.values_list("channel", flat=True)) == ["email", "sms"]
    kept = ConsentText.objects.get(business=shop)
    assert kept.text == shown.strip()
    for entry in entries:
        assert "Кухни" in entry.source
        assert kept.digest[:12] in entry.source
        assert "Согласен на рассылку" in entry.source


def test_utm_tags_attribute_the_lead_to_a_source(client, shop, form):
    post_json(client, form, {**LEAD, "utm_source": "yandex", "utm_medium": "cpc",
                             "utm_campaign": "kitchens"})
    assert contacts_with(shop).get().source.name == "yandex / cpc / kitchens"


def test_utm_tags_come_from_the_page_the_form_was_on(client, shop, form):
    post_json(client, form, {**LEAD, "page_url": "https://kedr.example/kuhni?utm_source=vk"
                                                 "&utm_medium=post&utm_campaign=spring"})
    assert contacts_with(shop).get().source.name == "vk / post / spring"


def test_without_utm_the_form_s_default_source_is_used(client, shop, form):
    post_json(client, form, LEAD)
    assert contacts_with(shop).get().source.name == "Сайт"
    assert LeadSource.objects.filter(business=shop, name="Сайт").count() == 1


def test_a_cors_preflight_lets_any_site_post_when_the_form_names_none(client, form):
    answer = client.options(
        f"/capture/{form.token}/", headers={
            "Origin": SITE, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,idempotency-key",
        },
    )
    assert answer.status_code == 204
    assert answer["Access-Control-Allow-Origin"] == "*"
    assert "POST" in answer["Access-Control-Allow-Methods"]
    allowed = answer["Access-Control-Allow-Headers"].lower()
    assert "idempotency-key" in allowed and "content-type" in allowed
    assert "Access-Control-Allow-Credentials" not in answer


def test_a_form_with_allowed_sites_answers_only_them(client, shop, form):
    form.allowed_origins = SITE
    form.save()
    ok = client.options(f"/capture/{form.token}/", headers={"Origin": SITE})
    assert ok["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in ok["Vary"]
    foreign = client.options(f"/capture/{form.token}/", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in foreign
    refused = post_json(client, form, LEAD, Origin="https://evil.example")
    assert refused.status_code == 403
    assert not contacts_with(shop).exists()
    accepted = post_json(client, form, LEAD, Origin=SITE)
    assert accepted.status_code == 200
    assert accepted["Access-Control-Allow-Origin"] == SITE


def test_a_plain_html_post_gets_the_thank_you_page_or_the_redirect(client, shop, form):
    page = client.post(f"/capture/{form.token}/", {
        "name": "Анна", "phone": "+79161234567", "consent": ["email"], "website": "",
    })
    assert page.status_code == 200
    assert b'id="capture-thanks"' in page.content
    assert contacts_with(shop).count() == 1
    form.thank_you_url = "https://kedr.example/spasibo"
    form.save()
    moved = client.post(f"/capture/{form.token}/", {"phone": "+79161234568"})
    assert moved.status_code == 303
    assert moved["Location"] == "https://kedr.example/spasibo"


def test_a_plain_html_post_with_a_bad_phone_shows_the_form_again(client, shop, form):
    page = client.post(f"/capture/{form.token}/", {"name": "Анна", "phone": "12"})
    assert page.status_code == 422
    text = page.content.decode()
    assert 'data-error-for="phone"' in text
    assert 'value="Анна"' in text


def test_the_business_slug_answers_with_its_default_form(client, shop):
    assert post_json_slug(client, "kedr", LEAD).status_code == 200
    assert post_json_slug(client, "kedr", {**LEAD, "phone": "+79160000003"}).status_code == 200
    assert CaptureForm.objects.filter(business=shop, is_default=True).count() == 1
    assert contacts_with(shop).count() == 1


def post_json_slug(client: Client, slug: str, data: dict):
    return client.post(f"/capture/{slug}/", json.dumps(data), content_type="application/json")


def test_an_unknown_or_inactive_form_is_404(client, shop, form):
    assert post_json_slug(client, "no-such-form", LEAD).status_code == 404
    form.is_active = False
    form.save()
    assert post_json(client, form, LEAD).status_code == 404
    assert client.get(f"/capture/{form.token}/").status_code == 404


def test_the_form_s_own_page_shows_the_form(client, form):
    page = client.get(f"/capture/{form.token}/")
    assert page.status_code == 200
    assert b"data-kasatka-capture" in page.content
    assert b'name="website"' in page.content


def test_a_body_that_is_not_json_is_a_problem(client, form):
    answer = client.post(f"/capture/{form.token}/", "{nope", content_type="application/json")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "request"
