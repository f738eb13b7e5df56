"""The print queue: letters to print, the PDFs to print them from, marking them posted.

A seller sees the letters of their own clients (and unassigned ones), the owner and
head of sales the whole shop's, through the same access helpers as the call list.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from kasatka.accounts.access import business_of, get_scoped, needs, scope_to_user
from kasatka.engine.clock import now as clock_now

from . import actions, pdf
from .models import Letter


def _letters(request: HttpRequest) -> QuerySet[Letter]:
    return scope_to_user(
        request.user,  # type: ignore[arg-type]
        Letter.objects.select_related("business", "contact"),
        "contact__owner",
    )


def _letter(request: HttpRequest, pk: int) -> Letter:
    """One letter the user may see, or 404 (another shop's, another seller's client's)."""
    letter: Letter = get_scoped(
        request.user,  # type: ignore[arg-type]
        Letter.objects.select_related("business"),
        "contact__owner",
        pk,
    )
    return letter


def _pdf_response(content: bytes, filename: str, attachment: bool = True) -> HttpResponse:
    disposition = "attachment" if attachment else "inline"
    return HttpResponse(
        content,
        content_type="application/pdf",
        headers={"Content-Disposition": f'{disposition}; filename="{filename}"'},
    )


@needs("sell")
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    business = business_of(request.user)
    today = actions.business_today(business)
    letters = _letters(request)
    context: dict[str, Any] = {
        "today": today,
        "to_print": actions.to_print(letters, today)[:500],
        "printed": actions.printed_not_posted(letters)[:500],
    }
    return render(request, "letters/queue.html", context)


@needs("sell")
@require_POST
def print_run(request: HttpRequest) -> HttpResponse:
    """The PDF of every letter due and not yet printed; they are marked printed.

    A POST, not a link: it changes the letters, and a link could be fetched by a
    browser's prefetch or a crawler and silently empty the queue.
    """
    business = business_of(request.user)
    now = clock_now()
    today = actions.business_today(business, now)
    letters = actions.take_print_run(_letters(request), today, now)
    if not letters:
        messages.info(request, _("There are no letters to print."))
        return redirect("letters:queue")
    return _pdf_response(pdf.letters_pdf(business, letters, today), f"letters-{today}.pdf")


@needs("sell")
@require_GET
def reprint(request: HttpRequest) -> HttpResponse:
    """The letters printed but not posted, again (the printer jammed); nothing changes."""
    business = business_of(request.user)
    today = actions.business_today(business)
    letters = list(actions.printed_not_posted(_letters(request)))
    if not letters:
        messages.info(request, _("No printed letters are waiting to be posted."))
        return redirect("letters:queue")
    return _pdf_response(pdf.letters_pdf(business, letters, today), f"letters-{today}.pdf")


@needs("sell")
@require_GET
def labels(request: HttpRequest) -> HttpResponse:
    """Address labels for the letters on their way: printed ones and those due to print.

    It covers both so that it matches the letters whether it is downloaded before or
    after them, and leaves the statuses alone: only printing the letters prints them.
    """
    business = business_of(request.user)
    today = actions.business_today(business)
    letters = _letters(request)
    run = [*actions.printed_not_posted(letters), *actions.to_print(letters, today)]
    if not run:
        messages.info(request, _("There are no letters to label."))
        return redirect("letters:queue")
    return _pdf_response(pdf.labels_pdf(business, run), f"labels-{today}.pdf")


@needs("sell")
@require_GET
def letter_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """One letter as a PDF, to look at before printing; its status does not change."""
    letter = _letter(request, pk)
    today = actions.business_today(letter.business)
    return _pdf_response(pdf.letter_pdf(letter, today), f"letter-{letter.pk}.pdf", False)


@needs("sell")
@require_POST
def post_letter(request: HttpRequest, pk: int) -> HttpResponse:
    letter = _letter(request, pk)
    try:
        actions.mark_posted(letter, request.user)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Marked posted."))
    return redirect("letters:queue")


@needs("sell")
@require_POST
def post_all(request: HttpRequest) -> HttpResponse:
    """Every printed letter the user sees went to the post."""
    business_of(request.user)
    count = actions.mark_all_posted(_letters(request), request.user)  # type: ignore[arg-type]
    messages.success(
        request,
        ngettext("%(n)d letter marked posted.", "%(n)d letters marked posted.", count)
        % {"n": count},
    )
    return redirect("letters:queue")
