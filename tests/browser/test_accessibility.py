"""Accessibility basics on every main page, on a 360 px phone: labels, names, no sideways
scrolling, the language declared; and a palette whose text keeps WCAG AA contrast."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kasatka
from kasatka.api.keys import issue_key
from kasatka.api.models import Scope
from kasatka.capture.models import CaptureForm
from kasatka.insights.pages import PAGES
from kasatka.webhooks.actions import create_subscription, send_test
from kasatka.webhooks.models import EventType
from tests.web.test_xss import hostile_world

from .conftest import assert_fits_the_screen, screenshot, sign_in

UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea, button, a[href]'))
  .filter(el => el.checkVisibility())
  .filter(el => {
    const named = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
      || el.getAttribute('title');
    if (named) return false;
    if (el.tagName === 'BUTTON' || el.tagName === 'A') return !el.textContent.trim();
    return !(el.labels && el.labels.length);
  })
  .map(el => el.outerHTML.slice(0, 160))"""


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["olga", "alice"])
def test_every_page_names_its_controls_and_fits_a_360_px_phone(
    small_phone, who, shop, alice, owner, clock, smtp
):
    phone = small_phone
    ids = hostile_world(shop, alice, clock)
    sign_in(phone, who)
    urls = [
        "/", "/visits/new/", "/contacts/", f"/contacts/{ids['contact']}/", "/deals/board/",
        f"/deals/{ids['deal']}/", "/deals/plan/", "/calls/", "/touches/", "/letters/",
        "/insights/lapsing/",
    ]
    if who == "olga":
        urls += ["/chains/", f"/chains/{ids['chain']}/", "/settings/", "/settings/business/",
                 "/settings/sending/", "/settings/users/", "/settings/sources/"]
        # Data and integrations: each list and one object of each, with its long lines
        # (a form's snippet, a webhook's address and secret, a delivery's body).
        form = CaptureForm.objects.create(business=shop, name="Сайт «Кедр»")
        hook = create_subscription(
            shop, "https://kedr-mebel.example/very/long/path/to/the/webhook/receiver",
            [EventType.CONTACT_CREATED], by=owner,
        )
        delivery = send_test(hook)
        issue_key(shop, "Касса в магазине на Садовой", Scope.WRITE, owner)
        urls += ["/capture/", f"/capture/f/{form.pk}/", "/imports/", "/exports/",
                 "/settings/webhooks/", f"/settings/webhooks/{hook.pk}/",
                 f"/settings/webhooks/deliveries/{delivery.pk}/", "/settings/api-keys/"]
        urls += ["/insights/", *[f"/insights/{page.slug}/" for page in PAGES]]
    for url in urls:
        phone.goto(phone.base_url + url)
        phone.wait_for_load_state("networkidle")
        assert phone.locator("html").get_attribute("lang") in {"ru", "en"}
        assert phone.locator("h1").count() >= 1, f"{url} has no heading"
        unlabelled = phone.evaluate(UNLABELLED)
        assert not unlabelled, f"{url}: controls without a name: {unlabelled}"
        try:
            assert_fits_the_screen(phone)
        except AssertionError as wide:
            screenshot(phone, f"a11y-{who}-too-wide")
            raise AssertionError(f"{url}: {wide}") from None
    screenshot(phone, f"a11y-{who}-last-page")


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _palette() -> dict[str, str]:
    css = (Path(kasatka.__file__).parent / "web/static/web/kasatka.css").read_text()
    root = css[css.index(":root"):css.index("}")]
    pairs = re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", root)
    return {name: value.lower() for name, value in pairs}


@pytest.mark.parametrize(
    ("text", "background"),
    [("ink", "bg"), ("muted", "bg"), ("ink", "card"), ("muted", "card"), ("accent", "card"),
     ("accent", "bg"), ("accent-ink", "accent"), ("bad", "card"), ("ok", "card"),
     ("warn", "card")],
)
def test_text_colours_keep_wcag_aa_contrast(text, background):
    palette = _palette()
    ratio = contrast(palette[text], palette[background])
    assert ratio >= 4.5, f"{text} on {background}: {ratio:.2f} < 4.5"


def test_the_contrast_formula_is_wcags():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # the classic just-failing grey
