"""Settings → API keys: the owner lists, makes and revokes the business's keys.

A new key's plain text is in the answer to the POST that made it, and nowhere else: not in
the database (only its hash), not in a message or the session, not cacheable. Only the
owner (`integrations`) opens these pages: a key hands the business's data to another system.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kasatka.accounts.access import needs, user_of

from .forms import ApiKeyForm
from .keys import issue_key, revoke_key
from .models import ApiKey


def _keys_page(request: HttpRequest, form: ApiKeyForm, status: int = 200) -> HttpResponse:
    user = user_of(request)
    keys = ApiKey.objects.filter(business=user.business).select_related("created_by").order_by(
        "revoked_at", "-created_at", "-id"
    )
    return render(request, "apikeys/list.html", {"form": form, "keys": keys}, status=status)


@needs("integrations")
def key_list(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    if request.method != "POST":
        return _keys_page(request, ApiKeyForm())
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, form, status=400)
    assert user.business is not None
    try:
        issued = issue_key(user.business, form.cleaned_data["name"], form.cleaned_data["scope"],
                           by=user)
    except ValidationError as exc:
        form.add_error(None, exc)
        return _keys_page(request, form, status=400)
    response = render(request, "apikeys/created.html", {
        "key": issued.key, "plain": issued.plain,
        "check_url": request.build_absolute_uri(reverse("api:api-root") + "keys/me"),
    })
    # The only copy of the plain key: no cache, no back-button copy of it.
    patch_cache_control(response, no_store=True, no_cache=True, private=True)
    return response


@needs("integrations")
@require_POST
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user = user_of(request)
    key = ApiKey.objects.filter(business=user.business, pk=pk).first()
    if key is None:
        raise Http404
    revoke_key(key)
    messages.success(request, _("The key is revoked: calls with it are refused from now on."))
    return redirect("apikeys:list")
