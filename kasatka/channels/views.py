"""The one webhook endpoint of all providers: /hooks/<account>/<key>/.

The key in the address is a secret of its own (providers without signatures rely on
it); each channel then checks its provider's signature. Anything forged gets 403 and
leaves no trace.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from .base import WebhookForbidden
from .binding import check_hook_key, hook_key
from .inbound import apply_events
from .models import ProviderAccount
from .registry import get_channel

log = logging.getLogger("kasatka.channels")


def hook_url(account: ProviderAccount) -> str:
    """The address to give the provider for its status and inbound webhooks."""
    path = reverse("channel_hook", kwargs={"account_id": account.pk, "key": hook_key(account.pk)})
    return settings.KASATKA_BASE_URL + path


@csrf_exempt  # providers carry no cookie; the key and the signature are the credentials
def webhook(request: HttpRequest, account_id: int, key: str) -> HttpResponse:
    if not check_hook_key(account_id, key):
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    account = ProviderAccount.objects.filter(pk=account_id).select_related("business").first()
    if account is None:
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    try:
        channel = get_channel(account.channel, account)
    except LookupError:
        return HttpResponse("no such channel", status=404, content_type="text/plain")
    try:
        reply = channel.handle_webhook(request)
    except WebhookForbidden as exc:
        log.warning("webhook for account %s refused: %s", account_id, exc)
        return HttpResponse("forbidden", status=403, content_type="text/plain")
    except ValueError as exc:
        # Malformed JSON or form: say so; a provider retries what it thinks we lost.
        log.warning("webhook for account %s unreadable: %s", account_id, exc)
        return HttpResponse(f"bad request: {exc}", status=400, content_type="text/plain")
    outcomes = apply_events(account, reply.events)
    reply = channel.respond(reply, outcomes)
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)
