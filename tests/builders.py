"""Small builders of test data that read like the product."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from kasatka.accounts.models import Business, User
from kasatka.chains.models import Chain, ChainKind, Enrollment, EnrollmentState, Step
from kasatka.contacts.actions import ConsentGrant, create_contact
from kasatka.contacts.models import (
    Address,
    AddressKind,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
)

GREETING_BODY = "{{ contact.greeting }}!\n\nУ нас новая коллекция кухонь. {{ business.name }}"


def contact(
    shop: Business,
    email: str | None = "anna@example.com",
    phone: str | None = None,
    owner: User | None = None,
    consent: Sequence[str] = ("email", "call"),
    first_name: str = "Анна",
    patronymic: str = "Сергеевна",
    last_name: str = "Иванова",
) -> Contact:
    return create_contact(
        shop,
        first_name=first_name,
        patronymic=patronymic,
        last_name=last_name,
        owner=owner,
        emails=[email] if email else [],
        phones=[phone] if phone else [],
        consents=[ConsentGrant(ch, Purpose.COMMERCIAL, ConsentBasis.VISIT) for ch in consent],
    )


def chain(
    shop: Business,
    steps: Sequence[dict[str, Any]] = ({},),
    kind: str = ChainKind.WARMING,
    exit_on_purchase: bool = True,
    name: str = "Прогрев",
) -> Chain:
    c = Chain.objects.create(business=shop, name=name, kind=kind, exit_on_purchase=exit_on_purchase)
    for i, overrides in enumerate(steps, start=1):
        fields: dict[str, Any] = {
            "position": i,
            "delay": timedelta(days=2) if i > 1 else timedelta(0),
            "channels": ["email"],
            "reason": f"Новость №{i}",
            "subject_template": "{{ contact.name }}, новость №" + str(i),
            "body_template": GREETING_BODY,
        }
        fields.update(overrides)
        Step.objects.create(chain=c, **fields)
    return c


def many_enrollments(
    shop: Business, chain_: Chain, n: int, at: datetime, channel: str = "email"
) -> None:
    """n contacts with an address for `channel` and consent, each enrolled and due at `at`."""
    first = chain_.steps.order_by("position").first()
    assert first is not None
    contacts = Contact.objects.bulk_create(
        Contact(business=shop, first_name="Иван", patronymic="Петрович", last_name=f"Сидоров{i}",
                gender="male", language="ru", created_at=at)
        for i in range(n)
    )
    if channel == "email":
        kind, value = AddressKind.EMAIL, "client{}@example.com"
    else:
        kind, value = AddressKind.PHONE, "+7916{:07d}"
    Address.objects.bulk_create(
        Address(business=shop, contact=c, kind=kind, value=value.format(c.pk)) for c in contacts
    )
    Consent.objects.bulk_create(
        Consent(business=shop, contact=c, channel=channel, purpose=Purpose.COMMERCIAL,
                status=ConsentStatus.GRANTED, basis=ConsentBasis.IMPORT, recorded_at=at)
        for c in contacts
    )
    Enrollment.objects.bulk_create(
        Enrollment(business=shop, contact=c, chain=chain_, step=first,
                   state=EnrollmentState.ACTIVE, next_touch_at=at, enrolled_at=at)
        for c in contacts
    )
