"""Errors as RFC 9457 problem details: `application/problem+json` with the field and reason.

    {"type": "https://kasatka.dev/problems/validation", "title": "The request is not valid",
     "status": 422, "detail": "…", "errors": [{"field": "phone", "reason": "…"}]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, Throttled
from ninja.errors import ValidationError as NinjaValidationError

PROBLEM_TYPES = "https://kasatka.dev/problems/"
MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    422: "The request is not valid",
    429: "Too many requests",
}
SLUGS = {
    400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
    409: "conflict", 413: "too-large", 422: "validation", 429: "rate-limited",
}


class FieldError(Schema):
    field: str
    reason: str


class Problem(Schema):
    type: str
    title: str
    status: int
    detail: str = ""
    errors: list[FieldError] = []


def problem_body(
    status: int, detail: str = "", errors: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    """The problem document of a status, as a dict (lead capture keeps it as it is)."""
    return {
        "type": PROBLEM_TYPES + SLUGS.get(status, "error"),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "errors": [{"field": f, "reason": r} for f, r in errors],
    }


def problem(
    status: int, detail: str = "", errors: Iterable[tuple[str, str]] = ()
) -> HttpResponse:
    return HttpResponse(
        json.dumps(problem_body(status, detail, errors), cls=DjangoJSONEncoder,
                   ensure_ascii=False),
        status=status, content_type=MEDIA_TYPE,
    )


def _loc(loc: Iterable[Any]) -> str:
    # Ninja puts where a value came from first ("body", "query", "path"): not the field.
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body" and len(parts) > 1:
        parts = parts[2:]  # then the view's parameter that holds the body: not a field either
    elif parts and parts[0] in {"query", "path", "header", "form", "cookie"}:
        parts = parts[1:]
    if parts and parts[0] == "payload":
        parts = parts[1:]
    return ".".join(parts) or "request"


def django_errors(exc: DjangoValidationError) -> list[tuple[str, str]]:
    if hasattr(exc, "error_dict"):
        return [
            ("request" if field == "__all__" else field, message)
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    return [("request", message) for message in exc.messages]


def _validation(request: HttpRequest, exc: Any) -> HttpResponse:
    errors = [(_loc(e.get("loc", ())), str(e.get("msg", ""))) for e in exc.errors]
    return problem(422, "Some fields are not valid.", errors)


def _django_validation(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem(422, "Some fields are not valid.", django_errors(exc))


def _throttled(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem(429, "Too many requests for this key: wait and retry.")


def _unauthenticated(request: HttpRequest, exc: Any) -> HttpResponse:
    response = problem(
        401, "Send a live API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`."
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


def _http(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem(exc.status_code, str(exc))


def _not_found(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem(404, "No such object in this business.")


def _no_object(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem(404, "No such object in this business.")


def _denied(request: HttpRequest, exc: Any) -> HttpResponse:
    return problem(403, str(exc) or "Not allowed.")


def install(api: NinjaAPI) -> None:
    """Make every error of `api` a problem document."""
    api.add_exception_handler(NinjaValidationError, _validation)
    api.add_exception_handler(DjangoValidationError, _django_validation)
    api.add_exception_handler(Throttled, _throttled)
    api.add_exception_handler(AuthenticationError, _unauthenticated)
    api.add_exception_handler(HttpError, _http)
    api.add_exception_handler(Http404, _not_found)
    api.add_exception_handler(ObjectDoesNotExist, _no_object)
    api.add_exception_handler(DjangoPermissionDenied, _denied)


# The error answers every operation may give, for `response=` of each route.
COMMON_PROBLEMS: dict[int, type[Problem]] = {
    400: Problem, 401: Problem, 403: Problem, 422: Problem, 429: Problem,
}
