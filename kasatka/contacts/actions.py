"""Business actions on contacts: create with validated addresses, consent, address state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email
from phonenumbers import timezone as phone_timezone

from kasatka.accounts.models import Business, User
from kasatka.dbutil import ids_in
from kasatka.engine.clock import now as clock_now

from .models import (
    Address,
    AddressKind,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
)


def normalise_phone(value: str, region: str = "RU") -> str:
    """E.164 form of a phone number, or a ValidationError that says what is wrong."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(
            _("“%(value)s” is not a phone number: %(reason)s"),
            params={"value": value, "reason": exc._msg},
            code="phone",
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("“%(value)s” is not a valid phone number"), params={"value": value}, code="phone"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    """The normalised form of an e-mail address (no DNS lookup), or a ValidationError."""
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationError(
            _("“%(value)s” is not a valid e-mail address: %(reason)s"),
            params={"value": value, "reason": str(exc)},
            code="email",
        ) from exc


def time_zone_for_phone(e164: str) -> str:
    """The time zone of a phone number when it has exactly one (a Moscow or Omsk mobile…)."""
    zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    return zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else ""


@dataclass(frozen=True)
class ConsentGrant:
    channel: str
    purpose: str = Purpose.COMMERCIAL
    basis: str = ConsentBasis.FORM
    source: str = ""


def create_contact(
    business: Business,
    *,
    first_name: str = "",
    last_name: str = "",
    patronymic: str = "",
    gender: str = "",
    birthday: date | None = None,
    company: str = "",
    time_zone: str = "",
    language: str = "",
    owner: User | None = None,
    source_id: int | None = None,
    phones: Sequence[str] = (),
    emails: Sequence[str] = (),
    consents: Iterable[ConsentGrant] = (),
    created_at: datetime | None = None,
) -> Contact:
    """Validate everything first, then save the contact, its addresses and consents at once.

    A bad phone or e-mail raises ValidationError keyed by field ("phones", "emails") and
    nothing is saved.
    """
    errors: dict[str, list[ValidationError]] = {}
    normal_phones: list[str] = []
    normal_emails: list[str] = []
    for raw in phones:
        try:
            normal_phones.append(normalise_phone(raw, business.country))
        except ValidationError as exc:
            errors.setdefault("phones", []).append(exc)
    for raw in emails:
        try:
            normal_emails.append(normalise_email(raw))
        except ValidationError as exc:
            errors.setdefault("emails", []).append(exc)
    if owner is not None and owner.business_id != business.pk:
        errors.setdefault("owner", []).append(
            ValidationError(_("The seller works for another business."), code="owner")
        )
    at = created_at or clock_now()
    contact = Contact(
        business=business,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        patronymic=patronymic.strip(),
        gender=gender,
        birthday=birthday,
        company=company.strip(),
        time_zone=time_zone or (time_zone_for_phone(normal_phones[0]) if normal_phones else ""),
        language=language or business.language,
        owner=owner,
        source_id=source_id,
        created_at=at,
    )
    try:
        contact.full_clean(exclude=["business", "owner", "source"])
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(ValidationError(m) for m in messages)
    if not (contact.first_name or contact.last_name or normal_phones or normal_emails):
        errors.setdefault("first_name", []).append(
            ValidationError(_("Give at least a name, a phone or an e-mail."), code="empty")
        )
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        contact.save()
        addresses = [
            Address(business=business, contact=contact, kind=AddressKind.PHONE, value=p,
                    is_primary=i == 0, created_at=at)
            for i, p in enumerate(dict.fromkeys(normal_phones))
        ] + [
            Address(business=business, contact=contact, kind=AddressKind.EMAIL, value=e,
                    is_primary=i == 0, created_at=at)
            for i, e in enumerate(dict.fromkeys(normal_emails))
        ]
        Address.objects.bulk_create(addresses)
        Consent.objects.bulk_create(
            Consent(business=business, contact=contact, channel=g.channel, purpose=g.purpose,
                    status=ConsentStatus.GRANTED, basis=g.basis, source=g.source, recorded_at=at)
            for g in consents
        )
    return contact


def record_consent(
    contact: Contact,
    channel: str,
    purpose: str,
    status: str,
    basis: str,
    source: str = "",
    at: datetime | None = None,
) -> Consent:
    """Append one entry to the consent history."""
    return Consent.objects.create(
        business_id=contact.business_id,
        contact=contact,
        channel=channel,
        purpose=purpose,
        status=status,
        basis=basis,
        source=source,
        recorded_at=at or clock_now(),
    )


def withdraw_consent(
    contact: Contact,
    channel: str,
    basis: str,
    source: str = "",
    purposes: Sequence[str] = (Purpose.COMMERCIAL,),
) -> list[Consent]:
    at = clock_now()
    with transaction.atomic():
        return [
            record_consent(contact, channel, p, ConsentStatus.WITHDRAWN, basis, source, at)
            for p in purposes
        ]


def consent_states(contact_ids: Iterable[int]) -> dict[tuple[int, str, str], str]:
    """The current consent status per (contact, channel, purpose): the newest entry wins."""
    states: dict[tuple[int, str, str], str] = {}
    rows = (
        ids_in(Consent.objects.all(), "contact_id", contact_ids)
        .order_by("recorded_at", "id")
        .values_list("contact_id", "channel", "purpose", "status")
    )
    for contact_id, channel, purpose, status in rows:
        states[(contact_id, channel, purpose)] = status
    return states


def set_address_state(
    address_ids: Sequence[int], state: str, reason: str, at: datetime | None = None
) -> int:
    """Mark addresses bounced/blocked/active with the reason, e.g. the server's answer."""
    fields: dict[str, Any] = {
        "state": state,
        "state_reason": reason[:500],
        "state_changed_at": at or clock_now(),
    }
    return Address.objects.filter(pk__in=address_ids).update(**fields)

