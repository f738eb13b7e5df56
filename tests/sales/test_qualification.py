"""The qualification card (METHOD.md §4): filled at the visit or later, shown on the card."""

from __future__ import annotations

import pytest

from kasatka.contacts.models import NeedsFit, Readiness
from kasatka.sales.models import Visit
from tests import builders

pytestmark = pytest.mark.django_db

CARD = {
    "needs_fit": NeedsFit.FITS,
    "readiness": Readiness.COMPARING,
    "needs": "Кухня 3 м к маю",
    "knows_about_us": "Видела витрину",
    "came_because": "Посоветовала сестра",
}


@pytest.fixture
def anna(shop, alice):
    return builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)


def card_of(contact):
    contact.refresh_from_db()
    return {field: getattr(contact, field) for field in CARD}


def test_the_card_is_saved_and_shown(client, alice, anna):
    client.force_login(alice)
    response = client.post(f"/contacts/{anna.pk}/qualification/", CARD)
    assert response.status_code == 302 and response["Location"] == f"/contacts/{anna.pk}/"
    assert card_of(anna) == CARD
    page = client.get(f"/contacts/{anna.pk}/").content.decode()
    for text in ("Кухня 3 м к маю", "Видела витрину", "Посоветовала сестра",
                 str(NeedsFit.FITS.label), str(Readiness.COMPARING.label)):
        assert text in page
    assert f'href="/contacts/{anna.pk}/qualification/"' in page


def test_the_edit_form_starts_from_what_is_known(client, alice, anna):
    anna.needs = "Шкаф-купе"
    anna.save()
    client.force_login(alice)
    form = client.get(f"/contacts/{anna.pk}/qualification/").context["form"]
    assert form.initial["needs"] == "Шкаф-купе"


def test_the_card_can_be_cleared_later(client, alice, anna):
    client.force_login(alice)
    client.post(f"/contacts/{anna.pk}/qualification/", CARD)
    client.post(f"/contacts/{anna.pk}/qualification/", {**CARD, "needs": "", "readiness": ""})
    assert card_of(anna) == {**CARD, "needs": "", "readiness": ""}


def test_a_wrong_choice_is_an_error_and_nothing_is_saved(client, alice, anna):
    client.force_login(alice)
    response = client.post(f"/contacts/{anna.pk}/qualification/", {**CARD, "readiness": "soon"})
    assert response.status_code == 400
    assert response.context["form"].errors["readiness"]
    assert card_of(anna)["needs"] == ""


def test_only_who_sees_the_card_may_edit_it(client, alice, bob, owner, charlie, anna):
    for intruder in (bob, charlie):
        client.force_login(intruder)
        assert client.get(f"/contacts/{anna.pk}/qualification/").status_code == 404
        assert client.post(f"/contacts/{anna.pk}/qualification/", CARD).status_code == 404
    assert card_of(anna)["needs"] == ""
    client.force_login(owner)
    assert client.post(f"/contacts/{anna.pk}/qualification/", CARD).status_code == 302
    assert card_of(anna) == CARD


def test_the_visit_form_fills_the_card(client, alice, shop):
    client.force_login(alice)
    client.post("/visits/new/", {"bought": "yes", "contacts_taken": "yes", "amount": "500",
                                 "phone": "+79161234567", "name": "Анна", **CARD})
    assert card_of(Visit.objects.get().contact) == CARD


def test_a_later_visit_with_an_empty_card_keeps_what_was_written(client, alice, anna):
    client.force_login(alice)
    client.post(f"/contacts/{anna.pk}/qualification/", CARD)
    client.post("/visits/new/", {"bought": "yes", "contacts_taken": "yes", "amount": "500",
                                 "phone": "89161234567", "needs": "Ещё и стол"})
    assert card_of(anna) == {**CARD, "needs": "Ещё и стол"}
