"""The chain editor in a real browser: the live preview and linter, saving, and a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from kasatka.chains.models import Chain
from tests import builders

from .conftest import assert_fits_the_screen, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def seeded(shop, marketer):
    """A chain of two steps and a contact to preview them for."""
    builders.contact(shop, email="anna@example.com")
    return builders.chain(shop, steps=[
        {"reason": "Спасибо за визит", "is_commercial": False},
        {"reason": "Новая коллекция", "channels": ["sms", "email"],
         "body_template": "{{ contact.name }}, новая коллекция уже в салоне."},
    ])


def test_a_marketer_edits_a_chain_and_sees_the_preview_and_a_linter_error(laptop, seeded):
    page = laptop
    sign_in(page, "ksenia", then=f"/chains/{seeded.pk}/")
    expect(page.locator("#preview-steps-0")).to_contain_text("Анна Сергеевна")

    page.fill("#id_steps-0-body_template",
              "Спасибо, что зашли! Дарим {{ contact.name_in('dative') }} скидку на доставку.")
    expect(page.locator("#preview-steps-0")).to_contain_text("Дарим Анне Сергеевне скидку")
    screenshot(page, "chain-editor-preview")

    page.fill("#id_steps-1-reason", "")
    finding = page.locator('#lint-steps-1 [data-code="step-without-reason"]')
    expect(finding).to_be_visible()
    expect(page.locator('#lint-steps-0 [data-code="step-without-reason"]')).to_have_count(0)
    expect(page.locator("#chain-findings .lint-summary")).to_have_attribute("data-errors", "1")
    screenshot(page, "chain-editor-linter")

    # Saving with the error is refused, and what was typed stays.
    page.click("#save-chain")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#id_steps-1-reason")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_steps-0-body_template")).to_have_value(
        "Спасибо, что зашли! Дарим {{ contact.name_in('dative') }} скидку на доставку."
    )
    assert "Дарим" not in seeded.steps.get(position=1).body_template

    page.fill("#id_steps-1-reason", "Новая коллекция кухонь")
    expect(page.locator('#lint-steps-1 [data-code="step-without-reason"]')).to_have_count(0)
    page.click("#save-chain")
    page.wait_for_load_state("networkidle")
    expect(page.locator(".msg")).to_be_visible()
    first, second = seeded.steps.order_by("position")
    assert "Дарим {{ contact.name_in('dative') }}" in first.body_template
    assert second.reason == "Новая коллекция кухонь"


def test_the_editor_works_on_a_phone(page, seeded):
    sign_in(page, "ksenia", then=f"/chains/{seeded.pk}/")
    expect(page.locator("#preview-steps-1")).to_contain_text("SMS")
    assert_fits_the_screen(page)
    screenshot(page, "chain-editor-phone")

    # A third step, added, filled in and moved up to be the second.
    page.click("[data-add-step]")
    new = page.locator('[data-prefix="steps-2"]')
    expect(new).to_be_visible()
    page.fill("#id_steps-2-delay_days", "1")
    page.select_option("#id_steps-2-channels_0", "telegram")
    page.fill("#id_steps-2-reason", "Приглашение в клуб")
    page.fill("#id_steps-2-body_template", "{{ contact.greeting }}! Приглашаем в клуб.")
    new.locator('[data-move="up"]').click()
    expect(page.locator("#id_steps-2-ORDER")).to_have_value("2")
    expect(page.locator("#preview-steps-2")).to_contain_text("Уважаемая Анна Сергеевна")
    assert_fits_the_screen(page)
    page.click("#save-chain")
    page.wait_for_load_state("networkidle")
    chain = Chain.objects.get(pk=seeded.pk)
    assert [s.reason for s in chain.steps.order_by("position")] == [
        "Спасибо за визит", "Приглашение в клуб", "Новая коллекция",
    ]


def test_a_marketer_creates_a_chain_from_the_list(laptop, shop, marketer):
    anna = builders.contact(shop, email="anna@example.com")
    page = laptop
    sign_in(page, "ksenia", then="/chains/")
    page.click("#new-chain")
    page.fill("#id_name", "Лояльность")
    page.select_option("#id_kind", "loyalty")
    page.select_option("#id_steps-0-channels_0", "email")
    page.fill("#id_steps-0-reason", "Спасибо за покупку")
    page.fill("#id_steps-0-subject_template", "{{ contact.name }}, спасибо!")
    page.fill("#id_steps-0-body_template", "{{ contact.greeting }}! Ждём вас снова.")
    expect(page.locator("#preview-steps-0")).to_contain_text(
        "Уважаемая Анна Сергеевна! Ждём вас снова."
    )
    expect(page.locator("#chain-findings .lint-summary")).to_have_attribute("data-errors", "0")
    page.click("#save-chain")
    page.wait_for_load_state("networkidle")
    chain = Chain.objects.get(business=shop)
    assert page.url.endswith(f"/chains/{chain.pk}/?contact={anna.pk}")
    page.click("#chain-state button[name=active][value='1']")
    page.wait_for_load_state("networkidle")
    expect(page.locator('#chain-state [data-state="active"]')).to_be_visible()
    chain.refresh_from_db()
    assert chain.is_active and chain.steps.get().reason == "Спасибо за покупку"
    screenshot(page, "chain-editor-new")
