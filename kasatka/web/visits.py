"""Pages of sales: recording a visit, today's visits, the qualification card, the lead form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import phonenumbers
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Exists, OuterRef, Prefetch, Q
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from kasatka.accounts.access import business_of, get_scoped, needs, scope_to_user, sees_whole_team
from kasatka.accounts.models import Business, User
from kasatka.contacts.actions import address_is, normalise_email, normalise_phone
from kasatka.contacts.models import Address, AddressKind, Contact
from kasatka.engine.clock import now as clock_now
from kasatka.sales.actions import (
    ReachableBy,
    active_loss_reasons,
    ensure_default_loss_reasons,
    record_visit_from_form,
    update_qualification,
)
from kasatka.sales.forms import LeadForm, QualificationForm, VisitForm, consent_channels
from kasatka.sales.intake import UTM_KEYS, create_lead
from kasatka.sales.models import Visit, VisitType


def _put_errors(form: Form, exc: ValidationError) -> None:
    """An action's errors on the form: on their field when the form has it, else on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@needs("sell")
def new_visit(request: HttpRequest) -> HttpResponse:
    """The seller's form, built to be filled in on a phone between two clients."""
    user: User = request.user  # type: ignore[assignment]
    business = business_of(user)
    ensure_default_loss_reasons(business)
    team = sees_whole_team(user)
    reasons = active_loss_reasons(business)
    form = VisitForm(
        request.POST if request.method == "POST" else None,
        business=business, user=user, team=team, reasons=reasons,
        initial=_prefill(user, request.GET.get("contact")),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            visit = record_visit_from_form(
                business,
                seller=form.chosen_seller(),
                bought=data["bought"],
                contacts_taken=data["contacts_taken"],
                name=data["name"],
                phone=data["phone"],
                email=data["email"],
                consent_channels=consent_channels(data["consent"]),
                amount=data["amount"],
                on_promotion=bool(data["on_promotion"]),
                loss_reason=form.chosen_reason(),
                note=data["note"],
                qualification=form.qualification(),
            )
        except ValidationError as exc:
            _put_errors(form, exc)
        else:
            messages.success(request, _visit_message(visit))
            return redirect("web:new_visit")
    status = 400 if form.is_bound else 200
    return render(request, "web/visit_form.html", {"form": form, "team": team}, status=status)


def _prefill(user: User, contact_id: str | None) -> dict[str, Any]:
    """"Record a visit" from a contact card: their phone and e-mail find them again."""
    if not contact_id or not contact_id.isdigit():
        return {}
    contact: Contact = get_scoped(user, Contact.objects.all(), "owner", int(contact_id))
    addresses = {a.kind: a.value for a in contact.addresses.order_by("-is_primary", "-id")}
    return {
        "contacts_taken": "yes",
        "name": contact.full_name,
        "phone": addresses.get("phone", ""),
        "email": addresses.get("email", ""),
    }


def _visit_message(visit: Visit) -> str:
    label = VisitType(visit.visit_type).label
    if visit.contact is not None:
        return _("Recorded: %(type)s — %(contact)s") % {"type": label, "contact": visit.contact}
    return _("Recorded: %(type)s") % {"type": label}


def _today_bounds(business: Business) -> tuple[datetime, datetime]:
    today = clock_now().astimezone(business.zone).date()
    start = datetime.combine(today, time(0), tzinfo=business.zone)
    return start, start + timedelta(days=1)


@needs("sell")
def visit_list(request: HttpRequest) -> HttpResponse:
    """Today's visits: the seller's own, or the whole team's for an owner; counts by type."""
    user: User = request.user  # type: ignore[assignment]
    business = business_of(user)
    team = sees_whole_team(user)
    start, end = _today_bounds(business)
    visits = Visit.objects.filter(business=business, occurred_at__gte=start, occurred_at__lt=end)
    if not team:
        visits = visits.filter(seller=user)
    by_type = dict(visits.values_list("visit_type").annotate(n=Count("id")).order_by())
    counts = [(t.value, t.label, by_type.get(t.value, 0)) for t in VisitType]
    total = sum(by_type.values())
    taken = by_type.get(VisitType.BOUGHT_CONTACTS_TAKEN, 0) + by_type.get(
        VisitType.LEFT_CONTACTS_TAKEN, 0
    )
    rows = visits.select_related("contact", "seller", "loss_reason").order_by("-occurred_at")
    return render(
        request,
        "web/visits.html",
        {
            "visits": rows[:500],
            "counts": counts,
            "total": total,
            "taken": taken,
            "team": team,
            "day": start.date(),
            "zone": business.time_zone,  # "today" and the times are the shop's
        },
    )


@needs("sell")
def qualification(request: HttpRequest, pk: int) -> HttpResponse:
    """The qualification card of a contact: seen and edited by whoever may see the card."""
    user: User = request.user  # type: ignore[assignment]
    contact: Contact = get_scoped(user, Contact.objects.all(), "owner", pk)
    form = QualificationForm.for_contact(contact, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            update_qualification(contact, form.qualification())
        except ValidationError as exc:
            _put_errors(form, exc)
        else:
            messages.success(request, _("The qualification card is saved."))
            return redirect("web:contact", pk=contact.pk)
    status = 400 if form.is_bound else 200
    return render(
        request, "web/qualification.html", {"contact": contact, "form": form}, status=status
    )


# --- the public lead form ---------------------------------------------------------------

# Exempt from CSRF because a shop embeds this form on its own site, where no Kasatka cookie
# exists; the form acts for no signed-in user, so there is nothing to forge. What it must
# resist is spam: a honeypot field that people never see and bots fill in.
@csrf_exempt
def lead_form(request: HttpRequest, slug: str) -> HttpResponse:
    business = get_object_or_404(Business, slug=slug)
    translation.activate(business.language)
    if request.method == "POST":
        posted = request.POST.copy()
        for key in UTM_KEYS:  # the form's hidden fields, else the address the form posted to
            if not posted.get(key) and request.GET.get(key):
                posted[key] = request.GET[key]
        form = LeadForm(posted)
    else:
        form = LeadForm(initial={k: request.GET.get(k, "") for k in UTM_KEYS})
    context = {"business": business, "form": form}
    if request.method != "POST" or not form.is_valid():
        return render(request, "web/lead_form.html", context, status=400 if form.is_bound else 200)
    if form.is_bot():
        # Thanked like anyone, so that a bot learns nothing; nothing is saved.
        return render(request, "web/lead_thanks.html", context)
    data: dict[str, Any] = form.cleaned_data
    try:
        create_lead(
            business,
            name=data["name"],
            phone=data["phone"],
            email=data["email"],
            utm=form.utm(),
            consent=consent_channels(data["consent"]),
        )
    except ValidationError as exc:
        _put_errors(form, exc)
        return render(request, "web/lead_form.html", context, status=400)
    return render(request, "web/lead_thanks.html", context)


# --- duplicates while typing ----------------------------------------------------------------

# Enough to recognise the client; more would be a list of strangers on a phone screen.
DUPLICATES_SHOWN = 5


@dataclass(frozen=True)
class Duplicate:
    """A contact of the business that has the phone or e-mail being typed.

    `visible` is false for another seller's client: the seller learns only the name and
    whose client it is, not their card, phone or e-mail. "This is them" fills the form with
    the contact's name, and with `fill_phone`/`fill_email` only where what was typed is not
    an address: a new e-mail the client just gave is kept, and added to the card.
    """

    contact: Contact
    visible: bool
    phone: str = ""
    email: str = ""
    fill_phone: str = ""
    fill_email: str = ""

    @property
    def phone_shown(self) -> str:
        """The phone as people read it: "+7 916 123-45-67"."""
        try:
            number = phonenumbers.parse(self.phone)
        except phonenumbers.NumberParseException:
            return self.phone  # empty, or an old row stored before phones were normalised
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _typed(normalise: Callable[..., str], value: str, *args: str) -> str:
    """The normal form of a phone or e-mail being typed, or "" while it is not one yet."""
    if not value.strip():
        return ""
    try:
        return normalise(value, *args)
    except ValidationError:
        return ""


def find_duplicates(user: User, phone: str, email: str) -> list[Duplicate]:
    """The user's business's contacts with this phone (in any spelling) or e-mail."""
    business = business_of(user)
    typed = ReachableBy(  # cut first: no box of the form holds more, and a query string may
        phone=_typed(normalise_phone, phone[:60], business.country),
        email=_typed(normalise_email, email[:300]),
    )
    wanted = Q()
    if typed.phone:
        wanted |= address_is(AddressKind.PHONE, typed.phone)
    if typed.email:
        wanted |= address_is(AddressKind.EMAIL, typed.email)
    if not wanted:
        return []
    matching = Address.objects.filter(wanted, business=business).values("contact_id")
    seen_by_user = scope_to_user(user, Contact.objects.all(), "owner")
    contacts = (
        Contact.objects.filter(business=business, pk__in=matching)
        .annotate(visible=Exists(seen_by_user.filter(pk=OuterRef("pk"))))
        .select_related("owner")
        .prefetch_related(
            Prefetch(
                "addresses",
                queryset=Address.objects.filter(
                    kind__in=(AddressKind.PHONE, AddressKind.EMAIL)
                ).order_by("-is_primary", "id"),
                to_attr="reach",
            )
        )
        .order_by("-visible", "pk")[:DUPLICATES_SHOWN]
    )
    found = []
    for contact in contacts:
        if not contact.visible:
            found.append(Duplicate(contact, visible=False))
            continue
        first: dict[str, str] = {}
        for address in contact.reach:
            first.setdefault(address.kind, address.value)
        known = ReachableBy(first.get(AddressKind.PHONE, ""), first.get(AddressKind.EMAIL, ""))
        found.append(
            Duplicate(
                contact, True, known.phone, known.email,
                fill_phone="" if typed.phone else known.phone,
                fill_email="" if typed.email else known.email,
            )
        )
    return found


@needs("sell")
def duplicates(request: HttpRequest) -> HttpResponse:
    """Contacts that already have the phone or e-mail being typed on the visit form.

    Asked by htmx while the seller types; what is not yet a phone or an e-mail finds
    nothing, never an error.
    """
    user: User = request.user  # type: ignore[assignment]
    found = find_duplicates(user, request.GET.get("phone", ""), request.GET.get("email", ""))
    if not found:
        return HttpResponse("")  # truly empty, so that the box under the phone disappears
    return render(request, "web/_duplicates.html", {"duplicates": found})
