"""Every operation of the OpenAPI document, fuzzed by schemathesis with a live write key:
no answer is a 5xx, every answer is one the document declares, in the shape it declares.

Hypothesis runs derandomized (the same examples every run), a bounded number per
operation; generated ids are swapped for the shop's real ones half of the time so the
answers are not all 404s and 422s.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from kasatka.chains.models import Enrollment, Touch, TouchStatus
from kasatka.deals.actions import create_deal
from kasatka.sales.actions import record_purchase, record_visit
from kasatka.sales.models import LeadSource
from tests import builders

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
POSITIVE_EXAMPLES = 25
NEGATIVE_EXAMPLES = 10


@pytest.fixture
def real_ids(shop, owner, world, clock) -> dict[str, list[int]]:
    """A shop with one of everything, by the names ids go by in paths and bodies."""
    anna = builders.contact(shop, email="anna@example.com", phone="+79161234567")
    boris = builders.contact(shop, email="boris@example.com", first_name="Борис")
    source = LeadSource.objects.create(business=shop, name="Яндекс", utm_source="yandex")
    visit = record_visit(anna, business_id=shop.pk, bought=False, contacts_taken=True,
                         loss_reason=world.price)
    purchase = record_purchase(boris, Decimal("1200"), owner)
    deal = create_deal(anna, "Кухня", 90000, stage=world.stages[0])
    enrollment = Enrollment.objects.filter(contact=anna).first()
    assert enrollment is not None
    step = world.warming.steps.first()
    touch = Touch.objects.create(
        business=shop, enrollment=enrollment, step=step, contact=anna, channel="email",
        to="anna@example.com", subject="Новость", body="Текст", status=TouchStatus.SENT,
        idempotency_key=Touch.key_for(enrollment.pk, step.pk),
        sent_at=clock.now() - timedelta(hours=1),
    )
    return {
        "contact_id": [anna.pk, boris.pk], "owner_id": [owner.pk], "seller_id": [owner.pk],
        "owner": [owner.pk], "source_id": [source.pk], "source": [source.pk],
        "visit_id": [visit.pk], "purchase_id": [purchase.pk], "deal_id": [deal.pk],
        "stage_id": [s.pk for s in world.stages], "loss_reason_id": [world.price.pk],
        "enrollment_id": [enrollment.pk], "chain_id": [world.warming.pk, world.loyalty.pk],
        "touch_id": [touch.pk],
    }


def _with_real_ids(case: Any, choose: Any, real: dict[str, list[int]]) -> Any:
    for name in list(case.path_parameters or {}):
        if name in real and choose(st.booleans()):
            case.path_parameters[name] = choose(st.sampled_from(real[name]))
    if isinstance(case.body, dict):
        for name in list(case.body):
            if name in real and choose(st.booleans()):
                case.body[name] = choose(st.sampled_from(real[name]))
    return case


@pytest.fixture
def wsgi_in_the_test_transaction(settings) -> Iterator[Any]:
    """The real WSGI application, kept from closing the test's connection at the end of
    each request (what Django's own test client does)."""
    settings.ALLOWED_HOSTS = ["*"]
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_every_operation_keeps_to_the_openapi_document(
    real_ids, keys, wsgi_in_the_test_transaction, no_rate_limit
):
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/openapi.json", wsgi_in_the_test_transaction
    )
    headers = {"Authorization": f"Bearer {keys.write}"}
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28  # every resource is in the document

    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, POSITIVE_EXAMPLES),
                               (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES)):

            @hypothesis.settings(
                max_examples=examples, derandomize=True, deadline=None, database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
            def call(case: Any, data: Any) -> None:
                case = _with_real_ids(case, data.draw, real_ids)
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                call()
            except Exception as exc:  # collected: one report of every operation that fails
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
