"""Print-ready PDFs of letters: one letter, the day's print run, a sheet of address labels."""

# Letters speak Russian, so Cyrillic letters in strings are meant.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Final

from django.template.loader import render_to_string
from django.utils import formats, translation

from kasatka.accounts.models import Business

from .models import Letter

# The label sheet: A4 with 2 × 7 self-adhesive labels of 105 × 42.4 mm and no margins
# (sold as "A4, 14 labels per sheet"); see docs/channels/letters.md.
LABEL_COLUMNS: Final = 2
LABEL_ROWS: Final = 7
LABELS_PER_SHEET: Final = LABEL_COLUMNS * LABEL_ROWS


@dataclass(frozen=True)
class Wording:
    """The fixed words of a letter, in the letter's language (not the clerk's UI language)."""

    to: str
    where: str
    regards: str


# The letter goes out in the recipient's language whatever language the clerk's screen
# is in, so these words are chosen by the letter, not by the request's translation.
WORDINGS: Final[dict[str, Wording]] = {
    "ru": Wording(to="Кому", where="Куда", regards="С уважением,"),
    "en": Wording(to="To", where="Address", regards="Yours sincerely,"),
}
# Django's DATE_FORMAT per language, except where a letter writes the date out in full.
_DATE_FORMATS: Final[dict[str, str]] = {"en": "F j, Y"}


def _language(code: str) -> str:
    return (code or "ru").lower().replace("_", "-").split("-", 1)[0]


def wording(language: str) -> Wording:
    return WORDINGS.get(_language(language), WORDINGS["ru"])


def letter_date(day: date, language: str) -> str:
    """The date as a letter writes it: «28 ноября 2026 г.» (the month in the genitive)."""
    lang = _language(language)
    with translation.override(lang):
        return formats.date_format(day, _DATE_FORMATS.get(lang, "DATE_FORMAT"))


def _letter_context(letter: Letter, on: date) -> dict[str, object]:
    language = letter.language or letter.business.language
    return {
        "letter": letter,
        "lang": _language(language),
        "words": wording(language),
        "date": letter_date(on, language),
        "paragraphs": [p.strip() for p in letter.body.split("\n\n") if p.strip()],
    }


def render_letters_html(business: Business, letters: Sequence[Letter], on: date) -> str:
    """The HTML of letters that print one after another, each starting a new page."""
    return render_to_string(
        "letters/letters.html",
        {"business": business, "letters": [_letter_context(x, on) for x in letters]},
    )


def letters_pdf(business: Business, letters: Sequence[Letter], on: date) -> bytes:
    """One PDF with every letter, each on its own pages: the print run of the day."""
    return _pdf(render_letters_html(business, letters, on))


def letter_pdf(letter: Letter, on: date) -> bytes:
    """The PDF of one letter (to look at, or to print it again)."""
    return letters_pdf(letter.business, [letter], on)


def render_labels_html(business: Business, letters: Sequence[Letter]) -> str:
    labels = [
        {"recipient": x.recipient, "lines": x.address_lines, "words": wording(x.language)}
        for x in letters
    ]
    sheets = [
        labels[i : i + LABELS_PER_SHEET] for i in range(0, len(labels), LABELS_PER_SHEET)
    ]
    return render_to_string(
        "letters/labels.html",
        {"business": business, "sheets": sheets, "columns": LABEL_COLUMNS, "rows": LABEL_ROWS},
    )


def labels_pdf(business: Business, letters: Sequence[Letter]) -> bytes:
    """Address labels for the envelopes, in the order of the letters, 14 to an A4 sheet."""
    return _pdf(render_labels_html(business, letters))


def _pdf(html: str) -> bytes:
    # No base_url: the templates load nothing from outside, so nothing can be fetched.
    # Imported here: WeasyPrint (and Pango) take seconds to load, and every process that
    # merely resolves a URL (the engine's workers among them) would pay for it.
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
