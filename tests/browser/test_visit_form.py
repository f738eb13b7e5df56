"""A seller records a visit on her phone, in a real browser: one screen, under half a minute."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kasatka.contacts.models import Contact
from kasatka.sales.models import Visit
from tests import builders

from .conftest import assert_fits_the_screen, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

YES, NO = 0, 1  # the order of the answers in the segmented bars


def open_the_form(page):
    sign_in(page, "alice", then="/visits/new/")
    assert page.url.endswith("/visits/new/")


def answer(page, question, choice):
    """Tap a segment of "Bought?" or "Contacts taken?" as a thumb would: on its label."""
    page.click(f"label:has(#id_{question}_{choice})")


def assert_the_submit_button_is_on_screen(page):
    """At most one screen: the button is in view without the seller scrolling."""
    assert page.evaluate("window.scrollY") == 0
    box = page.locator("#save-visit").bounding_box()
    assert box is not None and box["y"] >= 0
    assert box["y"] + box["height"] <= page.viewport_size["height"], box
    assert_fits_the_screen(page)


def save(page):
    with page.expect_navigation():
        page.click("#save-visit")
    assert page.url.endswith("/visits/new/")
    return page.locator(".msg.success").inner_text()


def test_a_seller_records_a_type_1_visit(page, alice):
    open_the_form(page)
    # Nothing answered yet: no box that may not apply is shown.
    for group in ("bought", "not-bought", "taken"):
        assert page.locator(f"[data-when={group}]").first.is_hidden()
    answer(page, "bought", YES)
    assert page.locator("#id_loss_reason").is_hidden()
    page.locator("#id_amount").press_sequentially("15 000")
    answer(page, "contacts_taken", YES)
    page.locator("#id_phone").press_sequentially("89161234567")
    assert page.input_value("#id_phone") == "+7 (916) 123-45-67"
    assert page.locator("#duplicates").is_hidden()  # nobody has this phone yet
    page.fill("#id_name", "Анна Иванова")
    page.fill("#id_email", "anna@example.com")
    page.click("label:has(input[name=consent][value=sms])")
    page.click("label:has(input[name=consent][value=email])")
    assert_the_submit_button_is_on_screen(page)
    screenshot(page, "visit-type-1")

    message = save(page)
    visit = Visit.objects.get()
    assert (visit.visit_type, visit.amount, visit.seller) == (1, Decimal("15000"), alice)
    anna = visit.contact
    assert set(anna.addresses.values_list("kind", "value")) == {
        ("phone", "+79161234567"), ("email", "anna@example.com")
    }
    assert set(anna.consents.values_list("channel", flat=True)) == {"sms", "email"}
    assert "Иванова Анна" in message
    # The form is empty again for the next client.
    assert page.input_value("#id_phone") == "" and not page.is_checked("#id_bought_0")
    screenshot(page, "visit-type-1-saved")


def test_a_seller_records_a_type_2_visit(page, alice):
    open_the_form(page)
    answer(page, "bought", YES)
    page.locator("#id_amount").press_sequentially("9900,50")
    page.click("label:has(#id_on_promotion)")
    answer(page, "contacts_taken", NO)
    assert page.locator("#id_phone").is_hidden()
    assert_the_submit_button_is_on_screen(page)
    screenshot(page, "visit-type-2")

    message = save(page)
    visit = Visit.objects.get()
    assert (visit.visit_type, visit.amount, visit.contact) == (2, Decimal("9900.50"), None)
    assert not Contact.objects.exists()
    assert message


def test_a_seller_records_a_type_3_visit(page, alice):
    open_the_form(page)
    answer(page, "bought", NO)
    assert page.locator("#id_amount").is_hidden()
    page.select_option("#id_loss_reason", label="Разница в цене")
    answer(page, "contacts_taken", YES)
    page.locator("#id_phone").press_sequentially("9267654321")  # without the 8
    assert page.input_value("#id_phone") == "+7 (926) 765-43-21"
    page.fill("#id_name", "Пётр Сидоров")
    page.click("label:has(input[name=consent][value=messengers])")
    assert_the_submit_button_is_on_screen(page)
    screenshot(page, "visit-type-3")

    message = save(page)
    visit = Visit.objects.get()
    assert (visit.visit_type, visit.amount) == (3, None)
    assert visit.loss_reason.name == "Разница в цене"
    petr = visit.contact
    assert list(petr.addresses.values_list("kind", "value")) == [("phone", "+79267654321")]
    assert (petr.first_name, petr.last_name, petr.owner) == ("Пётр", "Сидоров", alice)
    assert "Сидоров Пётр" in message


def test_a_seller_records_a_type_4_visit(page, alice):
    open_the_form(page)
    # An amount typed, then the seller changes her mind: it must not come back as an error.
    answer(page, "bought", YES)
    page.fill("#id_amount", "500")
    answer(page, "bought", NO)
    page.select_option("#id_loss_reason", label="Турист — не собирался покупать")
    answer(page, "contacts_taken", NO)
    assert_the_submit_button_is_on_screen(page)
    screenshot(page, "visit-type-4")

    message = save(page)
    visit = Visit.objects.get()
    assert (visit.visit_type, visit.amount, visit.contact) == (4, None, None)
    assert visit.loss_reason.name == "Турист — не собирался покупать"
    assert message and not Contact.objects.exists()


def test_the_phone_is_masked_and_a_duplicate_is_offered_while_typing(page, alice, shop):
    anna = builders.contact(shop, phone="+79161234567", email="anna@example.com", owner=alice)
    open_the_form(page)
    answer(page, "bought", NO)
    page.select_option("#id_loss_reason", label="Разница в цене")
    answer(page, "contacts_taken", YES)
    phone = page.locator("#id_phone")
    phone.press_sequentially("8916")
    assert phone.input_value() == "+7 (916"  # masked as it is typed
    phone.press("Backspace")
    assert phone.input_value() == "+7 (91"
    phone.press_sequentially("61234567")
    assert phone.input_value() == "+7 (916) 123-45-67"

    offer = page.locator(f"#duplicates li[data-contact='{anna.pk}']")
    offer.wait_for()
    assert "Иванова Анна Сергеевна" in offer.inner_text()
    assert offer.locator(f"a[href='/contacts/{anna.pk}/']").count() == 1
    screenshot(page, "visit-duplicate-offered")
    offer.locator("[data-fill-contact]").click()
    assert page.input_value("#id_name") == "Иванова Анна Сергеевна"
    assert page.input_value("#id_email") == "anna@example.com"
    assert offer.locator("[data-fill-contact]").get_attribute("aria-pressed") == "true"
    assert "chosen" in offer.get_attribute("class")
    assert_the_submit_button_is_on_screen(page)
    screenshot(page, "visit-duplicate-chosen")

    save(page)
    assert Contact.objects.count() == 1
    visit = Visit.objects.get()
    assert (visit.contact, visit.visit_type) == (anna, 3)


def test_another_sellers_client_is_only_named(page, alice, bob, shop):
    builders.contact(shop, phone="+79161112233", email="vera@example.com", owner=bob,
                     first_name="Вера", last_name="Кузнецова", patronymic="")
    open_the_form(page)
    answer(page, "contacts_taken", YES)
    page.locator("#id_email").press_sequentially("vera@example.com")
    offer = page.locator("#duplicates li[data-other-seller]")
    offer.wait_for()
    text = offer.inner_text()
    assert "Кузнецова Вера" in text and "Борис Смирнов" in text
    assert "+7" not in text and offer.locator("a, button").count() == 0
    screenshot(page, "visit-duplicate-other-seller")


def test_a_bad_phone_is_refused_on_its_box_and_nothing_is_lost(page, alice):
    open_the_form(page)
    answer(page, "bought", YES)
    page.fill("#id_amount", "1200")
    answer(page, "contacts_taken", YES)
    page.locator("#id_phone").press_sequentially("123")
    page.fill("#id_name", "Анна")
    page.click("#save-visit")
    page.wait_for_load_state("networkidle")
    assert page.locator(".field.has-errors #id_phone").count() == 1
    assert page.locator(".field.has-errors .err").count() == 1
    # What she typed is still there, and the boxes that apply are still shown.
    assert page.input_value("#id_amount") == "1200" and page.input_value("#id_name") == "Анна"
    assert page.is_visible("#id_phone") and page.is_checked("#id_bought_0")
    assert not Visit.objects.exists() and not Contact.objects.exists()
    assert_fits_the_screen(page)
    screenshot(page, "visit-bad-phone")


def test_the_form_is_filled_from_the_keyboard_alone(page, alice):
    open_the_form(page)
    page.focus("#id_bought_0")
    page.keyboard.press("Space")  # "Bought?" yes
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "id_amount"
    page.keyboard.type("2500")
    page.keyboard.press("Tab")  # "on promotion"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "contacts_taken"
    page.keyboard.press("ArrowRight")  # "no": arrows move within the segmented bar
    assert page.is_checked("#id_contacts_taken_1")
    assert page.locator("#id_phone").is_hidden()
    page.keyboard.press("Tab")  # the note and card, folded
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "save-visit"
    screenshot(page, "visit-keyboard")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    visit = Visit.objects.get()
    assert (visit.visit_type, visit.amount) == (2, Decimal("2500"))


def test_the_owner_records_for_a_seller_on_the_same_screen(page, owner, bob):
    sign_in(page, "olga", then="/visits/new/")
    page.select_option("#id_seller", label="Борис Смирнов")
    answer(page, "bought", YES)
    page.fill("#id_amount", "70000")
    answer(page, "contacts_taken", YES)
    page.locator("#id_phone").press_sequentially("9161234567")
    page.fill("#id_name", "Анна")
    page.click("label:has(input[name=consent][value=call])")
    assert_the_submit_button_is_on_screen(page)
    screenshot(page, "visit-owner-for-a-seller")
    save(page)
    visit = Visit.objects.get()
    assert (visit.seller, visit.visit_type, visit.contact.owner) == (bob, 1, bob)


def test_record_a_visit_from_the_card_comes_filled_in(page, alice, shop):
    anna = builders.contact(shop, phone="+79161234567", owner=alice)
    sign_in(page, "alice", then=f"/visits/new/%3Fcontact%3D{anna.pk}")
    assert page.is_checked("#id_contacts_taken_0") and page.is_visible("#id_phone")
    assert page.input_value("#id_phone") == "+7 (916) 123-45-67"  # her number, masked
    answer(page, "bought", YES)
    page.fill("#id_amount", "4300")
    assert_the_submit_button_is_on_screen(page)
    screenshot(page, "visit-from-the-card")
    save(page)
    visit = Visit.objects.get()
    assert (visit.contact, visit.visit_type, visit.amount) == (anna, 1, Decimal("4300"))
    assert Contact.objects.count() == 1
