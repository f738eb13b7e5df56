"""While a seller types a phone or an e-mail on the visit form, the contacts already known."""

from __future__ import annotations

import pytest

from kasatka.contacts.models import Address
from tests import builders

pytestmark = pytest.mark.django_db

URL = "/contacts/duplicates/"


def ask(client, **params):
    response = client.get(URL, params, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.context["duplicates"] if response.context else []


def test_the_url_is_the_reserved_one():
    from django.urls import reverse

    assert reverse("web:contact_duplicates") == URL


def test_a_seller_finds_her_client_by_the_phone_in_any_spelling(client, alice, shop):
    anna = builders.contact(shop, phone="+79161234567", owner=alice)
    client.force_login(alice)
    for spelling in ("+7 (916) 123-45-67", "89161234567", "8 916 123 45 67"):
        [found] = ask(client, phone=spelling, email="")
        assert (found.contact, found.visible) == (anna, True)
        assert (found.phone, found.email) == ("+79161234567", "anna@example.com")
    html = client.get(URL, {"phone": "+7 916 123-45-67"}).content.decode()
    assert f'href="/contacts/{anna.pk}/"' in html and "data-fill-contact" in html
    assert "Иванова Анна Сергеевна" in html and "+7 916 123-45-67" in html


def test_by_email_too_and_this_is_them_fills_only_what_was_not_typed(client, alice, shop):
    anna = builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)
    client.force_login(alice)
    [found] = ask(client, phone="", email="anna@example.com")
    assert found.contact == anna
    # Nothing typed in the phone box: "this is them" puts hers there; the e-mail was typed.
    assert (found.fill_phone, found.fill_email) == ("+79161234567", "")
    # A new phone the client just gave is kept: the server adds it to her card.
    [found] = ask(client, phone="+7 926 000-00-01", email="anna@example.com")
    assert (found.fill_phone, found.fill_email) == ("", "")


def test_an_e_mail_in_capitals_finds_her(client, alice, shop):
    anna = builders.contact(shop, email="anna@example.com", owner=alice)
    client.force_login(alice)
    [found] = ask(client, email="Anna@EXAMPLE.com")
    assert found.contact == anna


def test_phone_and_email_of_one_contact_show_her_once(client, alice, shop):
    builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)
    client.force_login(alice)
    assert len(ask(client, phone="89161234567", email="anna@example.com")) == 1


def test_another_sellers_client_is_named_without_anything_else(client, alice, bob, shop):
    boris_client = builders.contact(shop, email="vera@example.com", phone="+79161112233",
                                    owner=bob, first_name="Вера", last_name="Кузнецова",
                                    patronymic="")
    client.force_login(alice)
    [found] = ask(client, phone="+79161112233")
    assert (found.contact, found.visible) == (boris_client, False)
    html = client.get(URL, {"phone": "+79161112233"}).content.decode()
    assert "Кузнецова Вера" in html and "Борис Смирнов" in html  # who, and whose client
    # …but no card link, no phone, no e-mail, no id, no "this is them".
    for secret in (f"/contacts/{boris_client.pk}/", "1112233", "111-22-33", "vera@example.com",
                   "data-fill-contact", f'"{boris_client.pk}"'):
        assert secret not in html


def test_an_unassigned_lead_is_the_sellers_to_see(client, alice, shop):
    lead = builders.contact(shop, phone="+79161234567", owner=None)
    client.force_login(alice)
    [found] = ask(client, phone="+79161234567")
    assert (found.contact, found.visible) == (lead, True)


def test_the_owner_sees_every_sellers_client(client, owner, bob, shop):
    theirs = builders.contact(shop, phone="+79161234567", owner=bob)
    client.force_login(owner)
    [found] = ask(client, phone="+79161234567")
    assert (found.contact, found.visible) == (theirs, True)


def test_another_business_is_never_shown(client, alice, charlie, shop, other_shop):
    builders.contact(other_shop, phone="+79161234567", email="anna@example.com", owner=charlie)
    client.force_login(alice)
    assert ask(client, phone="+79161234567", email="anna@example.com") == []
    response = client.get(URL, {"phone": "+79161234567", "email": "anna@example.com"})
    assert response.content == b""  # nothing at all, so that the box under the phone hides


def test_a_marketer_records_no_visits_so_asks_nothing(client, marketer, shop):
    builders.contact(shop, phone="+79161234567")
    client.force_login(marketer)
    assert client.get(URL, {"phone": "+79161234567"}).status_code == 403


def test_it_needs_a_login(client):
    response = client.get(URL, {"phone": "+79161234567"})
    assert response.status_code == 302 and "/login/" in response["Location"]


@pytest.mark.parametrize("params", [
    {"phone": "+7 (916"},  # half typed
    {"phone": "abc"},
    {"phone": "+"},
    {"phone": "1" * 5000},
    {"phone": "\x00\ufffd"},
    {"email": "anna@"},
    {"email": "@" * 400},
    {"phone": "", "email": ""},
    {},
])
def test_what_is_not_yet_an_address_finds_nothing_and_breaks_nothing(client, alice, shop, params):
    builders.contact(shop, phone="+79161234567", owner=alice)
    client.force_login(alice)
    assert ask(client, **params) == []


def test_the_queries_do_not_grow_with_the_matches(
    client, alice, shop, django_assert_num_queries
):
    client.force_login(alice)
    builders.contact(shop, phone="+79161234567", email="anna@example.com", owner=alice)
    ask(client, phone="+79161234567")  # warm the session and the user
    # The session, the user, her business, the contacts, their addresses.
    with django_assert_num_queries(5):
        assert len(ask(client, phone="+79161234567", email="anna@example.com")) == 1
    for i in range(4):
        c = builders.contact(shop, email=f"x{i}@example.com", owner=alice)
        Address.objects.create(business=shop, contact=c, kind="phone", value="+79161234567")
    with django_assert_num_queries(5):
        assert len(ask(client, phone="+79161234567", email="anna@example.com")) == 5
    with django_assert_num_queries(3):  # not an address yet: no query for contacts at all
        assert ask(client, phone="+7 (916) 12") == []


def test_a_hostile_name_is_shown_as_text(client, alice, bob, shop):
    hostile = '<script>alert(1)</script>"'
    builders.contact(shop, phone="+79161234567", owner=alice, first_name=hostile)
    builders.contact(shop, email="x@example.com", owner=bob, first_name=hostile)
    client.force_login(alice)
    html = client.get(URL, {"phone": "+79161234567", "email": "x@example.com"}).content.decode()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert html.count("&lt;script&gt;") >= 3  # the link, the button's data-name, the other's
