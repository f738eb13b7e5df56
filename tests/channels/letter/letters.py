"""Builders for the letter tests: clients with a postal address, letters sent by the engine."""

from __future__ import annotations

from datetime import date

from kasatka.accounts.models import Business, User
from kasatka.chains.actions import enroll
from kasatka.chains.models import Chain
from kasatka.channels.letter.models import Letter
from kasatka.contacts.models import Address, AddressKind, Contact
from kasatka.engine.clock import ManualClock
from kasatka.engine.worker import Worker
from tests import builders

ANNA_ADDRESS = "ул. Ленина, д. 5, кв. 12\nг. Томск\nТомская обл.\n634050"
IVAN_ADDRESS = "пр. Мира, д. 17\nг. Омск\n644043"

LETTER_BODY = (
    "{{ contact.greeting }}!\n\n"
    "В нашем салоне новая коллекция кухонь из массива кедра.\n\n"
    "Приходите посмотреть: мы рады Вам в любой день. {{ business.name }}"
)


def postal_contact(
    shop: Business,
    address: str = ANNA_ADDRESS,
    born: date | None = date(1970, 4, 1),
    owner: User | None = None,
    email: str | None = "anna@example.com",
    consent: tuple[str, ...] = ("email", "letter"),
    **names: str,
) -> Contact:
    """A client with a postal address (and by default an e-mail), consent for both."""
    c = builders.contact(shop, email=email, owner=owner, consent=consent, **names)
    c.birthday = born
    c.save(update_fields=["birthday"])
    Address.objects.create(business=shop, contact=c, kind=AddressKind.POSTAL, value=address)
    return c


def letter_chain(shop: Business, channels: tuple[str, ...] = ("letter",)) -> Chain:
    return builders.chain(
        shop, steps=[{"channels": list(channels), "body_template": LETTER_BODY}]
    )


def send(contacts: list[Contact], chain: Chain, clock: ManualClock) -> None:
    """Enroll the contacts and let the real engine deliver their first step."""
    for c in contacts:
        enroll(c, chain)
    Worker(clock=clock).run(once=True)


def letters_for(shop: Business, clock: ManualClock, contacts: list[Contact]) -> list[Letter]:
    send(contacts, letter_chain(shop), clock)
    by_contact = {x.contact_id: x for x in Letter.objects.filter(business=shop)}
    return [by_contact[c.pk] for c in contacts]


def anna(shop: Business, **kwargs) -> Contact:
    """Иванова Анна Сергеевна, born 1970, in Tomsk."""
    return postal_contact(shop, **kwargs)


def ivan(shop: Business, **kwargs) -> Contact:
    """Петров Иван Сергеевич, born 1970, in Omsk."""
    kwargs.setdefault("email", "ivan@example.com")
    return postal_contact(
        shop, address=IVAN_ADDRESS, first_name="Иван", patronymic="Сергеевич",
        last_name="Петров", **kwargs,
    )
