"""Business actions of sales: record a visit (from the seller's form), record a purchase,
keep the business's list of loss reasons and the contact's qualification card."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business, User
from kasatka.chains.actions import AlreadyEnrolled, enroll, exit_on_purchase
from kasatka.chains.models import Chain, ChainKind
from kasatka.contacts import lifecycle
from kasatka.contacts.actions import (
    address_is,
    create_contact,
    normalise_email,
    normalise_phone,
    record_consent,
)
from kasatka.contacts.models import (
    Address,
    AddressKind,
    ConsentBasis,
    ConsentStatus,
    Contact,
    NeedsFit,
    Purpose,
    Readiness,
)
from kasatka.engine.clock import now as clock_now
from kasatka.webhooks import events as webhooks

from . import conversion
from .models import LossKind, LossReason, Purchase, Visit, VisitType

# Which chain a visit of each type starts (METHOD.md §1); types 2 and 4 are only counted.
ENROL_BY_VISIT_TYPE = {
    VisitType.BOUGHT_CONTACTS_TAKEN: ChainKind.LOYALTY,
    VisitType.LEFT_CONTACTS_TAKEN: ChainKind.WARMING,
}

# The method's own list (METHOD.md §1), in the language of its seeds; a business edits its
# copy in the admin. Objective reasons are outside the seller's control, the others are not.
DEFAULT_LOSS_REASONS: tuple[tuple[str, str], ...] = (
    ("Отказ в кредите", LossKind.OBJECTIVE),
    ("Разница в цене", LossKind.OBJECTIVE),
    ("Турист — не собирался покупать", LossKind.OBJECTIVE),
    ("Слишком активный продавец", LossKind.NON_OBJECTIVE),
    ("Слишком пассивный продавец", LossKind.NON_OBJECTIVE),
    ("Не те инструменты продаж", LossKind.NON_OBJECTIVE),
    ("Продавец не знал товар", LossKind.NON_OBJECTIVE),
)

# The qualification card (METHOD.md §4): the contact's fields a seller fills in.
QUALIFICATION_FIELDS = ("needs_fit", "readiness", "needs", "knows_about_us", "came_because")
_QUALIFICATION_CHOICES = {"needs_fit": NeedsFit.values, "readiness": Readiness.values}


def _enrol_in_kind(contact: Contact, kind: str, at: datetime) -> None:
    chain = (
        Chain.objects.filter(business_id=contact.business_id, kind=kind, is_active=True)
        .order_by("id")
        .first()
    )
    if chain is not None:
        try:
            enroll(contact, chain, at)
        except AlreadyEnrolled:
            pass  # already on their way through it: one enrollment per chain at a time


def record_purchase(
    contact: Contact,
    amount: Decimal,
    seller: User | None = None,
    at: datetime | None = None,
    note: str = "",
    on_promotion: bool = False,
) -> Purchase:
    """A purchase: ends warming chains that exit on purchase, moves the contact's stage,
    closes a lead's conversion window and starts loyalty."""
    at = at or clock_now()
    with transaction.atomic():
        purchase = Purchase.objects.create(
            business_id=contact.business_id,
            contact=contact,
            amount=amount,
            seller=seller,
            purchased_at=at,
            note=note,
            on_promotion=on_promotion,
        )
        exit_on_purchase(contact, at)
        lifecycle.recompute(contact, at, f"purchase #{purchase.pk}")
        conversion.on_purchase(contact, at)
        _enrol_in_kind(contact, ChainKind.LOYALTY, at)
    return purchase


def record_visit(
    contact: Contact | None,
    *,
    business_id: int,
    bought: bool,
    contacts_taken: bool,
    seller: User | None = None,
    amount: Decimal | None = None,
    loss_reason: LossReason | None = None,
    note: str = "",
    at: datetime | None = None,
    on_promotion: bool = False,
) -> Visit:
    """Record and classify a visit; type 1 enrols loyalty, type 3 warming.

    The seller's rules (a reason when not bought, an amount when bought) are checked by
    `record_visit_from_form`; this lower step also takes history imported from elsewhere,
    which seldom knows why someone left.
    """
    at = at or clock_now()
    with transaction.atomic():
        visit = Visit.objects.create(
            business_id=business_id,
            contact=contact if contacts_taken else None,
            seller=seller,
            occurred_at=at,
            bought=bought,
            contacts_taken=contacts_taken,
            amount=amount,
            loss_reason=loss_reason,
            note=note,
        )
        if contact is not None and contacts_taken:
            if bought:
                # The purchase switches warming to loyalty and enrols loyalty itself.
                record_purchase(
                    contact, amount or Decimal(0), seller, at, on_promotion=on_promotion
                )
            else:
                _enrol_in_kind(contact, ENROL_BY_VISIT_TYPE[VisitType(visit.visit_type)], at)
        webhooks.on_visit_recorded(visit)
    return visit


# --- loss reasons ------------------------------------------------------------------------


def ensure_default_loss_reasons(business: Business) -> int:
    """Give a business the method's list of loss reasons when it has none; how many were made.

    A business that has any reason, even a deactivated one, has made the list its own and
    gets nothing back.
    """
    if LossReason.objects.filter(business=business).exists():
        return 0
    LossReason.objects.bulk_create(
        [
            LossReason(business=business, name=name, kind=kind, position=i)
            for i, (name, kind) in enumerate(DEFAULT_LOSS_REASONS, start=1)
        ],
        ignore_conflicts=True,  # two first visits at once: the names are unique per business
    )
    return len(DEFAULT_LOSS_REASONS)


def active_loss_reasons(business: Business | int) -> list[LossReason]:
    """The reasons a seller picks from, objective ones first, in the business's order."""
    business_id = business if isinstance(business, int) else business.pk
    return list(LossReason.objects.filter(business_id=business_id, is_active=True))


def check_visit_outcome(
    business_id: int, *, bought: bool, amount: Decimal | None, loss_reason: LossReason | None
) -> None:
    """The seller's rules for a visit's outcome (METHOD.md §1), keyed by field.

    Bought: an amount, no reason. Not bought: a reason from the business's active list,
    no amount. The errors are collected so the form shows all of them at once.
    """
    errors: dict[str, list[ValidationError]] = {}
    if bought:
        if amount is None:
            errors.setdefault("amount", []).append(
                ValidationError(_("How much did the client pay?"), code="required")
            )
        if loss_reason is not None:
            errors.setdefault("loss_reason", []).append(
                ValidationError(
                    _("The client bought: a reason for not buying does not apply."),
                    code="not_applicable",
                )
            )
    else:
        if loss_reason is None:
            errors.setdefault("loss_reason", []).append(
                ValidationError(_("Why did the client not buy?"), code="required")
            )
        elif loss_reason.business_id != business_id or not loss_reason.is_active:
            errors.setdefault("loss_reason", []).append(
                ValidationError(_("This reason is not on the business's list."), code="invalid")
            )
        if amount is not None:
            errors.setdefault("amount", []).append(
                ValidationError(
                    _("The client did not buy: leave the amount empty."), code="not_applicable"
                )
            )
    if amount is not None and amount <= 0:
        errors.setdefault("amount", []).append(
            ValidationError(_("The amount must be above zero."), code="min_value")
        )
    if errors:
        raise ValidationError(errors)


# --- finding a contact ---------------------------------------------------------------------


@dataclass(frozen=True)
class PersonName:
    first_name: str = ""
    last_name: str = ""
    patronymic: str = ""


def _is_patronymic(word: str) -> bool:
    return word.lower().endswith(("вич", "вна", "чна", "ична", "оглы", "кызы"))


def split_name(name: str) -> PersonName:
    """One "name" box into its parts, the way Russian names are written.

    "Анна" is a first name; "Анна Иванова" first and last; "Иванова Анна Сергеевна" the
    formal order, "Анна Сергеевна Иванова" the spoken one (told apart by the patronymic).
    """
    words = name.split()
    if not words:
        return PersonName()
    if len(words) == 1:
        return PersonName(first_name=words[0])
    if len(words) == 2:
        if _is_patronymic(words[1]):
            return PersonName(first_name=words[0], patronymic=words[1])
        return PersonName(first_name=words[0], last_name=words[1])
    if _is_patronymic(words[2]):
        return PersonName(last_name=words[0], first_name=words[1], patronymic=" ".join(words[2:]))
    if _is_patronymic(words[1]):
        return PersonName(first_name=words[0], patronymic=words[1], last_name=" ".join(words[2:]))
    return PersonName(first_name=words[0], last_name=" ".join(words[1:]))


@dataclass(frozen=True)
class ReachableBy:
    """A phone and an e-mail in their normal forms (empty when not given)."""

    phone: str = ""
    email: str = ""


def normalise_reach(business: Business, phone: str, email: str) -> ReachableBy:
    """The phone in E.164 and the e-mail normalised, or a ValidationError keyed by field."""
    errors: dict[str, list[ValidationError]] = {}
    normal_phone = normal_email = ""
    if phone.strip():
        try:
            normal_phone = normalise_phone(phone, business.country)
        except ValidationError as exc:
            errors["phone"] = [exc]
    if email.strip():
        try:
            normal_email = normalise_email(email)
        except ValidationError as exc:
            errors["email"] = [exc]
    if errors:
        raise ValidationError(errors)
    return ReachableBy(normal_phone, normal_email)


def find_contact(business: Business, reach: ReachableBy) -> Contact | None:
    """The business's contact with this phone, else with this e-mail (the oldest if several)."""
    for kind, value in ((AddressKind.PHONE, reach.phone), (AddressKind.EMAIL, reach.email)):
        if not value:
            continue
        address = (
            Address.objects.filter(address_is(kind, value), business=business)
            .select_related("contact")
            .order_by("contact_id")
            .first()
        )
        if address is not None:
            return address.contact
    return None


def complete_contact(
    contact: Contact, name: PersonName, reach: ReachableBy, at: datetime
) -> None:
    """Fill what a known contact lacked: their name if they had none, a new phone or e-mail.

    Nothing the business already knew is overwritten: a visit is no place to rename anyone.
    """
    if not (contact.first_name or contact.last_name) and (name.first_name or name.last_name):
        contact.first_name = name.first_name
        contact.last_name = name.last_name
        contact.patronymic = contact.patronymic or name.patronymic
        contact.save(update_fields=["first_name", "last_name", "patronymic", "updated_at"])
    for kind, value in ((AddressKind.PHONE, reach.phone), (AddressKind.EMAIL, reach.email)):
        if value and not contact.addresses.filter(address_is(kind, value)).exists():
            has_one = contact.addresses.filter(kind=kind).exists()
            Address.objects.create(
                business_id=contact.business_id, contact=contact, kind=kind, value=value,
                is_primary=not has_one, created_at=at,
            )


def grant_consents(
    contact: Contact, channels: Iterable[str], basis: str, source: str, at: datetime
) -> None:
    """Record the consent the client gave now, one history entry per channel."""
    for channel in dict.fromkeys(channels):
        record_consent(
            contact, channel, Purpose.COMMERCIAL, ConsentStatus.GRANTED, basis, source, at
        )


# --- the qualification card -------------------------------------------------------------


def update_qualification(
    contact: Contact, values: Mapping[str, str], *, keep_known: bool = False
) -> list[str]:
    """Write the qualification card (METHOD.md §4); the names of the fields that changed.

    With `keep_known`, an empty value leaves the field as it was: the visit form's card is
    optional and must not wipe what a colleague wrote before.
    """
    errors: dict[str, list[ValidationError]] = {}
    changed: list[str] = []
    for field in QUALIFICATION_FIELDS:
        if field not in values:
            continue
        value = (values[field] or "").strip()
        if keep_known and not value:
            continue
        allowed = _QUALIFICATION_CHOICES.get(field)
        if allowed is not None and value not in allowed:
            errors[field] = [ValidationError(_("Pick one of the choices."), code="invalid_choice")]
            continue
        if getattr(contact, field) != value:
            setattr(contact, field, value)
            changed.append(field)
    if errors:
        raise ValidationError(errors)
    if changed:
        contact.save(update_fields=[*changed, "updated_at"])
    return changed


# --- the seller's visit form ------------------------------------------------------------


def record_visit_from_form(
    business: Business,
    *,
    seller: User | None,
    bought: bool,
    contacts_taken: bool,
    name: str = "",
    phone: str = "",
    email: str = "",
    consent_channels: Iterable[str] = (),
    amount: Decimal | None = None,
    on_promotion: bool = False,
    loss_reason: LossReason | None = None,
    note: str = "",
    qualification: Mapping[str, str] | None = None,
    at: datetime | None = None,
) -> Visit:
    """What a seller enters after a visit, checked, then recorded in one go.

    The contact is found by phone (any spelling: it is compared in E.164), else by e-mail,
    else created, owned by the seller. When the contacts were not taken, whatever was typed
    in the contact boxes is dropped: the client said no, so nothing about them is kept, and
    the visit still counts (type 2 or 4). Errors are keyed by the form's fields and nothing
    is saved.
    """
    at = at or clock_now()
    errors: dict[str, list[ValidationError]] = {}
    try:
        check_visit_outcome(business.pk, bought=bought, amount=amount, loss_reason=loss_reason)
    except ValidationError as exc:
        errors.update(exc.error_dict)
    if seller is not None and seller.business_id != business.pk:
        errors["seller"] = [ValidationError(_("The seller works for another business."))]
    reach = ReachableBy()
    if contacts_taken:
        try:
            reach = normalise_reach(business, phone, email)
        except ValidationError as exc:
            errors.update(exc.error_dict)
        if not (phone.strip() or email.strip()) and "phone" not in errors:
            errors["phone"] = [
                ValidationError(_("Taken contacts need a phone or an e-mail."), code="required")
            ]
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        contact: Contact | None = None
        if contacts_taken:
            contact = _contact_for_visit(business, seller, split_name(name), reach, at)
            grant_consents(contact, consent_channels, ConsentBasis.VISIT, "visit", at)
            if qualification:
                update_qualification(contact, qualification, keep_known=True)
        return record_visit(
            contact,
            business_id=business.pk,
            bought=bought,
            contacts_taken=contacts_taken,
            seller=seller,
            amount=amount,
            on_promotion=on_promotion,
            loss_reason=loss_reason,
            note=note.strip(),
            at=at,
        )


def _contact_for_visit(
    business: Business, seller: User | None, name: PersonName, reach: ReachableBy, at: datetime
) -> Contact:
    contact = find_contact(business, reach)
    if contact is None:
        return create_contact(
            business,
            first_name=name.first_name,
            last_name=name.last_name,
            patronymic=name.patronymic,
            owner=seller,
            phones=[reach.phone] if reach.phone else [],
            emails=[reach.email] if reach.email else [],
            created_at=at,
        )
    complete_contact(contact, name, reach, at)
    if contact.owner_id is None and seller is not None:
        contact.owner = seller  # an unassigned lead becomes the client of who served them
        contact.save(update_fields=["owner", "updated_at"])
    return contact
