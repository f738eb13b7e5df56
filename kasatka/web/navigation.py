"""Where a form goes back to: the page it names in `next`, when that page is one of ours."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def form_next(request: HttpRequest) -> str:
    """The form's `next` (POST) if it is a page of this site, else "" (no open redirect)."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def back(request: HttpRequest, default: str, *args: Any, **kwargs: Any) -> HttpResponse:
    """To the form's `next`, else to the named URL `default` (with its arguments)."""
    response: HttpResponse = redirect(form_next(request) or default, *args, **kwargs)
    return response
