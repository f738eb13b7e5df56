"""A seller records a visit on the form: its type, the contact, and the chain it starts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from kasatka.chains.models import ChainKind, Enrollment, EnrollmentState
from kasatka.contacts.models import Address, Consent, ConsentBasis, ConsentStatus, Contact
from kasatka.sales.models import LossKind, LossReason, Purchase, Visit
from tests import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def chains(shop):
    return {
        "warming": builders.chain(shop, kind=ChainKind.WARMING, exit_on_purchase=True),
        "loyalty": builders.chain(shop, kind=ChainKind.LOYALTY, exit_on_purchase=False,
                                  name="Лояльность"),
    }


@pytest.fixture
def price(shop):
    return LossReason.objects.create(business=shop, name="Разница в цене",
                                     kind=LossKind.OBJECTIVE)


def post_visit(client, **fields):
    data = {"note": "", "consent": ["email"]}
    data.update(fields)
    return client.post("/visits/new/", data)


def bought(client, phone="+7 916 123-45-67", amount="15000", **fields):
    return post_visit(client, bought="yes", contacts_taken="yes", name="Анна Иванова",
                      phone=phone, amount=amount, **fields)


def left(client, reason, phone="+7 916 123-45-67", **fields):
    return post_visit(client, bought="no", contacts_taken="yes", name="Анна Иванова",
                      phone=phone, loss_reason=reason.pk, **fields)


def live(contact, chain):
    return Enrollment.objects.filter(contact=contact, chain=chain,
                                     state=EnrollmentState.ACTIVE).count()


def test_type1_visit_creates_the_contact_and_enrolls_loyalty(client, alice, chains, clock):
    client.force_login(alice)
    response = bought(client)
    assert response.status_code == 302
    visit = Visit.objects.get()
    assert visit.visit_type == 1 and visit.seller == alice and visit.amount == Decimal("15000")
    anna = visit.contact
    assert (anna.first_name, anna.last_name, anna.owner) == ("Анна", "Иванова", alice)
    assert list(anna.addresses.values_list("kind", "value")) == [("phone", "+79161234567")]
    assert live(anna, chains["loyalty"]) == 1
    assert live(anna, chains["warming"]) == 0
    purchase = Purchase.objects.get(contact=anna)
    assert (purchase.amount, purchase.purchased_at) == (Decimal("15000"), clock.now())


def test_type2_visit_is_counted_and_keeps_nothing_about_the_client(client, alice, chains):
    client.force_login(alice)
    # The seller typed the phone before the client said no: it is not kept.
    response = post_visit(client, bought="yes", contacts_taken="no", amount="9900",
                          name="Пётр", phone="+79160000001")
    assert response.status_code == 302
    visit = Visit.objects.get()
    assert (visit.visit_type, visit.contact, visit.amount) == (2, None, Decimal("9900"))
    assert not Contact.objects.exists() and not Address.objects.exists()
    assert not Enrollment.objects.exists()


def test_type3_visit_enrolls_warming(client, alice, chains, price):
    client.force_login(alice)
    response = left(client, price, note="вернётся с мужем")
    assert response.status_code == 302
    visit = Visit.objects.get()
    assert (visit.visit_type, visit.loss_reason, visit.note) == (3, price, "вернётся с мужем")
    assert live(visit.contact, chains["warming"]) == 1
    assert live(visit.contact, chains["loyalty"]) == 0
    assert not Purchase.objects.exists()


def test_type4_visit_is_counted_with_its_reason_only(client, alice, chains, price):
    client.force_login(alice)
    response = post_visit(client, bought="no", contacts_taken="no", loss_reason=price.pk)
    assert response.status_code == 302
    visit = Visit.objects.get()
    assert (visit.visit_type, visit.contact, visit.loss_reason) == (4, None, price)
    assert not Contact.objects.exists() and not Enrollment.objects.exists()


def test_a_warming_contact_who_buys_later_moves_to_loyalty(client, alice, chains, price, clock):
    client.force_login(alice)
    left(client, price)
    anna = Visit.objects.get().contact
    warming = Enrollment.objects.get(contact=anna, chain=chains["warming"])
    clock.advance(timedelta(days=5))
    bought(client, phone="8 (916) 123-45-67")  # the same client, her phone spelled otherwise

    warming.refresh_from_db()
    assert warming.state == EnrollmentState.EXITED
    assert (warming.exit_reason, warming.ended_at) == ("purchased", clock.now())
    loyalty = Enrollment.objects.get(contact=anna, chain=chains["loyalty"])
    assert (loyalty.state, loyalty.enrolled_at) == (EnrollmentState.ACTIVE, clock.now())
    assert list(Visit.objects.order_by("occurred_at").values_list("visit_type", "contact")) == [
        (3, anna.pk), (1, anna.pk)
    ]


def test_a_second_type3_visit_does_not_enrol_twice(client, alice, chains, price, clock):
    client.force_login(alice)
    left(client, price)
    clock.advance(timedelta(days=2))
    assert left(client, price, phone="89161234567").status_code == 302
    assert Visit.objects.filter(visit_type=3).count() == 2
    anna = Contact.objects.get()
    assert Enrollment.objects.filter(contact=anna, chain=chains["warming"]).count() == 1


def test_the_contact_is_found_by_phone_in_another_spelling(client, alice, shop, chains):
    anna = builders.contact(shop, email=None, phone="+79161234567", owner=alice)
    client.force_login(alice)
    bought(client, phone="8 916 123 45 67", email="Anna@Example.com")
    assert Contact.objects.count() == 1
    assert Visit.objects.get().contact == anna
    # What she had not given before is added; her name is not rewritten.
    assert set(anna.addresses.values_list("kind", "value")) == {
        ("phone", "+79161234567"), ("email", "Anna@example.com")
    }
    anna.refresh_from_db()
    assert anna.full_name == "Иванова Анна Сергеевна"


def test_the_contact_is_found_by_email_when_no_phone_is_given(client, alice, shop, chains):
    anna = builders.contact(shop, email="anna@example.com", owner=alice)
    client.force_login(alice)
    bought(client, phone="", email="anna@example.com")
    assert Visit.objects.get().contact == anna and Contact.objects.count() == 1


def test_an_e_mail_in_other_letters_case_is_the_same_client(client, alice, shop, chains):
    """ANNA@Example.com and anna@example.com are one mailbox: no second contact, no
    second address on her card."""
    anna = builders.contact(shop, email="anna@example.com", owner=alice)
    client.force_login(alice)
    bought(client, phone="", email="ANNA@Example.com")
    assert Visit.objects.get().contact == anna and Contact.objects.count() == 1
    assert list(anna.addresses.values_list("value", flat=True)) == ["anna@example.com"]


def test_consent_is_recorded_for_the_channels_the_client_agreed_to(client, alice, chains):
    client.force_login(alice)
    bought(client, consent=["sms", "messengers"])
    rows = set(Consent.objects.values_list("channel", "status", "basis"))
    granted, visit = ConsentStatus.GRANTED, ConsentBasis.VISIT
    assert rows == {(ch, granted, visit) for ch in ("sms", "telegram", "whatsapp", "viber")}


def test_taken_contacts_need_a_phone_or_an_email(client, alice, chains):
    client.force_login(alice)
    response = bought(client, phone="")
    assert response.status_code == 400
    assert response.context["form"].errors["phone"]
    assert not Visit.objects.exists() and not Contact.objects.exists()


def test_a_bad_phone_is_shown_on_the_form_and_nothing_is_saved(client, alice, chains):
    client.force_login(alice)
    response = bought(client, phone="12")
    assert response.status_code == 400
    assert "phone" in response.context["form"].errors
    assert not Visit.objects.exists() and not Contact.objects.exists()


def test_missing_answers_are_errors_not_a_crash(client, alice):
    client.force_login(alice)
    response = client.post("/visits/new/", {})
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert {"bought", "contacts_taken"} <= set(errors)
    assert not Visit.objects.exists()


def test_the_owner_records_a_visit_for_a_seller(client, owner, bob, chains):
    client.force_login(owner)
    bought(client, seller=bob.pk)
    visit = Visit.objects.get()
    assert visit.seller == bob and visit.contact.owner == bob


def test_a_seller_always_records_as_themselves(client, alice, bob, chains):
    client.force_login(alice)
    page = client.get("/visits/new/")
    assert "seller" not in page.context["form"].fields
    bought(client, seller=bob.pk)
    assert Visit.objects.get().seller == alice


def test_the_form_is_prefilled_from_a_contact_the_seller_may_see(client, alice, bob, shop):
    anna = builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)
    client.force_login(alice)
    form = client.get(f"/visits/new/?contact={anna.pk}").context["form"]
    assert (form.initial["phone"], form.initial["email"]) == ("+79161234567", "anna@example.com")
    client.force_login(bob)
    assert client.get(f"/visits/new/?contact={anna.pk}").status_code == 404


def test_the_visit_form_needs_a_login(client):
    response = client.get("/visits/new/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_list_shows_todays_visits_of_the_seller_with_type_counts(
    client, alice, bob, owner, chains, price, clock
):
    client.force_login(alice)
    clock.advance(timedelta(days=-1))
    bought(client, phone="+79160000009")  # yesterday: not on today's list
    clock.advance(timedelta(days=1))
    bought(client, phone="+79160000001")
    left(client, price, phone="+79160000002")
    post_visit(client, bought="no", contacts_taken="no", loss_reason=price.pk)
    client.force_login(bob)
    left(client, price, phone="+79160000003")

    client.force_login(alice)
    page = client.get("/visits/")
    assert [n for _t, _l, n in page.context["counts"]] == [1, 0, 1, 1]
    assert page.context["taken"] == 2 and page.context["total"] == 3
    assert {v.seller for v in page.context["visits"]} == {alice}

    client.force_login(owner)
    page = client.get("/visits/")
    assert [n for _t, _l, n in page.context["counts"]] == [1, 0, 2, 1]
    assert "Борис Смирнов" in page.content.decode()


def test_today_is_the_shops_day_not_utcs(client, alice, chains, price, clock):
    client.force_login(alice)
    now = clock.now()  # 10:00 in Moscow, the shop's zone
    clock.set(now.replace(day=1, hour=21, minute=30))  # 00:30 today in Moscow
    post_visit(client, bought="no", contacts_taken="no", loss_reason=price.pk)
    clock.set(now.replace(day=1, hour=20, minute=30))  # 23:30 yesterday in Moscow
    post_visit(client, bought="yes", contacts_taken="no", amount="100")
    clock.set(now)
    page = client.get("/visits/")
    assert [n for _t, _l, n in page.context["counts"]] == [0, 0, 0, 1]
    assert "00:30" in page.content.decode()


def test_a_purchase_on_promotion_is_marked_and_counts_for_the_discount_lover(
    client, alice, chains, shop
):
    from kasatka.accounts.models import method_settings

    settings_row = method_settings(shop)
    settings_row.discount_lover_share = Decimal("0.50")
    settings_row.save()
    client.force_login(alice)
    bought(client, on_promotion="on")
    bought(client, amount="12000", on_promotion="on")
    purchases = Purchase.objects.order_by("purchased_at", "id")
    assert [p.on_promotion for p in purchases] == [True, True]
    anna = purchases[0].contact
    anna.refresh_from_db()
    assert anna.is_discount_lover


# --- the phone screen (issue 8): amounts as typed, the masked phone, duplicates -------------


@pytest.mark.parametrize("typed, stored", [
    ("15 000", Decimal("15000")),
    ("15\u00a0000", Decimal("15000")),  # a no-break space, as a phone's keyboard may put
    ("1 250,50", Decimal("1250.50")),
    ("99.9", Decimal("99.90")),
])
def test_an_amount_is_read_the_way_a_seller_writes_it(client, alice, chains, typed, stored):
    client.force_login(alice)
    assert bought(client, amount=typed).status_code == 302
    assert Visit.objects.get().amount == stored


@pytest.mark.parametrize("typed", ["15 000 руб", "1,2,3", "-5"])
def test_a_wrong_amount_is_an_error_on_its_box(client, alice, chains, typed):
    client.force_login(alice)
    response = bought(client, amount=typed)
    assert response.status_code == 400 and response.context["form"].errors["amount"]
    assert not Visit.objects.exists()


def test_a_phone_typed_through_the_mask_is_stored_in_e164(client, alice, chains):
    client.force_login(alice)
    assert bought(client, phone="+7 (916) 123-45-67").status_code == 302
    assert Address.objects.get().value == "+79161234567"


def test_a_half_typed_phone_is_refused_with_an_error_not_saved(client, alice, chains):
    client.force_login(alice)
    response = bought(client, phone="+7 (916) 12")
    assert response.status_code == 400 and response.context["form"].errors["phone"]
    html = response.content.decode()
    assert 'value="+7 (916) 12"' in html  # what she typed is there to correct
    assert not Visit.objects.exists() and not Contact.objects.exists()


def test_the_phone_box_is_masked_as_the_business_country_writes_numbers(client, alice, shop):
    client.force_login(alice)
    form = client.get("/visits/new/").context["form"]
    phone = form.fields["phone"].widget.attrs
    assert (phone["data-mask"], phone["data-trunk"]) == ("+7 (___) ___-__-__", "8")
    assert form.fields["phone"].widget.input_type == "tel"
    assert (phone["inputmode"], phone["autocomplete"]) == ("tel", "off")
    for box in ("phone", "email"):
        attrs = form.fields[box].widget.attrs
        assert attrs["hx-get"] == "/contacts/duplicates/"
        assert attrs["hx-trigger"].startswith("keyup changed delay:300ms")
    assert form.fields["amount"].widget.attrs["inputmode"] == "decimal"
    shop.country = "DE"
    shop.save()
    phone = client.get("/visits/new/").context["form"].fields["phone"].widget.attrs
    assert (phone["data-mask"], phone["data-trunk"]) == ("+49 ____ _______", "0")


def test_the_page_has_its_script_and_no_inline_one(client, alice):
    client.force_login(alice)
    html = client.get("/visits/new/").content.decode()
    assert "/static/web/visit.js" in html and "/static/web/visit.css" in html
    assert "<script>" not in html and "onclick" not in html and "hx-on" not in html
    for group in ("bought", "not-bought", "taken"):
        assert f'data-when="{group}"' in html
    assert 'id="duplicates"' in html


def test_a_marketer_records_no_visits(client, marketer):
    client.force_login(marketer)
    assert client.get("/visits/new/").status_code == 403
    assert client.post("/visits/new/", {"bought": "no", "contacts_taken": "no"}).status_code == 403
    assert not Visit.objects.exists()


def test_this_is_them_by_email_keeps_the_new_phone_she_gave(client, alice, shop, chains):
    # The duplicate was offered by e-mail; the phone she gives now is new: it joins her card.
    anna = builders.contact(shop, email="anna@example.com", owner=alice)
    client.force_login(alice)
    bought(client, phone="+7 (926) 000-00-01", email="anna@example.com")
    assert Visit.objects.get().contact == anna and Contact.objects.count() == 1
    assert set(anna.addresses.values_list("kind", "value")) == {
        ("email", "anna@example.com"), ("phone", "+79260000001")
    }


def test_a_visit_of_another_sellers_client_stays_on_their_card(client, alice, bob, shop, chains):
    # The duplicates box told Alice "already a client of Борис": the visit is hers, the
    # client stays Bob's, and no second card is made.
    vera = builders.contact(shop, phone="+79161112233", owner=bob, first_name="Вера")
    client.force_login(alice)
    bought(client, phone="8 916 111-22-33")
    visit = Visit.objects.get()
    assert (visit.contact, visit.seller) == (vera, alice)
    vera.refresh_from_db()
    assert vera.owner == bob and Contact.objects.count() == 1
