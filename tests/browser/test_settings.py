"""The settings pages in a real browser: they fit a 360 px phone, keep to the CSP, and the
owner sets the business up by keyboard and touch alone."""

from __future__ import annotations

import pytest

from kasatka.accounts.models import sending_rules
from kasatka.channels.models import ProviderAccount
from kasatka.deals.library import ensure_default_pipeline
from kasatka.sales.actions import ensure_default_loss_reasons
from kasatka.sales.models import LeadSource

from .conftest import assert_fits_the_screen, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PAGES = ["", "business/", "sending/", "calendar/", "method/", "loss-reasons/", "pipelines/",
         "channels/", "channels/new/?provider=telegram", "users/", "users/new/", "sources/"]


def test_every_settings_page_fits_a_360_px_phone(page, owner, shop):
    ensure_default_loss_reasons(shop)
    pipeline = ensure_default_pipeline(shop)
    source = LeadSource.objects.create(business=shop, name="Яндекс Директ",
                                       utm_source="yandex", utm_medium="cpc",
                                       utm_campaign="kitchens-spring-2026-long-campaign-name")
    account = ProviderAccount(business=shop, channel="sms", provider="smsru", name="SMS.ru")
    account.set_secrets({"api_id": "A3CA597E-3ACF-4E7D-82EE-CF82B52B1A8B"})
    account.save()
    page.set_viewport_size({"width": 360, "height": 800})
    sign_in(page, "olga", then="/settings/")
    for path in [*PAGES, f"pipelines/{pipeline.pk}/", f"sources/{source.pk}/",
                 f"channels/{account.pk}/"]:
        page.goto(f"{page.base_url}/settings/{path}")
        assert_fits_the_screen(page)
        assert "A3CA597E" not in page.content()
    screenshot(page, "settings-channel-phone")
    page.goto(page.base_url + "/settings/sending/")
    screenshot(page, "settings-sending-phone")


def test_the_owner_changes_quiet_hours_on_a_laptop(laptop, owner, shop):
    sign_in(laptop, "olga", then="/settings/sending/")
    laptop.fill("#id_window_sms_from", "10:00")
    laptop.fill("#id_window_sms_to", "20:00")
    laptop.fill("#id_cap_per_week", "-1")
    laptop.click("form.settings-form button[type=submit]")
    assert laptop.locator("#id_cap_per_week[aria-invalid=true]").count() == 1
    screenshot(laptop, "settings-sending-error")
    laptop.fill("#id_window_sms_from", "10:00")
    laptop.fill("#id_window_sms_to", "20:00")
    laptop.fill("#id_cap_per_week", "4")
    laptop.click("form.settings-form button[type=submit]")
    laptop.wait_for_selector(".msg.success")
    rules = sending_rules(shop)
    assert rules.windows["sms"] == ["10:00", "20:00"] and rules.cap_per_week == 4
    laptop.goto(laptop.base_url + "/settings/")
    screenshot(laptop, "settings-index-laptop")
