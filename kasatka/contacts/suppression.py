"""The suppression list: addresses and contacts that nothing, or no re-subscription, may reach.

What is suppressed when (docs/consent.md says the same for users):

- **bounced, blocked** (an address; set by `set_address_state` when the engine meets a
  permanent error or a webhook reports the address dead or blocking us): nothing goes to
  that address, for any contact that has it, for any purpose. Lifted only by staff (the
  suppression list in the admin) or by the address proving itself (a messenger chat bound
  again through the business's signed link, `lift_proven`).
- **complained** (an address; a spam complaint, `TouchStatus.COMPLAINED`): nothing goes to
  that address. Lifted by a new explicit consent for its channel (below) or by staff.
- **withdrawn on an address** (the contact withdrew *commercial* consent on the address's
  channel: the unsubscribe link, one-click, STOP words, the preference page): it does not
  stop sending by itself — the engine's consent check does the per-purpose work, so the
  informational touches the contact still accepts go on. It protects the address against
  being put back: an import or the API cannot grant consent for a contact holding that
  address (a re-import makes a new contact with the same e-mail: it gets no consent, so no
  commercial mail). Addresses are per kind, not per channel: a phone withdrawn from SMS also
  refuses imported consent for calls — the cautious reading.
- **withdrawn on a contact** (the contact withdrew every channel and every purpose: "from
  everything" on the preference page, or piece by piece): nothing goes to that contact. Its
  addresses are suppressed "withdrawn" as above, which keeps a re-import from starting over.
- **manual** (staff, on an address or a contact): nothing goes there; lifted by staff only.

A new explicit consent — basis form, visit, purchase, verbal, confirmed (double opt-in),
preferences (the contact's own page) or messenger — lifts the consent-type suppressions
(withdrawn, complained) of the contact's addresses for that channel's kind and the
contact's own "withdrawn", with a lift reason naming the consent. Grants by import or API
under an active suppression are refused (`ConsentRefused`); grants by staff neither lift
nor are refused: staff lift a suppression on the list, on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from kasatka.accounts.models import User
from kasatka.engine.clock import now as clock_now

from .models import (
    CHANNEL_ADDRESS_KIND,
    Address,
    AddressState,
    Channel,
    ConsentBasis,
    Contact,
    Suppression,
    SuppressionReason,
)

# Delivery-type: the address itself failed. Only staff, or the address proving it works,
# lift these.
DELIVERY_REASONS = frozenset({SuppressionReason.BOUNCED, SuppressionReason.BLOCKED})
# Consent-type: the person said no. A new explicit consent lifts these.
CONSENT_REASONS = frozenset({SuppressionReason.WITHDRAWN, SuppressionReason.COMPLAINED})
# Bases that cannot put a suppressed address or contact back on the list.
GUARDED_BASES = frozenset({ConsentBasis.IMPORT, ConsentBasis.API})
# The contact's own, new word: lifts consent-type suppressions.
EXPLICIT_BASES = frozenset({
    ConsentBasis.FORM, ConsentBasis.VISIT, ConsentBasis.PURCHASE, ConsentBasis.VERBAL,
    ConsentBasis.CONFIRMED, ConsentBasis.PREFERENCES, ConsentBasis.MESSENGER,
})
_STATE_REASON: dict[str, str] = {
    AddressState.BOUNCED: SuppressionReason.BOUNCED,
    AddressState.BLOCKED: SuppressionReason.BLOCKED,
}


class ConsentRefused(ValidationError):
    """An import or API grant refused: the address or contact is suppressed, or the
    contact withdrew this consent. Only a new consent from the contact can give it."""

    def __init__(self, message: str, suppression: Suppression | None = None) -> None:
        super().__init__(message, code="consent_refused")
        self.suppression = suppression


def blocks_sending(suppression: Suppression) -> bool:
    """Whether nothing may be sent there (the engine reads the list the same way, in
    kasatka.engine.guardrails, one query a batch)."""
    if not suppression.is_active:
        return False
    if suppression.value:
        return suppression.reason != SuppressionReason.WITHDRAWN
    return True


# --- reading --------------------------------------------------------------------------------


def active_suppression_for(business_id: int, kind: str, value: str) -> Suppression | None:
    """The active suppression of an address (normalised, as addresses are), if any."""
    return Suppression.objects.filter(
        business_id=business_id, kind=kind, value=value, lifted_at__isnull=True
    ).first()


def active_contact_suppression(contact: Contact) -> Suppression | None:
    return Suppression.objects.filter(
        contact=contact, value="", lifted_at__isnull=True
    ).first()


def _kind_values(contact: Contact, kind: str) -> list[str]:
    return list(
        Address.objects.filter(contact=contact, kind=kind).values_list("value", flat=True)
    )


def grant_refusal(
    contact: Contact, channel: str, new_values: Sequence[str] = ()
) -> Suppression | None:
    """The suppression that refuses an import/API grant on `channel`, if any.

    The contact's own, and those of its addresses of the channel's kind (plus
    `new_values`, addresses about to be saved with the contact).
    """
    if contact.pk is not None:
        own = active_contact_suppression(contact)
        if own is not None:
            return own
    values = set(new_values)
    if contact.pk is not None:
        values.update(_kind_values(contact, CHANNEL_ADDRESS_KIND[channel]))
    if not values:
        return None
    return (
        Suppression.objects.filter(
            business_id=contact.business_id, kind=CHANNEL_ADDRESS_KIND[channel],
            value__in=values, lifted_at__isnull=True,
        )
        .order_by("created_at", "id")
        .first()
    )


def refusal_message(channel: str, suppression: Suppression) -> str:
    label = Channel(channel).label
    if suppression.value:
        why = (
            _("its owner withdrew consent")
            if suppression.reason == SuppressionReason.WITHDRAWN
            else suppression.get_reason_display()
        )
        return _(
            "No consent recorded for %(channel)s: %(address)s is on the suppression list "
            "(%(reason)s); only a new consent from the contact can put it back."
        ) % {"channel": label, "address": suppression.value, "reason": why}
    return _(
        "No consent recorded for %(channel)s: the contact is on the suppression list "
        "(%(reason)s); only a new consent from the contact can put them back."
    ) % {"channel": label, "reason": suppression.get_reason_display()}


# --- writing --------------------------------------------------------------------------------


def _create(fields: dict[str, object], find: Q) -> Suppression:
    try:
        with transaction.atomic():
            return Suppression.objects.create(**fields)
    except IntegrityError:
        # Another request suppressed the same target in between: one active row stays.
        found = Suppression.objects.filter(find, lifted_at__isnull=True).first()
        if found is None:
            raise
        return found


def suppress_address(
    business_id: int,
    kind: str,
    value: str,
    reason: str,
    note: str = "",
    by: User | None = None,
    at: datetime | None = None,
) -> Suppression:
    """Suppress an address; idempotent: an active row stays and is returned.

    Only a "withdrawn" row gives way, to a reason that stops sending (a bounce, a
    complaint…): the address is then both protected and not sent to.
    """
    at = at or clock_now()
    with transaction.atomic():
        current = active_suppression_for(business_id, kind, value)
        if current is not None:
            if current.reason != SuppressionReason.WITHDRAWN or reason == current.reason:
                return current
            lift(current, f"superseded: {reason}", at=at)
        return _create(
            {"business_id": business_id, "kind": kind, "value": value, "reason": reason,
             "note": note[:500], "created_by": by, "created_at": at},
            Q(business_id=business_id, kind=kind, value=value),
        )


def suppress_contact(
    contact: Contact,
    reason: str,
    note: str = "",
    by: User | None = None,
    at: datetime | None = None,
) -> Suppression:
    """Suppress the whole contact; idempotent: an active row stays and is returned."""
    current = active_contact_suppression(contact)
    if current is not None:
        return current
    return _create(
        {"business_id": contact.business_id, "contact": contact, "reason": reason,
         "note": note[:500], "created_by": by, "created_at": at or clock_now()},
        Q(contact=contact, value=""),
    )


def lift(
    suppression: Suppression, reason: str, by: User | None = None, at: datetime | None = None
) -> bool:
    """Lift an active suppression with the reason; False if it was already lifted."""
    at = at or clock_now()
    if by is not None:
        reason = f"{reason} ({by.get_username()})"
    done = Suppression.objects.filter(pk=suppression.pk, lifted_at__isnull=True).update(
        lifted_at=at, lift_reason=reason[:500]
    )
    if done:
        suppression.lifted_at, suppression.lift_reason = at, reason[:500]
    return bool(done)


def _lift_all(rows: Iterable[Suppression], reason: str, at: datetime) -> int:
    return sum(lift(s, reason, at=at) for s in rows)


# --- what the consent history and the channels set off ------------------------------------


def on_address_state(addresses: Iterable[Address], state: str, reason: str, at: datetime) -> None:
    """An address found bounced or blocking us is suppressed with that reason."""
    suppression_reason = _STATE_REASON.get(state)
    if suppression_reason is None:
        return
    for business_id, kind, value in {(a.business_id, a.kind, a.value) for a in addresses}:
        suppress_address(business_id, kind, value, suppression_reason, reason, at=at)


def on_complaint(address_id: int, note: str, at: datetime | None = None) -> None:
    """The touch sent to this address was marked as spam: nothing more goes there."""
    address = Address.objects.filter(pk=address_id).only("business_id", "kind", "value").first()
    if address is not None:
        suppress_address(address.business_id, address.kind, address.value,
                         SuppressionReason.COMPLAINED, note, at=at)


def on_commercial_withdrawal(contact: Contact, channel: str, note: str, at: datetime) -> None:
    """The contact's addresses of the channel's kind are protected against re-subscription."""
    kind = CHANNEL_ADDRESS_KIND[channel]
    for value in _kind_values(contact, kind):
        suppress_address(contact.business_id, kind, value, SuppressionReason.WITHDRAWN,
                         note, at=at)


def on_explicit_grant(
    contact: Contact,
    kinds: Iterable[str],
    lift_reason: str,
    at: datetime,
    known: Iterable[tuple[str, str]] | None = None,
) -> int:
    """A new consent from the contact lifts what the contact's own "no" had set: the
    consent-type suppressions of its addresses of these kinds, and its own "withdrawn".

    `known`: the contact's (kind, value) addresses when the caller has them already.
    """
    kinds = set(kinds)
    if known is None:
        known = Address.objects.filter(contact=contact, kind__in=kinds).values_list(
            "kind", "value"
        )
    wanted = {(k, v) for k, v in known if k in kinds}
    where = Q(contact_id=contact.pk, value="", reason=SuppressionReason.WITHDRAWN)
    if wanted:
        where |= Q(business_id=contact.business_id, kind__in=kinds,
                   value__in={v for _k, v in wanted})
    rows = [
        s for s in Suppression.objects.filter(
            where, lifted_at__isnull=True, reason__in=CONSENT_REASONS
        )
        if not s.value or (s.kind, s.value) in wanted
    ]
    return _lift_all(rows, lift_reason, at)


def lift_proven(business_id: int, kind: str, value: str, reason: str,
                at: datetime | None = None) -> int:
    """The address showed it works and wants us (a messenger chat bound again)."""
    rows = Suppression.objects.filter(
        business_id=business_id, kind=kind, value=value, lifted_at__isnull=True,
        reason__in=DELIVERY_REASONS,
    )
    return _lift_all(list(rows), reason, at or clock_now())
