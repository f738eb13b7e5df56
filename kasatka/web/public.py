"""Pages a contact reaches without logging in: the unsubscribe link and RFC 8058 one-click."""

from __future__ import annotations

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt

from kasatka.chains.actions import mark_unsubscribed
from kasatka.contacts.actions import withdraw_consent
from kasatka.contacts.models import Channel, ConsentBasis, Contact, Purpose
from kasatka.contacts.unsubscribe import read_token


# The signed token is the credential; mail clients POST here without any cookie.
@csrf_exempt
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = read_token(token)
    except signing.BadSignature:
        return render(request, "web/unsubscribe_invalid.html", status=404)
    contact = Contact.objects.select_related("business").filter(pk=data.contact_id).first()
    if contact is None:
        return render(request, "web/unsubscribe_invalid.html", status=404)
    translation.activate(contact.language or contact.business.language)
    context = {"contact": contact, "business": contact.business, "channel": data.channel}
    if request.method != "POST":
        # A GET only shows the question: link scanners must not unsubscribe anyone.
        return render(request, "web/unsubscribe.html", context)

    one_click = request.POST.get("List-Unsubscribe") == "One-Click"
    everything = request.POST.get("scope") == "all"
    source = f"touch {data.touch_key}" if data.touch_key else "unsubscribe link"
    basis = ConsentBasis.ONE_CLICK if one_click else ConsentBasis.UNSUBSCRIBE
    channels = list(Channel.values) if everything else [data.channel]
    purposes = list(Purpose.values) if everything else [Purpose.COMMERCIAL]
    for channel in channels:
        withdraw_consent(contact, channel, basis, source, purposes)
    if data.touch_key:
        mark_unsubscribed(data.touch_key)
    if one_click:
        return HttpResponse(status=200)
    return render(request, "web/unsubscribed.html", {**context, "everything": everything})
