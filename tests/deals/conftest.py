"""The shop's sales pipeline with the library's nudges, and a client with a deal in it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from kasatka.accounts.models import Business, User
from kasatka.contacts.models import Contact
from kasatka.deals.actions import create_deal
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import Deal, DealStage
from tests import builders


@pytest.fixture
def stages(shop: Business) -> dict[str, DealStage]:
    """The default pipeline's stages by the library's keys (new, price, proposal, invoice,
    delivery)."""
    pipeline = ensure_default_pipeline(shop)
    keys = ("new", "price", "proposal", "invoice", "delivery")
    return dict(zip(keys, pipeline.stages.order_by("position"), strict=True))


@pytest.fixture
def anna(shop: Business, alice: User) -> Contact:
    return builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)


@pytest.fixture
def make_deal(
    stages: dict[str, DealStage], anna: Contact, clock: Any
) -> Callable[..., Deal]:
    def make(
        stage: str = "invoice", amount: str = "120000", title: str = "Кухня «Лофт»",
        contact: Contact | None = None, seller: User | None = None, **kwargs: Any,
    ) -> Deal:
        return create_deal(
            contact or anna, title, Decimal(amount), stages[stage], seller=seller,
            at=kwargs.pop("at", None) or clock.now(),
        )

    return make
