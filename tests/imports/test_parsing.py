"""The parser's fast paths give exactly what the contacts' own normalisers give."""

from __future__ import annotations

import random

import pytest
from django.core.exceptions import ValidationError

from kasatka.contacts.actions import normalise_email, normalise_phone, phone_place
from kasatka.imports.parsing import fast_email, phone_and_zone

PHONES = [
    "8 (916) 123-45-67", "+7 916 1234567", "79161234567", "8 495 123-45-67", "+7 (4012) 55-12-34",
    "+44 20 7946 0958", "+1 212 555 0100", "+49 30 901820", "8 800 555-35-35", "12-34",
    "+7 916 123", "abc", "+380 44 123 4567", "+7 727 258 1234", "+40 21 312 3456",
]


@pytest.mark.parametrize("region", ["RU", "DE"])
def test_phone_and_zone_is_normalise_phone_and_phone_place(region):
    rng = random.Random(7)
    numbers = PHONES + [f"8 9{rng.randrange(10**9):09d}" for _ in range(200)] + [
        f"+7 4{rng.randrange(10**9):09d}" for _ in range(200)
    ]
    for raw in numbers:
        try:
            expected = normalise_phone(raw, region)
        except ValidationError as exc:
            with pytest.raises(ValidationError) as caught:
                phone_and_zone(raw, region)
            assert caught.value.messages == exc.messages
            continue
        assert phone_and_zone(raw, region) == (expected, phone_place(expected)[0]), raw


EMAILS = [
    "Ivan.Petrov@Example.COM", "anna+shop@mail.ru", "x@пример.рф", "Анна@почта.рф",
    "a..b@example.com", ".a@example.com", "a@example", "a@localhost", "a@-bad.com",
    "a@example.com.", "\"quoted\"@example.com", "a" * 70 + "@example.com", "ivan@", "@mail.ru",
    "o'brien@example.ie", "a@b.invalid", "user@[127.0.0.1]", "UPPER@GMAIL.COM", "a@1.2.3.4",
    "x@xn--e1afmkfd.xn--p1ai", "name@sub.domain.example.co.uk", "a_b-c@ex-ample.org",
]


def test_fast_email_is_normalise_email():
    for raw in EMAILS:
        try:
            expected = normalise_email(raw)
        except ValidationError as exc:
            with pytest.raises(ValidationError) as caught:
                fast_email(raw)
            assert caught.value.messages == exc.messages, raw
            continue
        assert fast_email(raw) == expected, raw
