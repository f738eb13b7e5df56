"""The print queue page: who sees which letters, printing them, marking them posted."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from kasatka.chains.models import TouchStatus
from kasatka.channels.letter.models import Letter, LetterStatus

from . import letters

pytestmark = pytest.mark.django_db

ANNA, IVAN, OLGA = "Ивановой Анне Сергеевне", "Петрову Ивану Сергеевичу", "Сидоровой Ольге Петровне"


@pytest.fixture
def queue(shop, other_shop, alice, bob, clock):
    """Anna (Alice's client) and Ivan (Bob's) due today in the shop; Olga in another shop."""
    anna, ivan = letters.letters_for(
        shop, clock, [letters.anna(shop, owner=alice), letters.ivan(shop, owner=bob)]
    )
    [olga] = letters.letters_for(other_shop, clock, [letters.anna(
        other_shop, first_name="Ольга", patronymic="Петровна", last_name="Сидорова"
    )])
    return {"anna": anna, "ivan": ivan, "olga": olga}


def page(client) -> str:
    response = client.get("/letters/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_queue_lists_the_due_letters_of_the_users_business_only(client, owner, queue):
    client.force_login(owner)
    text = page(client)
    assert ANNA in text and IVAN in text
    assert "г. Томск" in text
    assert OLGA not in text


def test_letters_not_due_yet_wait_off_the_queue(client, owner, queue):
    Letter.objects.filter(pk=queue["ivan"].pk).update(due_date=date(2026, 3, 3))
    client.force_login(owner)
    text = page(client)
    assert ANNA in text and IVAN not in text


def test_a_seller_sees_the_letters_of_their_own_clients(client, alice, queue):
    client.force_login(alice)
    text = page(client)
    assert ANNA in text and IVAN not in text


def test_a_seller_of_another_shop_sees_nothing_and_gets_404(client, charlie, queue):
    client.force_login(charlie)
    assert ANNA not in page(client)
    anna = queue["anna"]
    assert client.get(f"/letters/{anna.pk}.pdf").status_code == 404
    assert client.post(f"/letters/{anna.pk}/posted/").status_code == 404
    anna.refresh_from_db()
    assert anna.status == LetterStatus.TO_PRINT


def test_the_queue_needs_a_login(client, queue):
    response = client.get("/letters/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_printing_downloads_one_pdf_and_marks_the_letters_printed(client, owner, queue, clock):
    client.force_login(owner)
    response = client.post("/letters/print/")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="letters-2026-03-02.pdf"'
    assert response.content.startswith(b"%PDF")
    shop_letters = Letter.objects.filter(pk__in=[queue["anna"].pk, queue["ivan"].pk])
    assert {(x.status, x.printed_at) for x in shop_letters} == {
        (LetterStatus.PRINTED, clock.now())
    }
    queue["olga"].refresh_from_db()
    assert queue["olga"].status == LetterStatus.TO_PRINT
    # Printed once: a second press finds nothing to print.
    again = client.post("/letters/print/")
    assert again.status_code == 302


def test_printing_takes_get_as_a_refusal(client, owner, queue):
    client.force_login(owner)
    assert client.get("/letters/print/").status_code == 405
    assert not Letter.objects.filter(status=LetterStatus.PRINTED).exists()


def test_labels_cover_the_letters_before_and_after_printing_and_change_nothing(
    client, owner, queue
):
    client.force_login(owner)
    before = client.get("/letters/labels.pdf")
    assert before["Content-Type"] == "application/pdf" and before.content.startswith(b"%PDF")
    assert not Letter.objects.exclude(status=LetterStatus.TO_PRINT).exists()
    client.post("/letters/print/")
    after = client.get("/letters/labels.pdf")
    assert after.status_code == 200 and after.content.startswith(b"%PDF")


def test_one_letter_opens_as_a_pdf_without_being_printed(client, alice, queue):
    client.force_login(alice)
    response = client.get(f"/letters/{queue['anna'].pk}.pdf")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    assert response["Content-Disposition"].startswith("inline")
    assert client.get(f"/letters/{queue['ivan'].pk}.pdf").status_code == 404  # Bob's client
    queue["anna"].refresh_from_db()
    assert queue["anna"].status == LetterStatus.TO_PRINT


def test_a_letter_marked_posted_records_who_and_when_and_leaves_the_touch_sent(
    client, owner, queue, clock
):
    client.force_login(owner)
    client.post("/letters/print/")
    clock.advance(timedelta(hours=2))
    anna = queue["anna"]

    response = client.post(f"/letters/{anna.pk}/posted/")

    assert response.status_code == 302
    anna.refresh_from_db()
    assert (anna.status, anna.posted_by, anna.posted_at) == (
        LetterStatus.POSTED, owner, clock.now()
    )
    assert anna.touch.status == TouchStatus.SENT
    text = page(client)
    assert ANNA not in text and IVAN in text  # Ivan's is printed, waiting for the post


def test_mark_all_posted_posts_the_printed_letters_only(client, owner, alice, queue, clock):
    client.force_login(owner)
    client.post("/letters/print/")
    # A letter that became due after the print run is not in any envelope yet.
    later = letters.letters_for(owner.business, clock, [letters.anna(
        owner.business, email="vera@example.com", first_name="Вера", patronymic="Павловна",
        last_name="Орлова",
    )])[0]

    client.post("/letters/posted/")

    statuses = dict(Letter.objects.values_list("pk", "status"))
    assert statuses[queue["anna"].pk] == statuses[queue["ivan"].pk] == LetterStatus.POSTED
    assert statuses[later.pk] == LetterStatus.TO_PRINT
    assert statuses[queue["olga"].pk] == LetterStatus.TO_PRINT
    assert set(Letter.objects.filter(status=LetterStatus.POSTED).values_list(
        "posted_by", flat=True
    )) == {owner.pk}


def test_a_letter_is_posted_once(client, owner, queue):
    client.force_login(owner)
    anna = queue["anna"]
    client.post(f"/letters/{anna.pk}/posted/")
    anna.refresh_from_db()
    first = anna.posted_at
    response = client.post(f"/letters/{anna.pk}/posted/", follow=True)
    assert "already" in response.content.decode() or "уже" in response.content.decode()
    anna.refresh_from_db()
    assert anna.posted_at == first
