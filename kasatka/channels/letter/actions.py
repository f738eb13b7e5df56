"""The print queue's actions: which letters are due, printing a run, marking them posted.

Posting a letter does not move its touch: the touch stays "sent" (handed to the print
queue), because the post gives no receipt for a plain letter, and "delivered" would
claim more than the shop knows.
"""

from __future__ import annotations

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business, User
from kasatka.engine.clock import now as clock_now

from .models import Letter, LetterStatus


def business_today(business: Business, now: datetime | None = None) -> date:
    """Today where the shop is: a letter due "today" in Omsk is due by Omsk's calendar."""
    return (now or clock_now()).astimezone(business.zone).date()


def to_print(letters: QuerySet[Letter], today: date) -> QuerySet[Letter]:
    """Letters due today or earlier that nobody has printed yet, oldest first."""
    return letters.filter(status=LetterStatus.TO_PRINT, due_date__lte=today).order_by(
        "due_date", "id"
    )


def printed_not_posted(letters: QuerySet[Letter]) -> QuerySet[Letter]:
    """Letters printed and waiting for their envelope and the post office."""
    return letters.filter(status=LetterStatus.PRINTED).order_by("printed_at", "due_date", "id")


def take_print_run(letters: QuerySet[Letter], today: date, now: datetime) -> list[Letter]:
    """Mark the letters to print as printed and return them, in print order.

    The rows are locked first: two clerks pressing "print" at once get each letter
    once between them, never twice (PostgreSQL re-checks the status after the lock;
    SQLite runs one writer at a time).
    """
    with transaction.atomic():
        ids = list(to_print(letters, today).select_for_update().values_list("id", flat=True))
        Letter.objects.filter(id__in=ids, status=LetterStatus.TO_PRINT).update(
            status=LetterStatus.PRINTED, printed_at=now
        )
    return list(
        Letter.objects.filter(id__in=ids)
        .select_related("business")
        .order_by("due_date", "id")
    )


def mark_posted(letter: Letter, user: User | None, now: datetime | None = None) -> Letter:
    """One letter went to the post (printed from the queue or on its own)."""
    if letter.status == LetterStatus.POSTED:
        raise ValidationError(_("This letter is already marked posted."))
    at = now or clock_now()
    letter.status = LetterStatus.POSTED
    letter.posted_at = at
    letter.posted_by = user
    if letter.printed_at is None:
        letter.printed_at = at
    letter.save(update_fields=["status", "posted_at", "posted_by", "printed_at"])
    return letter


def mark_all_posted(
    letters: QuerySet[Letter], user: User | None, now: datetime | None = None
) -> int:
    """Every printed letter went to the post; returns how many."""
    return printed_not_posted(letters).update(
        status=LetterStatus.POSTED, posted_at=now or clock_now(), posted_by=user
    )
