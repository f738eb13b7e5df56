"""The letter channel: a touch becomes a letter in the business's print queue."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from kasatka.accounts.models import User
from kasatka.chains.templating import ContactView
from kasatka.channels.base import BaseChannel, Outbound, Outcome, Result
from kasatka.contacts.models import AddressKind

from .models import Letter

_TRAILING_PUNCTUATION = re.compile(r"[\s!,.]+$")


class LetterChannel(BaseChannel):
    """Writes a `Letter` row; the shop prints and posts it from the print queue.

    "Sent" here means "handed to the print queue": the engine cannot know when the
    paper leaves the shop, and marking it posted (letters/actions.py) does not move
    the touch further, as no delivery receipt ever comes back for a plain letter.
    """

    code = "letter"
    address_kind = AddressKind.POSTAL
    # The letter is written in our own database under the touch's unique key:
    # repeating an interrupted batch cannot queue a second letter.
    idempotent = True
    records_provider_id = False  # the letter is found by its touch

    def deliver_batch(
        self, messages: Sequence[Outbound], should_stop: Callable[[], bool]
    ) -> list[Result | None]:
        existing = set(
            Letter.objects.filter(touch_id__in=[m.touch_id for m in messages]).values_list(
                "touch_id", flat=True
            )
        )
        owner_ids = {m.contact.owner_id for m in messages} - {None}
        signers = {
            u.pk: u.full_name for u in User.objects.filter(pk__in=owner_ids)
        } if owner_ids else {}
        Letter.objects.bulk_create(
            compose(m, signers.get(m.contact.owner_id or 0, ""))
            for m in messages
            if m.touch_id not in existing
        )
        return [
            Result(Outcome.SENT, provider_message_id=f"letter:{m.touch_id}") for m in messages
        ]


def compose(message: Outbound, signer: str) -> Letter:
    """The letter of one touch: the name declined for the address, the greeting, the text."""
    business = message.business
    language = message.contact.language or business.language
    contact = ContactView(message.contact, default_language=language)
    greeting = letter_greeting(contact)
    return Letter(
        business_id=business.pk,
        touch_id=message.touch_id,
        contact_id=message.contact.pk,
        postal_address=message.address.value,
        recipient=recipient_name(contact),
        greeting=greeting,
        body=body_without_signature(
            body_without_greeting(message.body, greeting), signer or business.name, business.name
        ),
        signature=signer,
        language=language,
        due_date=message.now.astimezone(business.zone).date(),
        created_at=message.now,
    )


def recipient_name(contact: ContactView) -> str:
    """«Кому»: the full name in the dative case (Ивановой Анне Сергеевне), else the company."""
    return contact.full_name_in("dative") or contact.company


def letter_greeting(contact: ContactView) -> str:
    """«Уважаемая Анна Сергеевна!» in Russian, "Dear Anna," in English letters."""
    greeting = contact.greeting
    return f"{greeting}," if contact.language.startswith("en") else f"{greeting}!"


def body_without_greeting(body: str, greeting: str) -> str:
    """The text without its first line when that line is the greeting the letter prints.

    Step texts written for e-mail open with `{{ contact.greeting }}!`; the letter prints
    the greeting on its own line, and a second one right below it would read as a slip.
    """
    lines = body.strip().splitlines()
    if lines and _bare(lines[0]) == _bare(greeting) and _bare(greeting):
        lines = lines[1:]
    return "\n".join(lines).strip()


def body_without_signature(body: str, *signers: str) -> str:
    """The text without its closing paragraph when that is a signature the letter prints.

    E-mail texts end with «С уважением, {{ seller.full_name }}…»; the letter signs itself
    below the text, so the same names twice at the foot would read as a slip.
    """
    paragraphs = re.split(r"\n\s*\n", body.strip())
    names = {_bare(s) for s in signers if _bare(s)}
    last = [_bare(line) for line in paragraphs[-1].splitlines()] if paragraphs else []
    if len(paragraphs) > 1 and any(
        line == name or line.startswith(name + ",") for line in last for name in names
    ):
        paragraphs = paragraphs[:-1]
    return "\n\n".join(paragraphs).strip()


def _bare(text: str) -> str:
    return _TRAILING_PUNCTUATION.sub("", text.strip()).casefold()
