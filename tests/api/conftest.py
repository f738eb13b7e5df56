"""What the API's tests share: a key of each scope, another business's key, a world."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from kasatka.accounts.models import Business, User
from kasatka.api.keys import issue_key, revoke_key
from kasatka.api.models import Scope
from kasatka.chains.models import ChainKind
from kasatka.deals.models import DealStage, Pipeline
from kasatka.sales.models import LossKind, LossReason
from tests import builders


@pytest.fixture
def no_rate_limit(settings: Any) -> None:
    """The API's rate limit out of the way, for tests that call it many times."""
    settings.KASATKA_API = {"RATE_PER_MINUTE": 0, "BURST": 1}


@dataclass
class Keys:
    write: str
    read: str
    leads: str
    revoked: str
    other: str  # a write key of another business


@pytest.fixture
def keys(shop: Business, other_shop: Business, owner: User) -> Keys:
    revoked = issue_key(shop, "old till", Scope.WRITE, owner)
    revoke_key(revoked.key)
    return Keys(
        write=issue_key(shop, "till", Scope.WRITE, owner).plain,
        read=issue_key(shop, "reports", Scope.READ, owner).plain,
        leads=issue_key(shop, "site", Scope.LEADS, owner).plain,
        revoked=revoked.plain,
        other=issue_key(other_shop, "their till", Scope.WRITE).plain,
    )


@pytest.fixture
def api(keys: Keys) -> Client:
    """A client calling the API with the shop's write key."""
    return Client(headers={"Authorization": f"Bearer {keys.write}"})


@dataclass
class World:
    warming: Any
    loyalty: Any
    pipeline: Pipeline
    stages: list[DealStage]
    price: LossReason


@pytest.fixture
def world(shop: Business) -> World:
    """The shop's method: warming (ends on purchase) and loyalty chains, a pipeline, a loss
    reason."""
    pipeline = Pipeline.objects.create(business=shop, name="Продажи")
    stages = [
        DealStage.objects.create(pipeline=pipeline, name=name, position=i,
                                 waits_for_client=i == 2)
        for i, name in enumerate(("Заявка", "Замер", "Счёт выставлен"), start=1)
    ]
    return World(
        warming=builders.chain(shop, kind=ChainKind.WARMING, exit_on_purchase=True),
        loyalty=builders.chain(shop, kind=ChainKind.LOYALTY, exit_on_purchase=False,
                               name="Лояльность"),
        pipeline=pipeline,
        stages=stages,
        price=LossReason.objects.create(business=shop, name="Разница в цене",
                                        kind=LossKind.OBJECTIVE),
    )
