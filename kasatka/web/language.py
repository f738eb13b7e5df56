"""Switching the language: remembered for the signed-in user, in a cookie for anyone."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import translation
from django.views.decorators.http import require_POST

from kasatka.accounts.models import User

from .navigation import form_next


@require_POST
def switch_language(request: HttpRequest) -> HttpResponse:
    """POST language=ru|en, next=<path>: the next page comes in that language."""
    response = HttpResponseRedirect(form_next(request) or "/")
    language = request.POST.get("language", "")
    if language not in {code for code, _name in settings.LANGUAGES}:
        return response
    user = request.user
    if isinstance(user, User) and user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    translation.activate(language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE or "Lax",
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
    )
    return response
