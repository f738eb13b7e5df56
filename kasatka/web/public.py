"""Pages a contact reaches without logging in: the preference page behind the unsubscribe
link (with RFC 8058 one-click), and the double opt-in confirmation.

The signed token is the credential: it names one contact, and nothing on these pages can
reach another one. A GET never changes anything, so that the link scanners of mail
services, which open every link of a message, unsubscribe or confirm no one.
"""

from __future__ import annotations

from typing import Any

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.csrf import csrf_exempt

from kasatka.chains.actions import mark_unsubscribed
from kasatka.contacts import actions
from kasatka.contacts.actions import (
    apply_preferences,
    confirm_consent,
    consent_states,
    withdraw_consent,
    withdraw_everything,
)
from kasatka.contacts.models import (
    CHANNEL_ADDRESS_KIND,
    Channel,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
)
from kasatka.contacts.unsubscribe import UnsubscribeToken, read_confirm_token, read_token


def _invalid(request: HttpRequest) -> HttpResponse:
    return render(request, "web/unsubscribe_invalid.html", status=404)


def _activate(contact: Contact) -> None:
    translation.activate(contact.language or contact.business.language)


# The signed token is the credential; mail clients POST here without any cookie.
@csrf_exempt
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The preference page: channels × purposes, "from everything", one-click."""
    try:
        data = read_token(token)
    except signing.BadSignature:
        return _invalid(request)
    contact = Contact.objects.select_related("business").filter(pk=data.contact_id).first()
    if contact is None:
        return _invalid(request)
    _activate(contact)
    context: dict[str, Any] = {
        "contact": contact, "business": contact.business, "channel": data.channel,
        "channel_label": Channel(data.channel).label,
    }
    if request.method != "POST":
        return render(request, "web/unsubscribe.html", {**context, **_grid(contact, data)})

    source = f"touch {data.touch_key}" if data.touch_key else "unsubscribe link"
    if request.POST.get("List-Unsubscribe") == "One-Click":
        # RFC 8058: the mail client's one POST withdraws offers on this channel, no page.
        withdraw_consent(contact, data.channel, ConsentBasis.ONE_CLICK, source)
        _mark(data)
        return HttpResponse(status=200)
    scope = request.POST.get("scope")
    if scope == "all":
        withdraw_everything(contact, ConsentBasis.UNSUBSCRIBE, source)
        _mark(data)
        return render(request, "web/unsubscribed.html", {**context, "everything": True})
    if scope == "preferences":
        wanted = {cell: f"{cell[0]}:{cell[1]}" in request.POST for cell in _shown(request)}
        entries = apply_preferences(contact, wanted, f"preference page, {source}")
        if any(e.channel == data.channel and e.purpose == Purpose.COMMERCIAL
               and e.status == ConsentStatus.WITHDRAWN for e in entries):
            _mark(data)
        return render(request, "web/unsubscribe.html",
                      {**context, **_grid(contact, data), "saved": True})
    withdraw_consent(contact, data.channel, ConsentBasis.UNSUBSCRIBE, source)
    _mark(data)
    return render(request, "web/unsubscribed.html", {**context, "everything": False})


def _mark(data: UnsubscribeToken) -> None:
    if data.touch_key:
        mark_unsubscribed(data.touch_key)


def _shown(request: HttpRequest) -> list[tuple[str, str]]:
    """The boxes the page showed (an unticked box is not posted): valid names only."""
    cells: list[tuple[str, str]] = []
    for name in request.POST.getlist("shown"):
        channel, _sep, purpose = name.partition(":")
        if channel in Channel.values and purpose in Purpose.values:
            cells.append((channel, purpose))
    return list(dict.fromkeys(cells))


def _grid(contact: Contact, data: UnsubscribeToken) -> dict[str, Any]:
    """The contact's channels (an address or a history on them) × purposes, as they stand."""
    from kasatka.engine.rules import consent_allows

    states = consent_states([contact.pk])
    kinds = set(contact.addresses.values_list("kind", flat=True))
    with_history = {channel for (_c, channel, _p) in states}
    channels = [
        c for c in Channel.values
        if c == data.channel or c in with_history or CHANNEL_ADDRESS_KIND[c] in kinds
    ]
    rows = []
    for channel in channels:
        cells = []
        for purpose in Purpose.values:
            state = states.get((contact.pk, channel, purpose))
            cells.append({
                "name": f"{channel}:{purpose}",
                "on": consent_allows(states, contact.pk, channel, purpose == Purpose.COMMERCIAL),
                "pending": state == ConsentStatus.PENDING,
            })
        rows.append({"channel": channel, "label": Channel(channel).label, "cells": cells})
    return {"rows": rows, "purposes": [label for _v, label in Purpose.choices]}


@csrf_exempt
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """Double opt-in: the link of the confirmation mail. GET asks, POST confirms."""
    try:
        consent_id, contact_id = read_confirm_token(token)
    except signing.BadSignature:
        return _invalid(request)
    consent = (
        Consent.objects.select_related("contact__business")
        .filter(pk=consent_id, contact_id=contact_id).first()
    )
    if consent is None:
        return _invalid(request)
    contact = consent.contact
    _activate(contact)
    context = {"contact": contact, "business": contact.business}
    if request.method != "POST":
        return render(request, "web/confirm.html", {**context, "outcome": ""})
    outcome = confirm_consent(consent)
    return render(request, "web/confirm.html", {
        **context, "outcome": outcome,
        "confirmed": outcome in (actions.CONFIRMED, actions.ALREADY_CONFIRMED),
    })
