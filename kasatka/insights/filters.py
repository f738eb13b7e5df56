"""The filters every insight takes beside its period: a seller and a lead source.

A figure is narrowed to the contacts the filter picks — those whose seller (`Contact.owner`)
is the given user, and those whose lead source (`Contact.source`) is the given one — so a
figure about touches or purchases counts the touches and purchases of those contacts.
`Filters()` picks every contact.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q


@dataclass(frozen=True)
class Filters:
    seller: int | None = None  # a user id
    source: int | None = None  # a LeadSource id

    def contacts(self, prefix: str = "") -> Q:
        """A condition on contacts, or on rows reached from them through `prefix`
        ("contact__" for a touch, a purchase or a visit)."""
        q = Q()
        if self.seller is not None:
            q &= Q(**{f"{prefix}owner_id": self.seller})
        if self.source is not None:
            q &= Q(**{f"{prefix}source_id": self.source})
        return q

    def __bool__(self) -> bool:
        return self.seller is not None or self.source is not None


EVERYONE = Filters()
