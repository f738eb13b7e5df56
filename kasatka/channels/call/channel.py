"""The call channel: a touch becomes a task in the owning seller's list."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kasatka.channels.base import BaseChannel, Outbound, Outcome, Result
from kasatka.contacts.models import AddressKind

from .models import CallTask


class CallChannel(BaseChannel):
    code = "call"
    address_kind = AddressKind.PHONE
    # The task is written in our own database under the touch's unique key:
    # repeating an interrupted batch cannot create a second task.
    idempotent = True
    records_provider_id = False  # the task is found by its touch

    def deliver_batch(
        self, messages: Sequence[Outbound], should_stop: Callable[[], bool]
    ) -> list[Result | None]:
        existing = set(
            CallTask.objects.filter(touch_id__in=[m.touch_id for m in messages]).values_list(
                "touch_id", flat=True
            )
        )
        tasks = [
            CallTask(
                business_id=m.business.pk,
                touch_id=m.touch_id,
                contact_id=m.contact.pk,
                assignee_id=m.contact.owner_id,
                phone=m.address.value,
                reason=m.step.reason,
                script=m.body,
                due_at=m.now,
                created_at=m.now,
            )
            for m in messages
            if m.touch_id not in existing
        ]
        CallTask.objects.bulk_create(tasks)
        return [Result(Outcome.SENT, provider_message_id=f"call:{m.touch_id}") for m in messages]
