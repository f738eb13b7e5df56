"""The letters and labels as printed: PDFs rendered to PNG and read back as text."""

from __future__ import annotations

import re
import struct
import subprocess
from datetime import date
from pathlib import Path

import pytest

from kasatka.channels.letter import actions, pdf
from kasatka.channels.letter.models import Letter, LetterStatus

from . import letters

# Each test renders in well under a second: they run with the quick suite, not as "slow".
pytestmark = pytest.mark.django_db

TODAY = date(2026, 3, 2)


@pytest.fixture
def shop(shop):
    shop.postal_address = "г. Томск, пр. Ленина, д. 1"
    shop.phone = "+7 3822 00-00-00"
    shop.website = "https://kedr.example"
    shop.save()
    return shop


def rendered(content: bytes, tmp_path: Path, name: str) -> tuple[list[Path], list[str]]:
    """The PDF's pages as PNG files (pdftoppm) and as text (pdftotext -layout), page by page."""
    source = tmp_path / f"{name}.pdf"
    source.write_bytes(content)
    subprocess.run(["pdftoppm", "-png", "-r", "50", source, tmp_path / name], check=True)
    pngs = sorted(tmp_path.glob(f"{name}-*.png"))
    assert pngs and all(p.stat().st_size > 1000 for p in pngs)
    info = subprocess.run(["pdfinfo", source], check=True, capture_output=True, text=True)
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))
    assert len(pngs) == pages
    texts = [
        subprocess.run(
            ["pdftotext", "-layout", "-f", str(n), "-l", str(n), source, "-"],
            check=True, capture_output=True, text=True,
        ).stdout
        for n in range(1, pages + 1)
    ]
    return pngs, texts


def lines_of(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def a4(png: Path) -> bool:
    """Whether a page rendered at 50 dpi has A4's size, 210 × 297 mm (413 × 585 px)."""
    width, height = struct.unpack(">II", png.read_bytes()[16:24])  # the PNG's IHDR
    return (abs(width - 413), abs(height - 585)) <= (1, 1)


SENDER = ["Мебель «Кедр»", "г. Томск, пр. Ленина, д. 1", "+7 3822 00-00-00",
          "shop@kedr.example", "https://kedr.example"]


def test_a_letter_to_her_prints_on_one_a4_page_with_everything_in_place(
    shop, alice, clock, tmp_path
):
    [letter] = letters.letters_for(shop, clock, [letters.anna(shop, owner=alice)])
    [png], [text] = rendered(pdf.letter_pdf(letter, date(2026, 11, 28)), tmp_path, "anna")

    assert a4(png)
    lines = lines_of(text)
    joined = "\n".join(lines)
    for sender_line in SENDER:
        assert any(line.startswith(sender_line) for line in lines), sender_line
    assert "Кому: Ивановой Анне Сергеевне" in joined
    assert "Куда: ул. Ленина, д. 5, кв. 12" in joined
    assert {"г. Томск", "Томская обл.", "634050"} <= set(lines)
    assert "28 ноября 2026 г." in lines
    assert "Уважаемая Анна Сергеевна!" in lines
    assert joined.count("Уважаемая") == 1  # the step's own greeting line is not repeated
    assert "В нашем салоне новая коллекция кухонь из массива кедра." in lines
    assert lines[-3:] == ["С уважением,", "Алиса Петрова", "Мебель «Кедр»"]
    # The order of a letter: sender, address, date, greeting, text, signature.
    order = [joined.index(s) for s in (
        "Кому:", "28 ноября", "Уважаемая", "В нашем салоне", "С уважением"
    )]
    assert order == sorted(order)


def test_the_print_run_is_one_pdf_with_a_page_per_letter(shop, alice, clock, tmp_path):
    made = letters.letters_for(shop, clock, [
        letters.anna(shop, owner=alice),
        letters.ivan(shop),
        letters.anna(shop, email="anna2@example.com", first_name="Мария",
                     patronymic="Ильинична", last_name="Кузнецова", address="Москва\n101000"),
    ])
    run = actions.take_print_run(Letter.objects.filter(business=shop), TODAY, clock.now())
    assert [x.pk for x in run] == sorted(x.pk for x in made)  # the order they were queued

    pngs, pages = rendered(pdf.letters_pdf(shop, run, TODAY), tmp_path, "run")

    assert len(pngs) == len(run) == 3 and all(a4(p) for p in pngs)
    by_recipient = {x.recipient: lines_of(text) for x, text in zip(run, pages, strict=True)}
    anna, ivan, maria = (by_recipient[x.recipient] for x in made)
    assert "Кому: Ивановой Анне Сергеевне" in "\n".join(anna)
    assert "Уважаемая Анна Сергеевна!" in anna
    assert "Кому: Петрову Ивану Сергеевичу" in "\n".join(ivan)
    assert "Уважаемый Иван Сергеевич!" in ivan
    assert {"г. Омск", "644043"} <= set(ivan)
    assert any(line.endswith("Куда: пр. Мира, д. 17") for line in ivan)
    assert ivan[-2:] == ["С уважением,", "Мебель «Кедр»"]  # no seller: the shop signs
    assert "Кому: Кузнецовой Марии Ильиничне" in "\n".join(maria)
    assert "Уважаемая Мария Ильинична!" in maria
    assert all("2 марта 2026 г." in page for page in (anna, ivan, maria))
    assert {x.status for x in Letter.objects.all()} == {LetterStatus.PRINTED}


def test_a_long_letter_runs_on_and_the_next_starts_on_a_new_page(shop, clock, tmp_path):
    long_one, short_one = letters.letters_for(shop, clock, [letters.anna(shop), letters.ivan(shop)])
    long_one.body = "\n\n".join(f"Абзац {i}. " + "Слово " * 80 for i in range(12))
    long_one.save()

    pngs, pages = rendered(pdf.letters_pdf(shop, [long_one, short_one], TODAY), tmp_path, "long")

    *anna, ivan = [lines_of(p) for p in pages]
    assert len(anna) >= 2 and len(pngs) == len(anna) + 1
    assert "Уважаемая Анна Сергеевна!" in anna[0]
    assert "Абзац 11." in "\n".join(anna[-1]) and "С уважением," in anna[-1]
    assert "Уважаемый Иван Сергеевич!" in ivan and "Абзац" not in "\n".join(ivan)


def test_the_label_sheet_has_two_by_seven_labels_on_a4(shop, clock, tmp_path):
    made = letters.letters_for(shop, clock, [letters.anna(shop), letters.ivan(shop)])
    # Fifteen letters: a full sheet of fourteen and one label on the second.
    more = [
        Letter(business=shop, contact=made[0].contact, recipient=f"Получателю №{i:02}",
               postal_address=f"ул. Садовая, д. {i}\nг. Тверь\n1700{i:02}", language="ru")
        for i in range(13)
    ]
    pngs, (first, second) = rendered(pdf.labels_pdf(shop, made + more), tmp_path, "labels")

    assert len(pngs) == 2 and all(a4(p) for p in pngs)
    page = "\n".join(lines_of(first))
    assert "Кому: Ивановой Анне Сергеевне" in page
    assert "Кому: Петрову Ивану Сергеевичу" in page
    assert "ул. Ленина, д. 5, кв. 12" in page and "пр. Мира, д. 17" in page
    assert page.count("Кому:") == 14
    # Two labels side by side on each of the seven rows.
    assert sum(line.count("Кому:") == 2 for line in lines_of(first)) == 7
    assert "\n".join(lines_of(second)).count("Кому:") == 1
    assert "Получателю №12" in second


def test_letter_dates_follow_the_letters_language():
    assert pdf.letter_date(date(2026, 11, 28), "ru") == "28 ноября 2026 г."
    assert pdf.letter_date(date(2026, 5, 1), "ru") == "1 мая 2026 г."
    assert pdf.letter_date(date(2026, 11, 28), "en") == "November 28, 2026"
