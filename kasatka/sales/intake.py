"""Lead intake (LG, METHOD.md §3): a lead from a form or the API, found or created and
attributed to its source, so that ad spend can be judged."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business
from kasatka.contacts.actions import create_contact
from kasatka.contacts.models import ConsentBasis, Contact
from kasatka.engine.clock import now as clock_now

from . import conversion
from .actions import (
    ReachableBy,
    complete_contact,
    find_contact,
    grant_consents,
    normalise_reach,
    split_name,
)
from .models import LeadSource

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign")


class Lead(NamedTuple):
    contact: Contact
    is_new: bool


def _clean_utm(utm: Mapping[str, str]) -> dict[str, str]:
    return {k: (utm.get(k) or "").strip()[:200] for k in UTM_KEYS if (utm.get(k) or "").strip()}


def source_for(
    business: Business, utm: Mapping[str, str], source_name: str | None = None
) -> LeadSource | None:
    """The lead source a lead is attributed to, made on the fly when it is new.

    By the name the caller gives; else the existing source whose UTM values all match
    (the most specific one: a source for "yandex / cpc / kitchens" beats one for "yandex";
    case does not matter, ad platforms are not consistent about it); else a new source
    named from the UTM values. No name and no UTM: no source (a direct visit).
    """
    values = _clean_utm(utm)
    name = (source_name or "").strip()[:200]
    sources = LeadSource.objects.filter(business=business)
    if name:
        # Compared in Python: SQLite folds the case of ASCII letters only, not Cyrillic.
        wanted_name = name.casefold()
        for source in sources.order_by("id"):
            if source.name.casefold() == wanted_name:
                return source
        # get_or_create: two leads naming a new source at once make it once.
        made, _created = LeadSource.objects.get_or_create(
            business=business, name=name, defaults=values
        )
        return made
    if not values:
        return None
    best: LeadSource | None = None
    best_score = 0
    candidates = sources.exclude(utm_source="", utm_medium="", utm_campaign="").order_by("id")
    for source in candidates:
        wanted = {k: getattr(source, k) for k in UTM_KEYS if getattr(source, k)}
        if all(values.get(k, "").casefold() == v.casefold() for k, v in wanted.items()):
            if len(wanted) > best_score:
                best, best_score = source, len(wanted)
    if best is not None:
        return best
    name = " / ".join(values[k] for k in UTM_KEYS if k in values)[:200]
    source, _created = LeadSource.objects.get_or_create(
        business=business, name=name, defaults=values
    )
    return source


def lock_reach(business: Business, reach: ReachableBy) -> None:
    """Hold, until the transaction ends, the lock of this phone and e-mail in the business,
    so that a burst of the same lead finds the contact the first one made."""
    lock_addresses(business, [reach.phone] if reach.phone else [],
                   [reach.email] if reach.email else [])


def lock_addresses(business: Business, phones: Iterable[str], emails: Iterable[str]) -> None:
    """Hold, until the transaction ends, the locks of these (normalised) phones and e-mails
    in the business: whoever finds-or-creates a contact by them — a lead, the API — takes
    them first, so two requests for one person find each other's contact.

    PostgreSQL: transaction-level advisory locks, taken in a fixed order (no deadlock).
    SQLite needs none: every write transaction begins IMMEDIATE and so runs alone.
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted({
        int.from_bytes(
            # E-mails whatever the case of their letters, as `address_is` finds them.
            hashlib.blake2b(
                f"{business.pk}:{kind}:{value.lower() if kind == 'email' else value}".encode(),
                digest_size=8,
            ).digest(),
            "big", signed=True,
        )
        for kind, values in (("phone", phones), ("email", emails))
        for value in values
    })
    with connection.cursor() as cursor:
        for key in keys:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def create_lead(
    business: Business,
    *,
    name: str = "",
    phone: str = "",
    email: str = "",
    utm: Mapping[str, str] | None = None,
    source_name: str | None = None,
    consent: Iterable[str] = (),
    consent_source: str = "",
    at: datetime | None = None,
) -> Lead:
    """A lead left a contact: find or create them, attribute the source, record consent.

    `consent` is the channels the lead agreed to be written to by. The first touch keeps
    the lead: a contact who already has a source keeps it, whatever brought them back.
    A new lead starts its lead-conversion window. `consent_source` says where the consent
    was given (the form and the text shown); by default the source's name. Raises
    ValidationError (keyed "phone", "email") when the lead cannot be reached.
    """
    at = at or clock_now()
    reach = normalise_reach(business, phone, email)
    if not (reach.phone or reach.email):
        raise ValidationError(
            {"phone": [ValidationError(_("Leave a phone or an e-mail."), code="required")]}
        )
    person = split_name(name)
    with transaction.atomic():
        lock_reach(business, reach)
        source = source_for(business, utm or {}, source_name)
        contact = find_contact(business, reach)
        is_new = contact is None
        if contact is None:
            contact = create_contact(
                business,
                first_name=person.first_name,
                last_name=person.last_name,
                patronymic=person.patronymic,
                source_id=source.pk if source else None,
                phones=[reach.phone] if reach.phone else [],
                emails=[reach.email] if reach.email else [],
                created_at=at,
            )
        else:
            complete_contact(contact, person, reach, at)
            if contact.source_id is None and source is not None:
                contact.source = source
                contact.save(update_fields=["source", "updated_at"])
        where = consent_source or (f"lead form: {source.name}" if source else "lead form")
        grant_consents(contact, consent, ConsentBasis.FORM, where[:300], at)
        if is_new:
            conversion.start_lead_conversion(contact, at)
    return Lead(contact, is_new)
