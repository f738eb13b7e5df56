"""Dates, numbers and money are written the way the reader's language writes them."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import translation

from kasatka.web.templatetags.kasatka_ui import minutes, money


def _render(source: str, **context) -> str:
    return Template("{% load kasatka_ui %}" + source).render(Context(context))


@pytest.mark.parametrize(
    ("language", "value", "expected"),
    [
        ("ru", 75000, "75\u00a0000\u00a0₽"),
        ("ru", Decimal("1234.5"), "1\u00a0234,50\u00a0₽"),
        ("en", 75000, "₽75,000"),
        ("en", Decimal("-1234.5"), "-₽1,234.50"),
        ("ru", None, "—"),
    ],
)
def test_money_is_grouped_and_signed_per_language(language, value, expected):
    with translation.override(language):
        assert money(value) == expected


def test_a_currency_without_a_one_letter_sign_follows_the_number():
    with translation.override("en"):
        assert money(1500, "CHF") == "1,500\u00a0CHF"
    with translation.override("ru"):
        assert money(1500, "BYN") == "1\u00a0500\u00a0Br"


def test_dates_are_written_per_language():
    day = date(2026, 3, 6)
    with translation.override("ru"):
        assert _render('{{ d|date:"DATE_FORMAT" }}', d=day) == "6 марта 2026 г."
        assert _render('{{ d|date:"SHORT_DATE_FORMAT" }}', d=day) == "06.03.2026"
    with translation.override("en"):
        assert _render('{{ d|date:"DATE_FORMAT" }}', d=day) == "March 6, 2026"
        assert _render('{{ d|date:"SHORT_DATE_FORMAT" }}', d=day) == "03/06/2026"


def test_the_lock_out_wait_is_in_whole_minutes_rounded_up():
    assert minutes(timedelta(minutes=15)) == 15
    assert minutes(timedelta(minutes=14, seconds=1)) == 15
    assert minutes(None) == 0
