"""The embeddable lead form in a real browser, on a page of another site (another port):
sent by the script with the page's UTM tags, and as a plain post without JavaScript."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kasatka.capture.actions import process_inbox
from kasatka.capture.models import CaptureForm
from kasatka.capture.views import snippet
from kasatka.contacts.models import Consent, Contact

from .conftest import CHROMIUM, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HOST_PAGE = """<!doctype html>
<html lang="ru"><head><meta charset="utf-8"><title>Кухни «Кедр»</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>Кухни на заказ</h1>
{snippet}
</body></html>
"""


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Another site: a plain static HTTP server on its own port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def form(shop, live_server, settings, site) -> CaptureForm:
    settings.KASATKA_BASE_URL = live_server.url
    made = CaptureForm.objects.create(
        business=shop, name="Кухни", default_source="Сайт", channels="email,sms",
        consent_text="Согласен получать письма и SMS от «Кедра».",
        allowed_origins=site[1],  # only that site may post it (and Kasatka's own page)
    )
    (site[0] / "kitchens.html").write_text(
        HOST_PAGE.format(snippet=snippet(None, made, for_embedding=True)), encoding="utf-8"
    )
    return made


def test_the_snippet_sends_the_lead_by_script_with_the_page_s_utm(page, form, site, shop):
    page.goto(f"{site[1]}/kitchens.html?utm_source=vk&utm_medium=post&utm_campaign=spring")
    page.fill("form[data-kasatka-capture] input[name=name]", "Анна Иванова")
    page.fill("form[data-kasatka-capture] input[name=phone]", "8 916 123-45-67")
    page.check("form[data-kasatka-capture] input[name=consent][value=email]")
    page.click("form[data-kasatka-capture] button[type=submit]")
    page.wait_for_selector("form[data-kasatka-sent]")
    assert page.url.startswith(site[1])  # the visitor stayed on the shop's page
    assert page.locator("[data-kasatka-message]").inner_text().strip()
    screenshot(page, "capture-snippet-sent")
    process_inbox()  # the task worker's sweep
    contact = Contact.objects.get(business=shop)
    assert contact.source.name == "vk / post / spring"
    assert contact.first_name == "Анна"
    consent = Consent.objects.get(contact=contact)
    assert consent.channel == "email"
    assert "Согласен получать письма" in consent.source


def test_the_snippet_shows_the_server_s_error_beside_the_phone(page, form, site, shop):
    page.goto(f"{site[1]}/kitchens.html")
    page.fill("form[data-kasatka-capture] input[name=phone]", "12")
    page.click("form[data-kasatka-capture] button[type=submit]")
    page.wait_for_selector("[data-error-for=phone]")
    assert not Contact.objects.filter(business=shop).exists()
    page.fill("form[data-kasatka-capture] input[name=phone]", "+7 916 123-45-67")
    page.click("form[data-kasatka-capture] button[type=submit]")
    page.wait_for_selector("form[data-kasatka-sent]")
    process_inbox()
    assert Contact.objects.filter(business=shop).count() == 1


def test_without_javascript_the_form_is_a_plain_post(chromium, form, site, shop):
    if not Path(CHROMIUM).exists():
        pytest.skip("no chromium")
    context = chromium.new_context(java_script_enabled=False, locale="ru-RU")
    try:
        tab = context.new_page()
        tab.goto(f"{site[1]}/kitchens.html")
        tab.fill("input[name=name]", "Борис")
        tab.fill("input[name=phone]", "+7 916 765-43-21")
        tab.click("button[type=submit]")
        tab.wait_for_selector("#capture-thanks")
        process_inbox()
        assert Contact.objects.filter(business=shop).count() == 1
        assert Contact.objects.get(business=shop).source.name == "Сайт"
    finally:
        context.close()
