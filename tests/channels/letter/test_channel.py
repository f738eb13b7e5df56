"""The letter channel through the real engine: who gets paper, what the letter says."""

from __future__ import annotations

from datetime import date

import pytest
from django.core import mail

from kasatka.chains.models import Touch, TouchStatus
from kasatka.channels.letter.channel import (
    LetterChannel,
    body_without_greeting,
    body_without_signature,
)
from kasatka.channels.letter.models import Letter, LetterStatus
from kasatka.channels.registry import CHANNELS, PROVIDERS
from kasatka.engine.worker import Worker

from . import letters

pytestmark = pytest.mark.django_db


def test_letters_need_no_provider_account():
    assert CHANNELS["letter"] is LetterChannel
    assert all(cls is not LetterChannel for cls in PROVIDERS.values())


def test_a_contact_of_fifty_six_gets_a_letter_a_thirty_year_old_an_email(shop, clock):
    older = letters.anna(shop, born=date(1970, 4, 1))
    younger = letters.ivan(shop, born=date(1996, 1, 15))
    letters.send([older, younger], letters.letter_chain(shop, ("email", "letter")), clock)

    by_letter = Touch.objects.get(contact=older)
    assert (by_letter.channel, by_letter.status) == ("letter", TouchStatus.SENT)
    assert by_letter.route_note == ""  # preferred, not a fallback: nothing was passed over
    assert by_letter.to == letters.ANNA_ADDRESS
    by_email = Touch.objects.get(contact=younger)
    assert (by_email.channel, by_email.status) == ("email", TouchStatus.SENT)
    assert [m.to for m in mail.outbox] == [["ivan@example.com"]]
    assert list(Letter.objects.values_list("contact_id", flat=True)) == [older.pk]


def test_without_an_age_for_paper_nobody_is_preferred_paper(shop, clock):
    shop.paper_from_age = None
    shop.save(update_fields=["paper_from_age"])
    older = letters.anna(shop, born=date(1950, 4, 1))
    younger = letters.ivan(shop, born=date(1996, 1, 15))
    letters.send([older, younger], letters.letter_chain(shop, ("email", "letter")), clock)

    assert sorted(Touch.objects.values_list("channel", flat=True)) == ["email", "email"]
    assert Letter.objects.count() == 0
    assert len(mail.outbox) == 2


def test_the_age_for_paper_is_the_businesses_setting(shop, clock):
    shop.paper_from_age = 60
    shop.save(update_fields=["paper_from_age"])
    letters.send(
        [letters.anna(shop, born=date(1970, 4, 1))],
        letters.letter_chain(shop, ("email", "letter")),
        clock,
    )
    assert Touch.objects.get().channel == "email"  # 55 is under this shop's 60


def test_a_step_without_letter_sends_no_paper_even_to_the_old(shop, clock):
    letters.send(
        [letters.anna(shop, born=date(1940, 4, 1))], letters.letter_chain(shop, ("email",)), clock
    )
    assert Touch.objects.get().channel == "email"
    assert Letter.objects.count() == 0


def test_the_letter_addresses_her_in_the_dative_and_greets_her_as_a_woman(shop, alice, clock):
    [letter] = letters.letters_for(shop, clock, [letters.anna(shop, owner=alice)])

    assert letter.recipient == "Ивановой Анне Сергеевне"
    assert letter.greeting == "Уважаемая Анна Сергеевна!"
    assert letter.address_lines == [
        "ул. Ленина, д. 5, кв. 12", "г. Томск", "Томская обл.", "634050"
    ]
    assert letter.signature == "Алиса Петрова"
    # The step's text opens with the greeting; the letter prints it once, above the text.
    assert letter.body.startswith("В нашем салоне новая коллекция")
    assert letter.body.endswith("Мебель «Кедр»")
    assert letter.due_date == date(2026, 3, 2)
    assert letter.status == LetterStatus.TO_PRINT
    assert letter.touch == Touch.objects.get()


def test_the_letter_to_him_is_masculine_and_signed_by_the_shop_without_a_seller(shop, clock):
    [letter] = letters.letters_for(shop, clock, [letters.ivan(shop)])
    assert letter.recipient == "Петрову Ивану Сергеевичу"
    assert letter.greeting == "Уважаемый Иван Сергеевич!"
    assert letter.signature == ""  # the PDF signs with the business name


def test_the_due_date_is_the_shops_calendar_day(shop, clock):
    shop.time_zone = "Asia/Omsk"  # UTC+6: 2 March 22:00 UTC is already 3 March there
    shop.save(update_fields=["time_zone"])
    clock.set(clock.now().replace(hour=22))
    [letter] = letters.letters_for(shop, clock, [letters.anna(shop)])
    assert letter.due_date == date(2026, 3, 3)


def test_an_interrupted_letter_batch_repeated_queues_one_letter(shop, clock):
    contact = letters.anna(shop)
    chain = letters.letter_chain(shop)
    from kasatka.chains.actions import enroll

    e = enroll(contact, chain)
    # A worker wrote the touch, queued the letter and died before recording "sent".
    touch = Touch.objects.create(
        business=shop, enrollment=e, step=e.step, contact=contact, channel="letter",
        status=TouchStatus.SENDING, idempotency_key=Touch.key_for(e.pk, e.step_id), attempts=1,
    )
    Letter.objects.create(business=shop, touch=touch, contact=contact, postal_address="x",
                          due_date=date(2026, 3, 2))
    Worker(clock=clock).run(once=True)

    touch.refresh_from_db()
    assert touch.status == TouchStatus.SENT  # idempotent: completed, not "unknown"
    assert Letter.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Уважаемая Анна Сергеевна!\n\nТекст.", "Текст."),
        ("уважаемая анна сергеевна,\nТекст.", "Текст."),
        ("Текст без приветствия.", "Текст без приветствия."),
        ("Уважаемая Анна Сергеевна, у нас новость.", "Уважаемая Анна Сергеевна, у нас новость."),
    ],
)
def test_only_a_first_line_that_is_the_greeting_is_dropped(body, expected):
    assert body_without_greeting(body, "Уважаемая Анна Сергеевна!") == expected


@pytest.mark.parametrize(("body", "expected"), [
    ("Новая коллекция.\n\nС уважением,\nМарина Белова\nКедр, +7 495 120-45-67",
     "Новая коллекция."),
    ("Новая коллекция.\n\nМарина Белова\nКедр, +7 495 120-45-67", "Новая коллекция."),
    ("Новая коллекция.\n\nКедр", "Новая коллекция."),
    # A closing paragraph that is not a signature stays, and so does a lone paragraph.
    ("Новая коллекция.\n\nЖдём Вас в салоне.", "Новая коллекция.\n\nЖдём Вас в салоне."),
    ("Марина Белова расскажет о коллекции.", "Марина Белова расскажет о коллекции."),
])
def test_a_closing_signature_the_letter_prints_itself_is_dropped(body, expected):
    assert body_without_signature(body, "Марина Белова", "Кедр") == expected
