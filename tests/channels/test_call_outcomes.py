"""Call outcomes drive the chain: reached, no answer, call back at…, refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from kasatka.chains.actions import enroll
from kasatka.chains.models import EnrollmentState, Touch, TouchStatus
from kasatka.channels.call.actions import close_call
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.contacts.actions import consent_states
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def call(shop, alice, clock):
    """A chain of a call, then an e-mail two days later; the call task is made."""
    chain = builders.chain(shop, steps=[
        {"channels": ["call"], "body_template": "Спросите про кухню."},
        {"channels": ["email"], "delay": timedelta(days=2)},
    ])
    contact = builders.contact(shop, phone="+79161110000", owner=alice)
    enrollment = enroll(contact, chain, clock.now())
    Worker(EngineConfig(), clock=clock).run_batch()
    enrollment.refresh_from_db()
    return CallTask.objects.get(contact=contact), enrollment


def test_reached_delivers_the_touch_and_the_chain_goes_on(call, alice, clock):
    task, enrollment = call
    close_call(task, CallOutcome.REACHED, alice, "довольна")
    assert Touch.objects.get(pk=task.touch_id).status == TouchStatus.DELIVERED
    before = enrollment.next_touch_at
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.ACTIVE
    assert enrollment.next_touch_at == before


def test_no_answer_brings_the_call_back_until_the_last_try(call, alice, clock, settings):
    settings.KASATKA_CALLS = {"NO_ANSWER_ATTEMPTS": 3, "NO_ANSWER_RETRY_HOURS": 24}
    task, _enrollment = call
    for attempt in (2, 3):
        close_call(task, CallOutcome.NO_ANSWER, alice)
        task.refresh_from_db()
        assert task.is_open and task.attempts == attempt
        assert task.due_at == clock.now() + timedelta(hours=24)
        clock.advance(timedelta(hours=24))
    close_call(task, CallOutcome.NO_ANSWER, alice)
    task.refresh_from_db()
    assert not task.is_open and task.outcome == CallOutcome.NO_ANSWER
    touch = Touch.objects.get(pk=task.touch_id)
    assert touch.status == TouchStatus.FAILED
    assert touch.error == "no answer after 3 calls"
    assert task.note.count(str(CallOutcome.NO_ANSWER.label)) == 3


def test_call_back_moves_the_task_and_holds_the_next_touch(call, alice, clock):
    task, enrollment = call
    spacing = enrollment.next_touch_at - clock.now()
    promised = clock.now() + timedelta(days=5)
    close_call(task, CallOutcome.CALL_BACK, alice, "перезвонить после отпуска", promised)
    task.refresh_from_db()
    assert task.is_open and task.due_at == promised and task.callback_at == promised
    enrollment.refresh_from_db()
    # The e-mail was due in two days; it now comes two days after the promised call.
    assert enrollment.next_touch_at == promised + spacing


def test_call_back_in_the_past_is_refused(call, alice, clock):
    task, _enrollment = call
    with pytest.raises(ValidationError):
        close_call(task, CallOutcome.CALL_BACK, alice, callback_at=clock.now() - timedelta(hours=1))


def test_refused_withdraws_consent_and_ends_the_chain(call, alice, clock):
    task, enrollment = call
    close_call(task, CallOutcome.REFUSED, alice, "не интересно")
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.EXITED
    assert enrollment.exit_reason == "refused on the phone"
    assert Touch.objects.get(pk=task.touch_id).status == TouchStatus.UNSUBSCRIBED
    states = consent_states([task.contact_id])
    assert states[(task.contact_id, "call", "commercial")] == "withdrawn"
    # Nothing more is sent to them in this chain, however long the engine runs.
    clock.advance(timedelta(days=30))
    Worker(EngineConfig(), clock=clock).run(once=True)
    assert Touch.objects.filter(contact_id=task.contact_id).count() == 1


def test_a_closed_call_cannot_be_closed_again(call, alice):
    task, _enrollment = call
    close_call(task, CallOutcome.REACHED, alice)
    with pytest.raises(ValidationError):
        close_call(task, CallOutcome.REFUSED, alice)
