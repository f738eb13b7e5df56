"""Lead capture runs in two modes: the lead kept in the inbox and handed to the intake by
the task worker (the default), or the intake in the request. The endpoint's tests run in
both; in the first, the inbox is swept as each request finishes, as the worker would."""

from __future__ import annotations

import pytest
from django.core.signals import request_finished

from kasatka.capture.actions import process_inbox
from kasatka.capture.models import IdempotentAnswer, LeadInbox


def kept_answers(key: str) -> int:
    """Records kept for an Idempotency-Key: an answer (intake in the request) or the
    accepted lead itself (the inbox)."""
    return (IdempotentAnswer.objects.filter(key=key).count()
            + LeadInbox.objects.filter(idempotency_key=key).count())


def _sweep(**kwargs: object) -> None:
    process_inbox()


@pytest.fixture(params=["deferred", "in-request"])
def capture_mode(request, settings):
    deferred = request.param == "deferred"
    settings.KASATKA_CAPTURE = {**settings.KASATKA_CAPTURE, "DEFER": deferred}
    if deferred:
        request_finished.connect(_sweep, dispatch_uid="capture-inbox-sweep")
    yield request.param
    request_finished.disconnect(dispatch_uid="capture-inbox-sweep")
