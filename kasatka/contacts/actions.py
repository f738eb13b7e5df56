"""Business actions on contacts: create with validated addresses, consent, address state.

The consent history is where the guardrails of issue 7 hook in (docs/consent.md): a
grant by import or API cannot put back a suppressed address, an e-mail grant from a form
waits for its confirmation under double opt-in, a new explicit consent lifts the
suppression the contact's own "no" had set, and a withdrawal protects the address.
"""

from __future__ import annotations

import functools
import logging
import smtplib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import formataddr
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email
from phonenumbers import timezone as phone_timezone

from kasatka.accounts.models import Business, User, sending_rules
from kasatka.dbutil import ids_in
from kasatka.engine.clock import now as clock_now
from kasatka.webhooks import events as webhooks

from . import suppression
from .models import (
    CHANNEL_ADDRESS_KIND,
    Address,
    AddressKind,
    AddressState,
    Channel,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
    SuppressionReason,
)
from .suppression import ConsentRefused

log = logging.getLogger("kasatka.contacts")

# Double opt-in: the e-mail consents that wait for the contact's confirmation by a link.
CONFIRMED_BASES = frozenset({ConsentBasis.FORM, ConsentBasis.API})
# A form sent again within this time does not send the confirmation mail again.
CONFIRMATION_RESEND = timedelta(days=1)


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


def address_is(kind: str, value: str) -> Q:
    """An address of this kind and (normalised) value; e-mails whatever the case of the
    letters, since mail servers treat ANNA@ and anna@ as one box (served by the index on
    lower(value) of contacts/0006)."""
    if kind == AddressKind.EMAIL:
        return Q(Exact(Lower("value"), value.lower()), kind=kind)
    return Q(kind=kind, value=value)


# phonenumbers names a zone of the same winter clock for some places; the place's own zone
# keeps its own summer time (Kaliningrad has none, Bucharest has).
_SAME_CLOCK = {("RU", "Europe/Bucharest"): "Europe/Kaliningrad"}


@functools.lru_cache(maxsize=4096)
def phone_place(e164: str) -> tuple[str, str]:
    """(time zone, region) of a phone number; the zone only when the number has exactly
    one (a landline: a Russian mobile spans eleven zones), "" otherwise."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return "", ""
    zones = phone_timezone.time_zones_for_number(number)
    zone = zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else ""
    region = phonenumbers.region_code_for_number(number) or ""
    return _SAME_CLOCK.get((region, zone), zone), region


def time_zone_for_phone(e164: str) -> str:
    """The time zone of a phone number when it has exactly one (a Moscow landline…)."""
    return phone_place(e164)[0]


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
    nothing is saved; so does a grant by import or API for an address on the suppression
    list (`ConsentRefused`). The consents follow `record_consent`'s rules: e-mail from a
    form waits for its confirmation under double opt-in, an explicit grant lifts the
    consent-type suppressions of the new addresses.
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
    grants = list(consents)
    new_values: dict[str, list[str]] = {
        AddressKind.PHONE: normal_phones, AddressKind.EMAIL: normal_emails,
    }
    for grant in grants:
        if grant.basis in suppression.GUARDED_BASES:
            found = suppression.grant_refusal(
                contact, grant.channel, new_values.get(CHANNEL_ADDRESS_KIND[grant.channel], [])
            )
            if found is not None:
                raise ConsentRefused(suppression.refusal_message(grant.channel, found), found)
    # Double opt-in: these wait for the contact's confirmation by a link.
    pending = {i for i, g in enumerate(grants) if _needs_confirmation(business.pk, g.channel,
                                                                      g.basis)}

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
        entries = Consent.objects.bulk_create(
            Consent(business=business, contact=contact, channel=g.channel, purpose=g.purpose,
                    status=ConsentStatus.PENDING if i in pending else ConsentStatus.GRANTED,
                    basis=g.basis, source=g.source, recorded_at=at)
            for i, g in enumerate(grants)
        )
        explicit = [e for e in entries if e.status == ConsentStatus.GRANTED
                    and e.basis in suppression.EXPLICIT_BASES]
        if explicit:
            suppression.on_explicit_grant(
                contact, {CHANNEL_ADDRESS_KIND[e.channel] for e in explicit},
                _lift_reason(explicit[0]), at,
                known={(a.kind, a.value) for a in addresses},
            )
        for entry in entries:
            if entry.status == ConsentStatus.PENDING:
                _confirm_after_commit(entry)
        webhooks.on_contact_created(contact, addresses)
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
    """Append one entry to the consent history, with the guardrails (docs/consent.md).

    - A grant by import or API is refused (`ConsentRefused`, a ValidationError) when the
      contact or its address for the channel is suppressed, or the contact withdrew it.
    - Under the business's double opt-in, an e-mail grant from a form or the API is
      recorded pending and a confirmation mail goes out once the transaction commits;
      nothing is recorded when the consent is already given or waits for a confirmation
      sent less than a day ago (the entry in force is returned).
    - A new explicit grant lifts the consent-type suppressions of the contact and its
      addresses of the channel's kind; a commercial withdrawal suppresses them
      "withdrawn" (protected against re-subscription, not against informational touches).
    """
    at = at or clock_now()
    if status == ConsentStatus.GRANTED:
        if basis in suppression.GUARDED_BASES:
            _refuse_if_not_allowed(contact, channel, purpose)
        if _needs_confirmation(contact.business_id, channel, basis):
            current = _newest(contact, channel, purpose)
            if current is not None and (
                current.status == ConsentStatus.GRANTED
                or (current.status == ConsentStatus.PENDING
                    and at - current.recorded_at < CONFIRMATION_RESEND)
            ):
                return current
            status = ConsentStatus.PENDING
    with transaction.atomic():
        consent = Consent.objects.create(
            business_id=contact.business_id,
            contact=contact,
            channel=channel,
            purpose=purpose,
            status=status,
            basis=basis,
            source=source,
            recorded_at=at,
        )
        if status == ConsentStatus.GRANTED and basis in suppression.EXPLICIT_BASES:
            suppression.on_explicit_grant(
                contact, {CHANNEL_ADDRESS_KIND[channel]}, _lift_reason(consent), at
            )
        elif status == ConsentStatus.WITHDRAWN and purpose == Purpose.COMMERCIAL:
            suppression.on_commercial_withdrawal(
                contact, channel, _withdrawal_note(consent), at
            )
        elif status == ConsentStatus.PENDING:
            _confirm_after_commit(consent)
        webhooks.on_consent_changed(consent)
    return consent


def _newest(contact: Contact, channel: str, purpose: str) -> Consent | None:
    return (
        Consent.objects.filter(contact=contact, channel=channel, purpose=purpose)
        .order_by("-recorded_at", "-id")
        .first()
    )


def _refuse_if_not_allowed(contact: Contact, channel: str, purpose: str) -> None:
    found = suppression.grant_refusal(contact, channel)
    if found is not None:
        raise ConsentRefused(suppression.refusal_message(channel, found), found)
    current = _newest(contact, channel, purpose)
    if current is not None and current.status == ConsentStatus.WITHDRAWN:
        # Withdrawal always wins: only the contact's own new word undoes it.
        raise ConsentRefused(
            _("No consent recorded for %(channel)s: the contact withdrew it; only a new "
              "consent from the contact can give it back.") % {"channel": Channel(channel).label}
        )


def _needs_confirmation(business_id: int, channel: str, basis: str) -> bool:
    return (
        channel == Channel.EMAIL
        and basis in CONFIRMED_BASES
        and sending_rules(business_id).double_opt_in
    )


def _lift_reason(consent: Consent) -> str:
    where = f" ({consent.source})" if consent.source else ""
    # Stored texts are English, as the engine's are: the codes, not their translations.
    return f"new consent #{consent.pk}: {consent.basis}{where}"[:500]


def _withdrawal_note(consent: Consent) -> str:
    where = f", {consent.source}" if consent.source else ""
    return (
        f"contact #{consent.contact_id} withdrew {consent.channel}/{consent.purpose}: "
        f"{consent.basis}{where}"
    )[:500]


def withdraw_consent(
    contact: Contact,
    channel: str,
    basis: str,
    source: str = "",
    purposes: Sequence[str] = (Purpose.COMMERCIAL,),
) -> list[Consent]:
    """Withdraw consent on one channel; a contact left with nothing is suppressed."""
    at = clock_now()
    with transaction.atomic():
        entries = [
            record_consent(contact, channel, p, ConsentStatus.WITHDRAWN, basis, source, at)
            for p in purposes
        ]
        if entries and _withdrew_everything(contact):
            suppression.suppress_contact(
                contact, SuppressionReason.WITHDRAWN, _withdrawal_note(entries[-1]), at=at
            )
        return entries


def withdraw_everything(contact: Contact, basis: str, source: str = "") -> list[Consent]:
    """Every channel, every purpose: the contact is suppressed, its addresses protected."""
    with transaction.atomic():
        return [
            entry
            for channel in Channel.values
            for entry in withdraw_consent(contact, channel, basis, source, list(Purpose.values))
        ]


def _withdrew_everything(contact: Contact) -> bool:
    states = consent_states([contact.pk])
    return all(
        states.get((contact.pk, channel, purpose)) == ConsentStatus.WITHDRAWN
        for channel in Channel.values
        for purpose in Purpose.values
    )


def apply_preferences(
    contact: Contact, wanted: Mapping[tuple[str, str], bool], source: str = ""
) -> list[Consent]:
    """What the contact ticked on the preference page, recorded where it changes anything.

    A box is "on" as the engine reads consent: commercial needs consent given,
    informational only needs it not withdrawn. A box turned off is withdrawn, a box
    turned on is a new consent of the contact's own (basis preferences), which lifts a
    withdrawal's suppression.
    """
    from kasatka.engine.rules import consent_allows

    at = clock_now()
    states = consent_states([contact.pk])
    entries: list[Consent] = []
    with transaction.atomic():
        for (channel, purpose), on in wanted.items():
            allowed = consent_allows(states, contact.pk, channel, purpose == Purpose.COMMERCIAL)
            if on == allowed:
                continue
            if on:
                entries.append(record_consent(
                    contact, channel, purpose, ConsentStatus.GRANTED, ConsentBasis.PREFERENCES,
                    source, at,
                ))
            else:
                entries.extend(withdraw_consent(
                    contact, channel, ConsentBasis.PREFERENCES, source, [purpose]
                ))
    return entries


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
    """Mark addresses bounced/blocked/active with the reason, e.g. the server's answer.

    A bounced or blocked address goes on the suppression list with the same reason.
    """
    at = at or clock_now()
    fields: dict[str, Any] = {
        "state": state,
        "state_reason": reason[:500],
        "state_changed_at": at,
    }
    with transaction.atomic():
        changed = Address.objects.filter(pk__in=address_ids).update(**fields)
        if state in (AddressState.BOUNCED, AddressState.BLOCKED):
            suppression.on_address_state(
                Address.objects.filter(pk__in=address_ids).only("business_id", "kind", "value"),
                state, reason, at,
            )
    return changed


# --- double opt-in ------------------------------------------------------------------------


CONFIRMED = "confirmed"
ALREADY_CONFIRMED = "already"
EXPIRED = "expired"
SUPERSEDED = "superseded"


def confirm_days() -> int:
    return int(getattr(settings, "KASATKA_CONFIRM_DAYS", 30))


def _confirm_after_commit(consent: Consent) -> None:
    transaction.on_commit(lambda: send_confirmation(consent.pk))


def send_confirmation(consent_id: int) -> bool:
    """Mail the link that confirms a pending e-mail consent; False when it cannot go.

    An informational, transactional message through Django's e-mail backend, not a chain
    touch: it goes once, at once, to the contact's newest usable e-mail address that is
    not suppressed for delivery.
    """
    from .unsubscribe import confirm_url

    consent = (
        Consent.objects.select_related("contact", "contact__business")
        .filter(pk=consent_id, status=ConsentStatus.PENDING).first()
    )
    if consent is None:
        return False
    contact, business = consent.contact, consent.contact.business
    address = next(
        (a for a in contact.addresses.filter(kind=AddressKind.EMAIL).order_by("-created_at", "-id")
         if a.is_usable and not _undeliverable(a)),
        None,
    )
    if address is None:
        log.info("consent %s: no e-mail address to confirm it by", consent_id)
        return False
    sender = business.email_from_address or settings.DEFAULT_FROM_EMAIL
    with translation.override(contact.language or business.language):
        context = {"contact": contact, "business": business,
                   "url": confirm_url(consent.pk, contact.pk), "days": confirm_days()}
        message = EmailMessage(
            subject=_("Please confirm your subscription to %(business)s")
            % {"business": business.name},
            body=render_to_string("web/confirm_email.txt", context),
            from_email=formataddr((business.email_from_name or business.name, sender)),
            to=[address.value],
            headers={"Auto-Submitted": "auto-generated"},
        )
    message.encoding = "utf-8"
    try:
        message.send(fail_silently=False)
    except (OSError, smtplib.SMTPException):
        # The consent stays pending; the contact can leave the form again.
        log.exception("consent %s: the confirmation mail could not be sent", consent_id)
        return False
    return True


def _undeliverable(address: Address) -> bool:
    found = suppression.active_suppression_for(address.business_id, address.kind, address.value)
    return found is not None and found.reason in suppression.DELIVERY_REASONS


def confirm_consent(consent: Consent, at: datetime | None = None) -> str:
    """The contact followed the confirmation link: CONFIRMED, ALREADY_CONFIRMED, EXPIRED
    or SUPERSEDED (withdrawn since)."""
    at = at or clock_now()
    with transaction.atomic():
        # One confirmation for a double click: the contact's row serialises them.
        contact = Contact.objects.select_for_update().select_related("business").get(
            pk=consent.contact_id
        )
        newest = _newest(contact, consent.channel, consent.purpose)
        if newest is None or newest.status == ConsentStatus.WITHDRAWN:
            return SUPERSEDED
        if newest.status == ConsentStatus.GRANTED:
            return ALREADY_CONFIRMED
        if consent.status != ConsentStatus.PENDING or (
            at - consent.recorded_at > timedelta(days=confirm_days())
        ):
            return EXPIRED
        record_consent(
            contact, consent.channel, consent.purpose, ConsentStatus.GRANTED,
            ConsentBasis.CONFIRMED, f"confirmation link of consent #{consent.pk}", at,
        )
    return CONFIRMED

