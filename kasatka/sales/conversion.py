"""Lead conversion (METHOD.md §3): a new lead's window, the question at its end, and the route.

- `start_lead_conversion` opens the window (`lc_window_days`) and enrols the lead in the
  business's lead-conversion chain (2–3 touches a week across channels; its last touch asks
  the question with one-click links, `answer_urls`).
- `close_expired_windows` (a trigger the worker runs every minute): a window that ended
  without a purchase gives the owning seller a call task to ask which of three cases holds.
  A question nobody answered becomes "no answer": when the seller closes the task without
  recording an answer, or `KASATKA_LC_ANSWER_DAYS` (default 7) after the task was given.
- `record_lead_outcome` routes the answer: not ripe or no answer → the nurture chain;
  bought from a competitor → the win-back chain, its first touch `winback_delay_days` later
  (the enrollment's first touch is moved: the same chain serves lapsing clients at once);
  no longer relevant → stop. Every outcome ends the lead-conversion chain.
- `on_purchase` closes the window as bought and, at the first purchase, hands the client to
  the account manager when the business's rule says so.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.urls import reverse

from kasatka.accounts.models import AccountHandoff, User, method_settings
from kasatka.chains.actions import AlreadyEnrolled, end_enrollments, enroll
from kasatka.chains.models import ChainKind, Enrollment
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.contacts.models import Address, AddressKind, AddressState, Contact, Stage
from kasatka.dbutil import ids_in
from kasatka.engine.clock import now as clock_now

from .default_chains import method_chain
from .models import LeadConversion, LeadOutcome, Purchase

log = logging.getLogger("kasatka.sales")

# Who gave the outcome (LeadConversion.answered_by).
BY_CONTACT: Final = "contact"
BY_SELLER: Final = "seller"
BY_SYSTEM: Final = "system"

# The three cases the question asks about (METHOD.md §3), in the order they are offered.
ANSWERS: Final = (LeadOutcome.NOT_RIPE, LeadOutcome.COMPETITOR, LeadOutcome.NOT_RELEVANT)

_SALT: Final = "kasatka.lead-answer"
_PLACEHOLDER: Final = "TOKEN"
# Windows handled per trigger run; the rest wait a minute for the next one.
_BATCH: Final = 500
# The seller's call task; Russian, as the chains' texts are (the demo business is Russian).
QUESTION_REASON: Final = "Окно конверсии лида закрылось без покупки: узнать, какой из трёх случаев"


class AnswerRefused(Exception):
    """The window is closed already: its outcome stands."""


# --- opening the window ----------------------------------------------------------


def start_lead_conversion(contact: Contact, at: datetime) -> LeadConversion | None:
    """A new lead enters the lead-conversion window and chain.

    Nothing happens for a contact who already has an open window (one at a time) or who
    has bought before (a client is account management's, not a lead).
    """
    if contact.stage != Stage.LEAD or contact.purchases.exists():
        return None
    ends_at = at + timedelta(days=method_settings(contact.business_id).lc_window_days)
    try:
        with transaction.atomic():
            conversion = LeadConversion.objects.create(
                business_id=contact.business_id,
                contact=contact,
                source_id=contact.source_id,
                started_at=at,
                ends_at=ends_at,
            )
    except IntegrityError:
        return None  # a window is open already (the unique constraint on open ones)
    _enrol(contact, ChainKind.LEAD_CONVERSION, at)
    return conversion


def _enrol(contact: Contact, kind: str, at: datetime) -> Enrollment | None:
    chain = method_chain(contact.business_id, kind)
    if chain is None:
        return None  # the business paused every chain of this kind
    try:
        return enroll(contact, chain, at)
    except AlreadyEnrolled:
        return None


# --- the answer and where it leads -------------------------------------------------


def record_lead_outcome(
    conversion: LeadConversion, outcome: str, by: str, at: datetime | None = None
) -> LeadConversion:
    """Close the window with its outcome and route the contact by it.

    `by` is who answered: BY_CONTACT, BY_SELLER or BY_SYSTEM. Raises AnswerRefused when the
    window was closed already (two answers racing: the first one stands).
    """
    if outcome not in LeadOutcome.values:
        raise ValueError(f"unknown lead outcome {outcome!r}")
    at = at or clock_now()
    with transaction.atomic():
        closed = LeadConversion.objects.filter(pk=conversion.pk, outcome="").update(
            outcome=outcome, outcome_at=at, answered_by=by
        )
        if not closed:
            raise AnswerRefused(f"lead conversion {conversion.pk} is closed already")
        conversion.outcome, conversion.outcome_at, conversion.answered_by = outcome, at, by
        _route(conversion, outcome, at)
    return conversion


def _route(conversion: LeadConversion, outcome: str, at: datetime) -> None:
    contact = conversion.contact
    end_enrollments(
        Enrollment.objects.filter(contact=contact, chain__kind=ChainKind.LEAD_CONVERSION),
        f"lead conversion closed: {outcome}",
        at,
    )
    if outcome in (LeadOutcome.NOT_RIPE, LeadOutcome.NO_ANSWER):
        _enrol(contact, ChainKind.NURTURE, at)
    elif outcome == LeadOutcome.COMPETITOR:
        enrollment = _enrol(contact, ChainKind.WINBACK, at)
        if enrollment is not None and enrollment.next_touch_at is not None:
            # They have just bought elsewhere: win them back when that purchase has aged.
            delay = timedelta(days=method_settings(contact.business_id).winback_delay_days)
            first_touch = max(enrollment.next_touch_at, at + delay)
            Enrollment.objects.filter(pk=enrollment.pk).update(next_touch_at=first_touch)
            enrollment.next_touch_at = first_touch
    # Not relevant: stop. Bought: account management takes over (on_purchase, loyalty).


# --- the trigger -------------------------------------------------------------------


def close_expired_windows(now: datetime) -> int:
    """Windows that ended: bought, ask the seller, or give up waiting. Idempotent."""
    return _close_bought(now) + _ask_sellers(now) + _close_unanswered(now)


def _expired(now: datetime) -> QuerySet[LeadConversion]:
    return LeadConversion.objects.filter(outcome="", ends_at__lte=now).select_related("contact")


def _close_bought(now: datetime) -> int:
    """A purchase that reached us by a path that did not close the window (an import)."""
    bought = Purchase.objects.filter(
        contact_id=OuterRef("contact_id"),
        purchased_at__gte=OuterRef("started_at"),
        purchased_at__lte=now,
    )
    done = 0
    for conversion in _expired(now).filter(Exists(bought))[:_BATCH]:
        done += _close_quietly(conversion, LeadOutcome.BOUGHT, now)
    return done


def _ask_sellers(now: datetime) -> int:
    """The owning seller gets a call task: which of the three cases holds?"""
    waiting = list(_expired(now).filter(call_task__isnull=True)[:_BATCH])
    phones = first_phones(c.contact_id for c in waiting)
    done = 0
    for conversion in waiting:
        with transaction.atomic():
            task = CallTask.objects.create(
                business_id=conversion.business_id,
                contact_id=conversion.contact_id,
                assignee_id=conversion.contact.owner_id,
                phone=phones.get(conversion.contact_id, ""),
                reason=QUESTION_REASON,
                script=_question_script(conversion.contact),
                due_at=now,
                created_at=now,
            )
            linked = LeadConversion.objects.filter(
                pk=conversion.pk, outcome="", call_task__isnull=True
            ).update(call_task=task)
            if not linked:  # another worker asked first, or the contact answered meanwhile
                task.delete()
                continue
        done += 1
    return done


def _close_unanswered(now: datetime) -> int:
    """No answer: the task was closed without one, or nobody answered for too long."""
    waited = timedelta(days=answer_days())
    stale = _expired(now).filter(
        Q(call_task__closed_at__isnull=False) | Q(call_task__created_at__lte=now - waited)
    ).select_related("call_task")
    done = 0
    for conversion in stale[:_BATCH]:
        task = conversion.call_task
        if task is not None and task.is_open:
            # The question is moot now: it leaves the seller's list.
            _retire_task(task, now, CallOutcome.NO_ANSWER, "no answer to the question in time")
        done += _close_quietly(conversion, LeadOutcome.NO_ANSWER, now)
    return done


def _close_quietly(conversion: LeadConversion, outcome: str, at: datetime) -> int:
    try:
        record_lead_outcome(conversion, outcome, BY_SYSTEM, at)
    except AnswerRefused:
        return 0  # answered between our read and now: that answer stands
    return 1


def answer_days() -> int:
    """How long a seller's question may go unanswered before it counts as "no answer"."""
    return int(settings.KASATKA_LC_ANSWER_DAYS)


def first_phones(contact_ids: Iterable[int]) -> dict[int, str]:
    """Each contact's first usable phone, primary first."""
    phones: dict[int, str] = {}
    rows = (
        Address.objects.filter(
            contact_id__in=list(contact_ids),
            kind=AddressKind.PHONE,
            state__in=(AddressState.ACTIVE, AddressState.UNVERIFIED),
        )
        .order_by("-is_primary", "id")
        .values_list("contact_id", "value")
    )
    for contact_id, value in rows:
        phones.setdefault(contact_id, value)
    return phones


def _retire_task(task: CallTask, at: datetime, outcome: str, why: str) -> None:
    """Close a question task that no longer needs a call.

    Not `close_call`: that would keep a "no answer" task for another try, and the task
    carries no chain touch to settle.
    """
    CallTask.objects.filter(pk=task.pk, closed_at__isnull=True).update(
        outcome=outcome,
        closed_at=at,
        note=f"{task.note}\n{why}".strip(),
    )


def _question_script(contact: Contact) -> str:
    name = " ".join(p for p in (contact.first_name, contact.patronymic) if p) or "клиент"
    return (
        f"Позвоните: {name}. Окно конверсии закрылось без покупки. Цель — узнать, какой "
        "из трёх случаев верен, и отметить его кнопкой ниже.\n\n"
        "1. «Добрый день! Это консультант салона. Вы были у нас около месяца назад — "
        "удобно говорить минуту?»\n"
        "2. «Подскажите, пожалуйста, Вы уже выбрали, что искали?»\n"
        "   • Купили в другом месте → «Купил у конкурента». Спросите, что повлияло на "
        "выбор, и запишите в заметку.\n"
        "   • Задача больше не стоит → «Неактуально». Поблагодарите; больше не беспокоим.\n"
        "   • Ещё выбирает или отложил → «Не созрел». Предложите присылать полезное "
        "раз в месяц.\n"
        "3. Если не дозвонились — отметьте «нет ответа»: звонок вернётся в список."
    )


# --- purchase and account management -------------------------------------------------


def on_purchase(contact: Contact, at: datetime) -> None:
    """A purchase closes the lead's window as "bought" and hands the client to AM."""
    conversion = LeadConversion.objects.filter(contact=contact, outcome="").first()
    if conversion is not None:
        conversion.contact = contact
        if _close_quietly(conversion, LeadOutcome.BOUGHT, at):
            task = conversion.call_task
            if task is not None and task.is_open:
                _retire_task(task, at, "", "the client bought: no need to ask")
    _hand_off(contact, at)


def _hand_off(contact: Contact, at: datetime) -> None:
    """At the first purchase the account manager may take the client (the business's rule)."""
    rule = method_settings(contact.business_id)
    if rule.account_handoff != AccountHandoff.ACCOUNT_MANAGER or rule.account_manager_id is None:
        return
    if contact.owner_id == rule.account_manager_id:
        return
    if Purchase.objects.filter(contact=contact, purchased_at__lt=at).exists():
        return  # handed over (or kept by choice) at the first purchase already
    manager = User.objects.filter(
        pk=rule.account_manager_id, business_id=contact.business_id, is_active=True
    ).first()
    if manager is None:
        log.warning("account manager %s is not of business %s", rule.account_manager_id,
                    contact.business_id)
        return
    contact.owner = manager
    contact.save(update_fields=["owner", "updated_at"])


# --- one-click answers --------------------------------------------------------------


def _signer() -> signing.Signer:
    return signing.Signer(salt=_SALT)


def answer_token(conversion_id: int, outcome: str) -> str:
    return _signer().sign(f"{conversion_id}.{outcome}")


def read_answer_token(token: str) -> tuple[int, str]:
    """The conversion and the answer a link carries; signing.BadSignature if forged."""
    value = _signer().unsign(token)
    conversion_id, _dot, outcome = value.partition(".")
    if not conversion_id.isdigit() or outcome not in ANSWERS:
        raise signing.BadSignature("malformed token")
    return int(conversion_id), outcome


@functools.cache
def _url_template(base_url: str) -> str:
    return base_url + reverse("lead_answer", kwargs={"token": _PLACEHOLDER})


def answer_urls(conversion_id: int) -> dict[str, str]:
    """The three one-click links of a conversion, by answer: {{ lead_answers.<answer> }}."""
    template = _url_template(settings.KASATKA_BASE_URL)
    return {
        str(outcome): template.replace(_PLACEHOLDER, answer_token(conversion_id, outcome))
        for outcome in ANSWERS
    }


def open_conversions(contact_ids: Iterable[int]) -> dict[int, int]:
    """The open conversion of each of these contacts that has one: contact id → its id."""
    # ids_in: the engine asks this for a whole batch of contacts at once.
    return dict(
        ids_in(LeadConversion.objects.filter(outcome=""), "contact_id", contact_ids).values_list(
            "contact_id", "id"
        )
    )

