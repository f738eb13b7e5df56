"""Contacts: create, upsert by phone or e-mail, read, change, list by cursor; consent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from kasatka.accounts.models import Business
from kasatka.contacts.actions import (
    ConsentGrant,
    address_is,
    consent_states,
    create_contact,
    normalise_email,
    normalise_phone,
    record_consent,
    withdraw_consent,
)
from kasatka.contacts.models import (
    Address,
    AddressKind,
    Consent,
    ConsentStatus,
    Contact,
)
from kasatka.engine.clock import now as clock_now
from kasatka.sales.actions import (
    PersonName,
    ReachableBy,
    complete_contact,
    find_contact,
    update_qualification,
)
from kasatka.sales.intake import lock_addresses

from ..auth import READ, WRITE, require_scope
from ..problems import COMMON_PROBLEMS, Problem, problem
from ..schemas import (
    AddressOut,
    ConsentGrantIn,
    ConsentOut,
    ConsentStateOut,
    ConsentWithdrawIn,
    ContactIn,
    ContactOut,
    ContactPage,
    ContactPatch,
    ContactQuery,
)
from .common import get_for, page, source_in, user_in

router = Router(tags=["contacts"])

QUALIFICATION = ("needs_fit", "readiness", "needs", "knows_about_us", "came_because")
# The plain fields a PATCH may set (qualification, owner, source and addresses apart).
PLAIN_FIELDS = (
    "first_name", "last_name", "patronymic", "gender", "birthday", "company", "time_zone",
    "language",
)


def contacts_of(business: Business) -> QuerySet[Contact]:
    return Contact.objects.filter(business=business).prefetch_related("addresses")


def contact_out(contacts: Sequence[Contact]) -> list[ContactOut]:
    """The contacts with their addresses and consent states: two queries for any number
    (the addresses are prefetched by `contacts_of`)."""
    states = consent_states([c.pk for c in contacts])
    by_contact: dict[int, list[ConsentStateOut]] = {}
    for (contact_id, channel, purpose), status in sorted(states.items()):
        by_contact.setdefault(contact_id, []).append(
            ConsentStateOut(channel=channel, purpose=purpose, status=status)
        )
    return [
        ContactOut(
            id=c.pk, first_name=c.first_name, last_name=c.last_name, patronymic=c.patronymic,
            gender=c.gender, birthday=c.birthday, company=c.company, time_zone=c.time_zone,
            language=c.language, owner_id=c.owner_id, source_id=c.source_id, stage=c.stage,
            is_discount_lover=c.is_discount_lover, is_impulsive=c.is_impulsive,
            needs_fit=c.needs_fit, readiness=c.readiness, needs=c.needs,
            knows_about_us=c.knows_about_us, came_because=c.came_because,
            created_at=c.created_at, updated_at=c.updated_at,
            addresses=[
                AddressOut(id=a.pk, kind=a.kind, value=a.value, state=a.state,
                           is_primary=a.is_primary)
                for a in sorted(c.addresses.all(), key=lambda a: (a.kind, a.pk))
            ],
            consents=by_contact.get(c.pk, []),
        )
        for c in contacts
    ]


def one_out(contact: Contact) -> ContactOut:
    return contact_out([contacts_of(contact.business).get(pk=contact.pk)])[0]


def _normalised(
    business: Business, phones: Sequence[str], emails: Sequence[str], field_prefix: str = ""
) -> tuple[list[str], list[str]]:
    """The phones in E.164 and the e-mails normalised, or a 422 naming each bad one."""
    errors: dict[str, list[ValidationError]] = {}
    normal_phones: list[str] = []
    normal_emails: list[str] = []
    for i, raw in enumerate(phones):
        try:
            normal_phones.append(normalise_phone(raw, business.country))
        except ValidationError as exc:
            errors[f"{field_prefix}phones.{i}"] = [exc]
    for i, raw in enumerate(emails):
        try:
            normal_emails.append(normalise_email(raw))
        except ValidationError as exc:
            errors[f"{field_prefix}emails.{i}"] = [exc]
    if errors:
        raise ValidationError(errors)
    return list(dict.fromkeys(normal_phones)), list(dict.fromkeys(normal_emails))


def _known(business: Business, phones: Sequence[str], emails: Sequence[str]) -> Contact | None:
    """The contact one of these addresses already belongs to: phones first, then e-mails."""
    for phone in phones:
        found = find_contact(business, ReachableBy(phone=phone))
        if found is not None:
            return found
    for email in emails:
        found = find_contact(business, ReachableBy(email=email))
        if found is not None:
            return found
    return None


def _taken_elsewhere(
    contact: Contact, phones: Sequence[str], emails: Sequence[str]
) -> list[tuple[str, str]]:
    taken = []
    for kind, field, values in (
        (AddressKind.PHONE, "add_phones", phones), (AddressKind.EMAIL, "add_emails", emails)
    ):
        for i, value in enumerate(values):
            other = (
                Address.objects.filter(address_is(kind, value), business_id=contact.business_id)
                .exclude(contact=contact).values_list("contact_id", flat=True).first()
            )
            if other is not None:
                taken.append((f"{field}.{i}", _("Contact #%(id)s has this address already.")
                               % {"id": other}))
    return taken


def _grants(consents: Sequence[ConsentGrantIn]) -> list[ConsentGrant]:
    return [ConsentGrant(channel=c.channel, purpose=c.purpose, basis=c.basis, source=c.source)
            for c in consents]


def _create(business: Business, data: ContactIn, phones: list[str], emails: list[str]) -> Contact:
    owner = user_in(business, data.owner_id, "owner_id")
    source = source_in(business, data.source_id, "source_id")
    contact = create_contact(
        business, first_name=data.first_name, last_name=data.last_name,
        patronymic=data.patronymic, gender=data.gender, birthday=data.birthday,
        company=data.company, time_zone=data.time_zone, language=data.language, owner=owner,
        source_id=source.pk if source else None, phones=phones, emails=emails,
        consents=_grants(data.consents),
    )
    qualification = {f: getattr(data, f) for f in QUALIFICATION if getattr(data, f)}
    if qualification:
        update_qualification(contact, qualification)
    return contact


@router.post(
    "", response={201: ContactOut, **COMMON_PROBLEMS, 409: Problem},
    auth=WRITE, operation_id="contact_create",
    summary="Create a contact (409 when a phone or e-mail is another contact's)",
)
def create(request: HttpRequest, data: ContactIn) -> Any:
    business = require_scope(request, "write")
    phones, emails = _normalised(business, data.phones, data.emails)
    with transaction.atomic():
        lock_addresses(business, phones, emails)
        existing = _known(business, phones, emails)
        if existing is not None:
            return problem(
                409,
                _("A contact with this phone or e-mail exists: #%(id)s. Use PUT "
                  "/contacts/upsert to merge into it.") % {"id": existing.pk},
                [("phones" if phones else "emails", str(existing.pk))],
            )
        contact = _create(business, data, phones, emails)
    return Status(201, one_out(contact))


def _merge(contact: Contact, data: ContactIn, phones: list[str], emails: list[str]) -> None:
    """Fill what the contact lacked; nothing the business knew is overwritten."""
    at = clock_now()
    name = PersonName(data.first_name, data.last_name, data.patronymic)
    for i in range(max(len(phones), len(emails), 1)):
        reach = ReachableBy(
            phone=phones[i] if i < len(phones) else "", email=emails[i] if i < len(emails) else ""
        )
        complete_contact(contact, name, reach, at)
    changed = [
        f for f in (*PLAIN_FIELDS, *QUALIFICATION)
        if getattr(data, f) and not getattr(contact, f)
    ]
    for f in changed:
        setattr(contact, f, getattr(data, f))
    if contact.owner_id is None and data.owner_id is not None:
        contact.owner = user_in(contact.business, data.owner_id, "owner_id")
        changed.append("owner")
    if contact.source_id is None and data.source_id is not None:
        contact.source = source_in(contact.business, data.source_id, "source_id")
        changed.append("source")
    if changed:
        contact.full_clean(exclude=["business", "owner", "source"])
        contact.save(update_fields=[*changed, "updated_at"])
    for grant in data.consents:
        record_consent(contact, grant.channel, grant.purpose, ConsentStatus.GRANTED,
                       grant.basis, grant.source, at)


@router.put(
    "/upsert", response={200: ContactOut, 201: ContactOut, **COMMON_PROBLEMS},
    auth=WRITE, operation_id="contact_upsert",
    summary="Create a contact, or merge into the one with the same phone or e-mail",
)
def upsert(request: HttpRequest, data: ContactIn) -> Any:
    business = require_scope(request, "write")
    phones, emails = _normalised(business, data.phones, data.emails)
    if not (phones or emails):
        raise ValidationError({"phones": [_("Upsert needs a phone or an e-mail to match on.")]})
    with transaction.atomic():
        lock_addresses(business, phones, emails)
        contact = _known(business, phones, emails)
        if contact is None:
            return Status(201, one_out(_create(business, data, phones, emails)))
        _merge(contact, data, phones, emails)
    return Status(200, one_out(contact))


@router.get(
    "", response={200: ContactPage, **COMMON_PROBLEMS}, auth=READ, operation_id="contact_list",
    summary="Contacts in creation order, a page at a time",
)
def list_contacts(request: HttpRequest, filters: Query[ContactQuery]) -> ContactPage:
    business = require_scope(request, "read")
    contacts = contacts_of(business)
    if filters.stage:
        contacts = contacts.filter(stage=filters.stage)
    if filters.owner is not None:
        contacts = contacts.filter(owner_id=filters.owner)
    if filters.source is not None:
        contacts = contacts.filter(source_id=filters.source)
    if filters.updated_since is not None:
        contacts = contacts.filter(updated_at__gte=filters.updated_since)
    if filters.phone is not None or filters.email is not None:
        phones, emails = _normalised(
            business, [filters.phone] if filters.phone is not None else [],
            [filters.email] if filters.email is not None else [],
        )
        for kind, values in ((AddressKind.PHONE, phones), (AddressKind.EMAIL, emails)):
            for value in values:
                contacts = contacts.filter(Exists(
                    Address.objects.filter(address_is(kind, value), contact=OuterRef("pk"))
                ))
    rows, cursor = page(contacts, filters.cursor, filters.limit)
    return ContactPage(items=contact_out(rows), next_cursor=cursor)


@router.get(
    "/{contact_id}", response={200: ContactOut, **COMMON_PROBLEMS, 404: Problem},
    auth=READ, operation_id="contact_read",
)
def read(request: HttpRequest, contact_id: int) -> ContactOut:
    business = require_scope(request, "read")
    return contact_out([get_for(business, contacts_of(business), contact_id)])[0]


@router.patch(
    "/{contact_id}", response={200: ContactOut, **COMMON_PROBLEMS, 404: Problem, 409: Problem},
    auth=WRITE, operation_id="contact_update",
    summary="Change the fields sent; add phones or e-mails",
)
def update(request: HttpRequest, contact_id: int, data: ContactPatch) -> Any:
    business = require_scope(request, "write")
    contact = get_for(business, Contact.objects.all(), contact_id)
    sent = data.dict(exclude_unset=True)
    phones, emails = _normalised(business, data.add_phones, data.add_emails, "add_")
    taken = _taken_elsewhere(contact, phones, emails)
    if taken:
        return problem(409, _("An address belongs to another contact."), taken)
    with transaction.atomic():
        update_contact(contact, sent, phones, emails)
    return one_out(contact)


def update_contact(
    contact: Contact, sent: dict[str, Any], phones: Sequence[str], emails: Sequence[str]
) -> None:
    """Write the fields an API caller sent (validated as the model validates them) and add
    the new addresses; a field not sent is left as it is."""
    business = contact.business
    changed = [f for f in PLAIN_FIELDS if f in sent]
    for f in changed:
        value = sent[f]
        setattr(contact, f, "" if value is None and f != "birthday" else value)
    if "owner_id" in sent:
        contact.owner = user_in(business, sent["owner_id"], "owner_id")
        changed.append("owner")
    if "source_id" in sent:
        contact.source = source_in(business, sent["source_id"], "source_id")
        changed.append("source")
    if changed:
        contact.full_clean(exclude=["business", "owner", "source"])
        contact.save(update_fields=[*changed, "updated_at"])
    qualification = {f: sent[f] or "" for f in QUALIFICATION if f in sent}
    if qualification:
        update_qualification(contact, qualification)
    at = clock_now()
    for phone in phones:
        complete_contact(contact, PersonName(), ReachableBy(phone=phone), at)
    for email in emails:
        complete_contact(contact, PersonName(), ReachableBy(email=email), at)


# --- consent ---------------------------------------------------------------------------------


def consent_out(entry: Consent) -> ConsentOut:
    return ConsentOut(
        id=entry.pk, channel=entry.channel, purpose=entry.purpose, status=entry.status,
        basis=entry.basis, source=entry.source, recorded_at=entry.recorded_at,
    )


@router.get(
    "/{contact_id}/consents", response={200: list[ConsentOut], **COMMON_PROBLEMS, 404: Problem},
    auth=READ, operation_id="consent_history",
    summary="The contact's consent history, oldest first",
)
def consent_history(request: HttpRequest, contact_id: int) -> list[ConsentOut]:
    business = require_scope(request, "read")
    contact = get_for(business, Contact.objects.all(), contact_id)
    return [consent_out(c) for c in contact.consents.order_by("recorded_at", "id")]


@router.post(
    "/{contact_id}/consents",
    response={201: ConsentOut, **COMMON_PROBLEMS, 404: Problem},
    auth=WRITE, operation_id="consent_grant",
    summary="Record a consent (pending when the business asks for a confirmation)",
)
def grant(request: HttpRequest, contact_id: int, data: ConsentGrantIn) -> Any:
    business = require_scope(request, "write")
    contact = get_for(business, Contact.objects.all(), contact_id)
    entry = record_consent(
        contact, data.channel, data.purpose, ConsentStatus.GRANTED, data.basis, data.source
    )
    return Status(201, consent_out(entry))


@router.post(
    "/{contact_id}/consents/withdraw",
    response={200: list[ConsentOut], **COMMON_PROBLEMS, 404: Problem},
    auth=WRITE, operation_id="consent_withdraw",
    summary="Withdraw consent on a channel (a contact left with none is suppressed)",
)
def withdraw(request: HttpRequest, contact_id: int, data: ConsentWithdrawIn) -> Any:
    business = require_scope(request, "write")
    contact = get_for(business, Contact.objects.all(), contact_id)
    entries = withdraw_consent(
        contact, data.channel, data.basis, data.source, list(dict.fromkeys(data.purposes))
    )
    return [consent_out(e) for e in entries]
