"""Lead capture's pages: the public endpoint the snippet posts to, and the owner's forms.

`/capture/<token>/` takes a lead from any site: a plain HTML form post (answered with the
thank-you page or a redirect) or a fetch with JSON (answered with JSON, errors as RFC 9457
problems). No session, no CSRF token: nothing of a signed-in user is acted on, and the
form's allowed sites are checked against the browser's Origin instead.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from kasatka.accounts.access import business_of, needs
from kasatka.api.ratelimit import take
from kasatka.engine.clock import now as clock_now
from kasatka.sales.forms import CONSENT_CHOICES

from . import actions
from .actions import Answer, Submission
from .forms import CaptureFormForm
from .models import CaptureForm

CORS_METHODS = "POST, OPTIONS"
CORS_HEADERS = "Content-Type, Accept, Idempotency-Key"
CORS_MAX_AGE = "86400"


def _wants_json(request: HttpRequest) -> bool:
    return request.content_type == "application/json" or "application/json" in request.headers.get(
        "Accept", ""
    )


def _own_origin(request: HttpRequest) -> str:
    return f"{request.scheme}://{request.get_host()}".lower()


def _origin_allowed(request: HttpRequest, form: CaptureForm) -> bool:
    origin = request.headers.get("Origin", "").lower()
    return not origin or not form.origins or origin in form.origins or origin == _own_origin(
        request
    )


def _cors(request: HttpRequest, response: HttpResponse, form: CaptureForm | None) -> HttpResponse:
    """Let a page on another site read the answer: any site when the form names none,
    else the one that asked if it is named (never with cookies: there are none to send)."""
    origin = request.headers.get("Origin", "")
    if form is None or not form.origins:
        response["Access-Control-Allow-Origin"] = "*"
    else:
        response["Vary"] = "Origin"
        if origin and _origin_allowed(request, form):
            response["Access-Control-Allow-Origin"] = origin
    response["Access-Control-Expose-Headers"] = "Retry-After"
    return response


def _json(answer: Answer) -> HttpResponse:
    return HttpResponse(
        json.dumps(answer.body, ensure_ascii=False), status=answer.status,
        content_type="application/problem+json" if answer.is_problem else "application/json",
    )


def _retry_after(response: HttpResponse, wait: float) -> HttpResponse:
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def _limited(request: HttpRequest, form: CaptureForm) -> float:
    """Seconds to wait when this IP or this form posts too often; 0.0 when not."""
    limits = settings.KASATKA_CAPTURE
    ip = request.META.get("REMOTE_ADDR", "") or "unknown"
    checks = (
        (f"capture:ip:{ip}", limits["PER_IP_PER_MINUTE"], limits["PER_IP_BURST"]),
        (f"capture:form:{form.pk}", limits["PER_FORM_PER_MINUTE"], limits["PER_FORM_BURST"]),
    )
    for key, per_minute, burst in checks:
        if per_minute > 0:
            wait = take(key, per_minute, burst)
            if wait:
                return wait
    return 0.0


def _submission(request: HttpRequest) -> Submission:
    """The posted lead, from JSON or a form post; ValidationError keyed by field."""
    referer = [request.headers.get("Referer", "")]
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            not_json = ValidationError(_("The body is not JSON."))
            raise ValidationError({"request": [not_json]}) from exc
        if not isinstance(data, dict):
            raise ValidationError({"request": [ValidationError(_("Send a JSON object."))]})
        consent = data.get("consent") or []
        return actions.read_submission(
            data, consent if isinstance(consent, list) else [consent], referer
        )
    return actions.read_submission(request.POST, request.POST.getlist("consent"), referer)


def _success_body(form: CaptureForm) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": True, "message": _("Thank you! We will get in touch soon.")}
    if form.thank_you_url:
        body["redirect"] = form.thank_you_url
    return body


def _page(
    request: HttpRequest, form: CaptureForm, *, status: int = 200,
    values: Submission | None = None, errors: dict[str, str] | None = None,
) -> HttpResponse:
    return render(request, "capture/page.html", {
        "business": form.business, "snippet": snippet(request, form, values, errors or {}),
    }, status=status)


def _html(request: HttpRequest, form: CaptureForm, answer: Answer, sub: Submission | None) -> (
    HttpResponse
):
    if answer.status < 400:
        if form.thank_you_url:
            return HttpResponseRedirect(form.thank_you_url, status=303)
        return render(request, "capture/thanks.html", {"business": form.business})
    errors = {e["field"]: e["reason"] for e in answer.body.get("errors", [])}
    return _page(request, form, status=answer.status, values=sub, errors=errors)


@csrf_exempt
def capture(request: HttpRequest, token: str) -> HttpResponse:
    """The public lead endpoint (see the module's docstring)."""
    form = actions.find_form(token)
    if request.method == "OPTIONS":  # a CORS preflight: what may be sent
        response = HttpResponse(status=204 if form is not None else 404)
        response["Access-Control-Allow-Methods"] = CORS_METHODS
        response["Access-Control-Allow-Headers"] = CORS_HEADERS
        response["Access-Control-Max-Age"] = CORS_MAX_AGE
        return _cors(request, response, form)
    wants_json = _wants_json(request)
    if form is None:
        if wants_json:
            return _cors(request, _json(actions.problem_answer(404, "No such form.")), None)
        raise Http404
    translation.activate(form.business.language)
    if request.method == "GET":
        return _page(request, form)
    if request.method != "POST":
        response = HttpResponse(status=405)
        response["Allow"] = "GET, POST, OPTIONS"
        return response

    def respond(answer: Answer, sub: Submission | None = None) -> HttpResponse:
        if wants_json:
            return _cors(request, _json(answer), form)
        return _html(request, form, answer, sub)

    if not _origin_allowed(request, form):
        return _cors(request, _json(actions.problem_answer(
            403, "This form does not take posts from this site."
        )), form)
    if settings.KASATKA_CAPTURE["DEFER"]:
        return _accept(request, form, respond)
    wait = _limited(request, form)
    if wait:
        return _too_many(request, form, respond, wait)
    try:
        sub = _submission(request)
        key = request.headers.get("Idempotency-Key", "").strip()
        if key:
            actions.check_idempotency_key(key)
    except ValidationError as exc:
        return respond(actions.invalid(exc))
    if sub.honeypot:
        # Thanked like anyone, so that a bot learns nothing; only counted.
        actions.count_trapped(form)
        return respond(Answer(200, _success_body(form)), sub)
    answer = actions.capture_lead(
        form.business, sub,
        scope=f"form:{form.pk}",
        label=f"capture form «{form.name}»",
        default_source=form.default_source,
        offered=form.channel_keys,
        idempotency_key=key,
        success=_success_body(form),
    )
    return respond(answer, sub)


def _too_many(
    request: HttpRequest, form: CaptureForm, respond: Callable[..., HttpResponse], wait: float
) -> HttpResponse:
    answer = actions.problem_answer(429, "Too many posts: wait and send again.")
    if _wants_json(request):
        return _retry_after(respond(answer), wait)
    return _retry_after(
        render(request, "capture/busy.html", {"business": form.business}, status=429), wait
    )


def _accept(
    request: HttpRequest, form: CaptureForm, respond: Callable[..., HttpResponse]
) -> HttpResponse:
    """The lead checked without the database, then kept in the inbox (KASATKA_CAPTURE
    "DEFER"): one transaction holds the lead's row and the rate limits' counters, the
    counters last, so that their rows, the hottest of all, are held only for the commit.
    Over a limit, the transaction is rolled back: nothing of the post is kept."""
    sub: Submission | None = None
    answer: Answer | None = None
    try:
        sub = _submission(request)
        key = request.headers.get("Idempotency-Key", "").strip()
        if key:
            actions.check_idempotency_key(key)
        if not sub.honeypot:
            actions.check_submission(form.business, sub, form.channel_keys)
    except ValidationError as exc:
        answer = actions.invalid(exc)
    with transaction.atomic():
        if answer is None and sub is not None:
            if sub.honeypot:
                # Thanked like anyone, so that a bot learns nothing; only counted.
                actions.count_trapped(form)
                answer = Answer(200, _success_body(form))
            else:
                answer = actions.accept_lead(form, sub, _success_body(form), key)
        wait = _limited(request, form)
        if wait:
            transaction.set_rollback(True)
    if wait:
        return _too_many(request, form, respond, wait)
    assert answer is not None
    return respond(answer, sub)


def snippet(
    request: HttpRequest | None, form: CaptureForm, values: Submission | None = None,
    errors: dict[str, str] | None = None, *, for_embedding: bool = False,
) -> str:
    """The form's HTML: what the owner pastes into a site, and Kasatka's own page of it.

    Links are absolute (KASATKA_BASE_URL) when embedded elsewhere, relative on our page.
    """
    base = settings.KASATKA_BASE_URL if for_embedding else ""
    offered = set(form.channel_keys)
    with translation.override(form.business.language):
        return render_to_string("capture/_snippet.html", {
            "action": f"{base}/capture/{form.token}/",
            "script": f"{base}{static('capture/embed.js')}",
            "form": form,
            "choices": [(k, label) for k, label in CONSENT_CHOICES if k in offered],
            "values": values,
            "ticked": set(values.consent) if values else set(),
            "errors": errors or {},
            "for_embedding": for_embedding,
        })


# --- the owner's pages ----------------------------------------------------------------


@needs("settings")
def forms_list(request: HttpRequest) -> HttpResponse:
    """The business's capture forms, and a new one."""
    business = business_of(request.user)
    editor = CaptureFormForm(request.POST or None, initial={"channels": ["email", "sms"]})
    if request.method == "POST" and editor.is_valid():
        try:
            made = actions.save_form(
                CaptureForm(business=business, created_at=clock_now()), editor.cleaned_data
            )
        except ValidationError as exc:
            editor.add_error(None, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("capture:form", pk=made.pk)
    forms = CaptureForm.objects.filter(business=business).order_by("-is_active", "name", "id")
    return render(
        request, "capture/forms.html", {"forms": forms, "editor": editor, "business": business},
        status=400 if request.method == "POST" else 200,
    )


@needs("settings")
def form_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One form: its settings and the snippet to paste into a site."""
    business = business_of(request.user)
    form = CaptureForm.objects.filter(business=business, pk=pk).first()
    if form is None:
        raise Http404
    form.business = business
    editor = CaptureFormForm(request.POST or None, instance=form)
    if request.method == "POST" and editor.is_valid():
        try:
            actions.save_form(form, editor.cleaned_data)
        except ValidationError as exc:
            editor.add_error(None, exc)
        else:
            messages.success(request, _("Saved."))
            return redirect("capture:form", pk=form.pk)
    return render(request, "capture/form.html", {
        "form": form, "editor": editor,
        "code": snippet(request, form, for_embedding=True),
        "address": f"{settings.KASATKA_BASE_URL}/capture/{form.token}/",
    }, status=400 if request.method == "POST" else 200)
