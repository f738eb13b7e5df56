"""The worker loop: claim due enrollments, decide, write the touches, deliver, record."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import FrameType
from typing import Any, ClassVar

from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    models,
    transaction,
)

from kasatka.accounts.calendar import BusinessCalendar
from kasatka.accounts.models import Business, SendingRules, User, sending_rules
from kasatka.chains.actions import due_time
from kasatka.chains.models import (
    Chain,
    ChainKind,
    Enrollment,
    EnrollmentState,
    Step,
    Touch,
    TouchStatus,
)
from kasatka.chains.templating import (
    BusinessView,
    ContactView,
    DealView,
    LeadAnswersView,
    SellerView,
    TemplateError,
    build_context,
    render,
)
from kasatka.channels.base import Outbound, Outcome, Result
from kasatka.channels.registry import (
    active_accounts,
    available_channels,
    channel_class,
    get_channel,
)
from kasatka.channels.telegram.bot import deep_link
from kasatka.contacts.actions import consent_states, set_address_state
from kasatka.contacts.models import Address, AddressKind, AddressState, Channel, Contact
from kasatka.contacts.unsubscribe import unsubscribe_url
from kasatka.dbutil import ids_in
from kasatka.deals.nudging import thrown_nudges
from kasatka.engine.clock import Clock, get_clock
from kasatka.engine.triggers import run_triggers
from kasatka.sales.conversion import answer_urls, open_conversions
from kasatka.sales.models import Purchase
from kasatka.webhooks.events import on_touch_results

from . import rules
from .guardrails import Guard, priority
from .models import GuardAction, GuardEvent, GuardRule

log = logging.getLogger("kasatka.engine")


@dataclass
class EngineConfig:
    batch_size: int = 100
    lease_seconds: float = 300
    idle_seconds: float = 2
    retry_base_seconds: float = 60
    retry_max_seconds: float = 6 * 3600
    max_attempts: int = 8
    trigger_seconds: float = 60
    # Quiet hours, holidays, caps, suppression, exit rules (issue 7). Off only to measure
    # what they cost (bench/engine.py).
    guardrails: bool = True

    @classmethod
    def from_settings(cls, **overrides: Any) -> EngineConfig:
        conf = settings.KASATKA_ENGINE
        values: dict[str, Any] = {
            "batch_size": conf["BATCH_SIZE"],
            "lease_seconds": conf["LEASE_SECONDS"],
            "idle_seconds": conf["IDLE_SECONDS"],
            "retry_base_seconds": conf["RETRY_BASE_SECONDS"],
            "retry_max_seconds": conf["RETRY_MAX_SECONDS"],
            "max_attempts": conf["MAX_ATTEMPTS"],
            "trigger_seconds": conf["TRIGGER_SECONDS"],
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class Stats:
    batches: int = 0
    claimed: int = 0
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def count(self, status: str, n: int = 1) -> None:
        self.by_status[status] += n

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.by_status.items()))
        return f"{self.batches} batches, {self.claimed} enrollments: {parts or 'nothing'}"


# What the batch path reads of an enrollment and its contact (see Worker.process).
_ENROLLMENT_FIELDS = (
    "id", "business_id", "contact_id", "chain_id", "step_id", "enrolled_at", "last_touch_at",
)
_CONTACT_FIELDS = (
    "id", "business_id", "first_name", "last_name", "patronymic", "gender", "company",
    "birthday", "stage", "language", "owner_id", "time_zone",
)
# Rows per INSERT: well inside SQLite's 32766 parameters and PostgreSQL's 65535.
_INSERT_CHUNK = 500


@dataclass(slots=True)
class ContactRow:
    """A contact as templates and channels read it: the columns of _CONTACT_FIELDS."""

    id: int
    business_id: int
    first_name: str
    last_name: str
    patronymic: str
    gender: str
    company: str
    birthday: date | None
    stage: str
    language: str
    owner_id: int | None
    time_zone: str

    @property
    def pk(self) -> int:
        return self.id


@dataclass(slots=True)
class EnrollmentRow:
    """An enrollment as the batch path handles it, with its shared rows attached."""

    id: int
    business_id: int
    contact_id: int
    chain_id: int
    step_id: int | None
    enrolled_at: datetime
    last_touch_at: datetime | None
    contact: ContactRow = field(init=False)
    chain: Chain = field(init=False)
    business: Business = field(init=False)
    step: Step | None = field(init=False)

    @property
    def pk(self) -> int:
        return self.id


@dataclass(slots=True)
class TouchRow:
    """A touch as the batch path handles it: plain values, written with raw SQL."""

    FIELDS: ClassVar[tuple[str, ...]] = (
        "id", "business_id", "enrollment_id", "step_id", "contact_id", "channel",
        "address_id", "to", "is_commercial", "subject", "body", "status", "idempotency_key",
        "provider_message_id", "attempts", "error", "route_note", "created_at", "sent_at",
        "updated_at",
    )
    INSERT_COLUMNS: ClassVar[tuple[str, ...]] = FIELDS[1:]
    # What planning may change on a touch that already exists (a retry, an interrupted one).
    MUTABLE: ClassVar[tuple[str, ...]] = (
        "status", "error", "channel", "address_id", "to", "subject", "body", "attempts",
        "route_note", "updated_at",
    )

    id: int | None
    business_id: int
    enrollment_id: int
    step_id: int
    contact_id: int
    channel: str
    address_id: int | None
    to: str
    is_commercial: bool
    subject: str
    body: str
    status: str
    idempotency_key: str
    provider_message_id: str
    attempts: int
    error: str
    route_note: str
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime

    @property
    def pk(self) -> int | None:
        return self.id

    @classmethod
    def new(cls, e: EnrollmentRow, step: Step, now: datetime) -> TouchRow:
        return cls(
            id=None, business_id=e.business_id, enrollment_id=e.pk, step_id=step.pk,
            contact_id=e.contact_id, channel="", address_id=None, to="",
            is_commercial=step.is_commercial, subject="", body="", status=TouchStatus.QUEUED,
            idempotency_key=Touch.key_for(e.pk, step.pk), provider_message_id="", attempts=0,
            error="", route_note="", created_at=now, sent_at=None, updated_at=now,
        )

    def changed_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.MUTABLE}

    def insert_values(self, adapt: Callable[[Any], Any]) -> list[Any]:
        return [
            adapt(value) if isinstance(value, datetime) else value
            for value in (getattr(self, name) for name in self.INSERT_COLUMNS)
        ]


class _Adapter:
    """Adapts datetimes for the database once each: a batch's touches share one `now`."""

    def __init__(self) -> None:
        self.adapt = connection.ops.adapt_datetimefield_value
        self.seen: dict[datetime, Any] = {}

    def __call__(self, value: datetime) -> Any:
        adapted = self.seen.get(value)
        if adapted is None:
            adapted = self.seen[value] = self.adapt(value)
        return adapted


@dataclass
class Plan:
    """What to do with one claimed enrollment; filled in over the phases of a batch."""

    enrollment: EnrollmentRow
    touch: TouchRow | None = None
    route: rules.Route | None = None
    link: str = ""
    outbound: Outbound | None = None
    exit_reason: str = ""
    result: Result | None = None
    untried: bool = False
    # Held by a guardrail: the enrollment waits until then (quiet hours, holiday, caps).
    retime_to: datetime | None = None


def _update_rows(rows: models.QuerySet[Any], changes: dict[int, dict[str, Any]]) -> int:
    """Write per-row changes with one UPDATE per distinct set of values, not one per row.

    Rows of a batch mostly share their new values (status "sent", the same next
    step); the few with values of their own go in one bulk CASE update per field set.
    Only rows inside `rows` are touched; returns how many were.
    """
    groups: dict[tuple[tuple[str, Any], ...], list[int]] = defaultdict(list)
    for pk, values in changes.items():
        groups[tuple(sorted(values.items()))].append(pk)
    singles: dict[tuple[str, ...], list[models.Model]] = defaultdict(list)
    updated = 0
    for items, pks in groups.items():
        if len(pks) > 1:
            updated += ids_in(rows, "id", pks).update(**dict(items))
            continue
        obj = rows.model(pk=pks[0])
        for name, value in items:
            setattr(obj, name, value)
        singles[tuple(name for name, _value in items)].append(obj)
    for names, objs in singles.items():
        updated += rows.bulk_update(objs, list(names))
    return updated


class Worker:
    """One engine worker. Several may run against one database (PostgreSQL: on many hosts)."""

    def __init__(
        self,
        config: EngineConfig | None = None,
        clock: Clock | None = None,
        worker_id: str | None = None,
        business_id: int | None = None,
    ) -> None:
        self.config = config or EngineConfig.from_settings()
        # A worker may serve one business only (a dedicated worker for a big tenant,
        # the demo's replay of its past).
        self.business_id = business_id
        self.clock = clock or get_clock()
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stats = Stats()
        self._stop = threading.Event()
        self._nudges: dict[int, Any] = {}
        self._suppressed = _NO_SUPPRESSION
        self._rules_cache: dict[int, tuple[float, SendingRules, BusinessCalendar]] = {}

    # --- the loop -----------------------------------------------------------
    def stop(self) -> None:
        """Finish the batch in hand, release what it has not started, and leave the loop."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("worker %s: signal %s, finishing the batch", self.id, signum)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self, once: bool = False) -> Stats:
        """Work until stopped; with `once`, until nothing is due (for cron)."""
        log.info("worker %s started (batch %s)", self.id, self.config.batch_size)
        failures = 0
        # Time-based triggers run once the queue is drained, then every trigger_seconds
        # even under a backlog: due touches go first, and a worker started on a full queue
        # does not begin by fitting models.
        next_triggers = time.monotonic() + self.config.trigger_seconds
        triggers_ran = False
        while not self.stopping:
            try:
                done = self.run_batch()
                if (done == 0 and not triggers_ran) or time.monotonic() >= next_triggers:
                    run_triggers(self.clock.now())
                    triggers_ran = True
                    next_triggers = time.monotonic() + self.config.trigger_seconds
                    if done == 0:
                        continue  # what the triggers made due goes out in this round
            except (OperationalError, InterfaceError):
                # The database went away (restart, failover): wait and reconnect
                # rather than die; claims of the lost batch come back after their lease.
                failures += 1
                log.exception("worker %s: database error, retrying", self.id)
                if not connection.in_atomic_block:  # (a test's transaction stays open)
                    close_old_connections()
                if once and failures >= 3:
                    raise
                self._stop.wait(min(self.config.idle_seconds * 2**failures, 60))
                continue
            failures = 0
            if done == 0:
                if once:
                    break
                self._stop.wait(self.config.idle_seconds)
        log.info("worker %s stopped: %s", self.id, self.stats)
        return self.stats

    def run_batch(self) -> int:
        """Claim and process one batch; returns how many enrollments it held."""
        now = self.clock.now()
        ids = self.claim(now)
        if ids:
            self.stats.batches += 1
            self.stats.claimed += len(ids)
            self.process(ids, now)
        return len(ids)

    # --- phase 1: claim -----------------------------------------------------
    def claim(self, now: datetime) -> list[int]:
        """Take up to a batch of due enrollments under a lease, in one statement.

        PostgreSQL: FOR UPDATE SKIP LOCKED, so workers never wait on each other.
        SQLite: the transaction begins IMMEDIATE (settings), one writer at a time.
        Either way an expired lease makes a row claimable again.
        """
        enrollment = connection.ops.quote_name(Enrollment._meta.db_table)
        chain = connection.ops.quote_name(Chain._meta.db_table)
        adapt = connection.ops.adapt_datetimefield_value
        only_business = "AND e.business_id = %s" if self.business_id is not None else ""
        skip_locked = (
            "FOR UPDATE OF e SKIP LOCKED"
            if connection.features.has_select_for_update_skip_locked
            else ""
        )
        sql = f"""
            UPDATE {enrollment} SET lease_owner = %s, lease_until = %s
            WHERE id IN (
                SELECT e.id FROM {enrollment} e JOIN {chain} c ON c.id = e.chain_id
                WHERE e.state = %s AND e.next_touch_at <= %s AND c.is_active = %s
                  AND (e.lease_until IS NULL OR e.lease_until < %s) {only_business}
                ORDER BY e.next_touch_at LIMIT %s {skip_locked}
            )
            RETURNING id
        """
        params: list[Any] = [
            self.id,
            adapt(now + timedelta(seconds=self.config.lease_seconds)),
            EnrollmentState.ACTIVE,
            adapt(now),
            True,
            adapt(now),
        ]
        if self.business_id is not None:
            params.append(self.business_id)
        params.append(self.config.batch_size)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [row[0] for row in cursor.fetchall()]

    # --- phase 2: decide and write the touches ------------------------------------
    def process(self, ids: Sequence[int], now: datetime) -> None:
        # Only what the batch path reads: every column left out is one less value
        # to convert per row, and the batch is the engine's hot path.
        enrollments = [
            EnrollmentRow(*row)
            for row in ids_in(
                Enrollment.objects.filter(lease_owner=self.id), "id", ids
            ).values_list(*_ENROLLMENT_FIELDS)
        ]
        self._attach_shared(enrollments, now)
        plans = self.plan(enrollments, now)
        self.deliver(plans)
        self.record(plans, now)

    def _attach_shared(self, enrollments: list[EnrollmentRow], now: datetime) -> None:
        """Load contacts, and the few chains, steps, businesses and sellers of a batch once."""
        contacts = {
            row[0]: ContactRow(*row)
            for row in ids_in(
                Contact.objects.all(), "id", {e.contact_id for e in enrollments}
            ).values_list(*_CONTACT_FIELDS)
        }
        chain_ids = {e.chain_id for e in enrollments}
        self._steps = self._load_steps(chain_ids)
        steps = {s.pk: s for chain_steps in self._steps.values() for s in chain_steps}
        chains = {c.pk: c for c in Chain.objects.filter(pk__in=chain_ids)}
        businesses = {
            b.pk: b for b in Business.objects.filter(pk__in={e.business_id for e in enrollments})
        }
        # Provider accounts (SMS gateway, bots) decide which channels each business has.
        self._accounts = active_accounts(businesses)
        self._available = {pk: available_channels(pk, self._accounts) for pk in businesses}
        self._paper_age = {pk: b.paper_from_age for pk, b in businesses.items()}
        owner_ids = {c.owner_id for c in contacts.values()} - {None}
        owners = {u.pk: u for u in User.objects.filter(pk__in=owner_ids)} if owner_ids else {}
        for e in enrollments:
            e.contact = contacts[e.contact_id]
            e.chain = chains[e.chain_id]
            e.business = businesses[e.business_id]
            e.step = steps.get(e.step_id) if e.step_id is not None else None
        # Template views of the business and sellers are shared by the batch's renders.
        self._business_views = {pk: BusinessView(b) for pk, b in businesses.items()}
        self._today = {pk: now.astimezone(b.zone).date() for pk, b in businesses.items()}
        self._seller_views = {pk: SellerView(u) for pk, u in owners.items()}
        self._no_seller = SellerView(None)
        self._no_deal = DealView(None)
        # One query, and only for a batch with a step that offers the one-click answers.
        offered = any(map(_offers_lead_answers, steps.values()))
        self._open_conversions = open_conversions(list(contacts)) if offered else {}
        self._no_answers = LeadAnswersView(None)
        # The questions sellers threw about stuck deals: one query, for a batch that has some.
        nudging = [e.pk for e in enrollments if e.chain.kind == ChainKind.NUDGE]
        self._nudges = thrown_nudges(nudging) if nudging else {}

    def plan(self, enrollments: list[EnrollmentRow], now: datetime) -> list[Plan]:
        contact_ids = {e.contact_id for e in enrollments}
        addresses: dict[int, list[rules.AddressRow]] = defaultdict(list)
        for row in (
            ids_in(Address.objects.all(), "contact_id", contact_ids)
            .order_by("-is_primary", "id")
            .values_list("id", "contact_id", "kind", "value", "state")
        ):
            address = rules.AddressRow(*row)
            addresses[address.contact_id].append(address)
        consents = consent_states(contact_ids)
        purchases = self._purchase_times(enrollments)
        guard = self._load_guard(enrollments, addresses, now) if self.config.guardrails else None
        self._suppressed = guard.suppressed if guard is not None else _NO_SUPPRESSION
        existing = {
            row["idempotency_key"]: TouchRow(**row)
            for row in Touch.objects.filter(
                idempotency_key__in=[Touch.key_for(e.pk, e.step_id or 0) for e in enrollments]
            ).values(*TouchRow.FIELDS)
        }
        as_loaded = {t.pk: t.changed_values() for t in existing.values()}

        plans: list[Plan] = []
        # The more important chains first: they take a contact's capped slots.
        for e in sorted(enrollments, key=_importance):
            plan = Plan(e)
            plans.append(plan)
            step = e.step
            if step is None:
                plan.exit_reason = "no step"
                continue
            if e.chain.exit_on_purchase and rules.purchased_since(
                purchases.get(e.contact_id, ()), e.enrolled_at
            ):
                plan.exit_reason = "purchased"
                continue
            if guard is not None:
                plan.exit_reason = guard.exit_reason(e, self._nudges.get(e.pk))
                if plan.exit_reason:
                    guard.note(e, GuardRule.EXIT, GuardAction.EXITED, plan.exit_reason, now)
                    continue
            touch = existing.get(Touch.key_for(e.pk, step.pk))
            if touch is not None:
                plan.touch = touch
                if touch.status == TouchStatus.SENDING and not self._idempotent(e, touch.channel):
                    # Interrupted between handing over and hearing back: it may have
                    # gone out. Never resend blindly; show it as unknown.
                    touch.status = TouchStatus.UNKNOWN
                    touch.error = "interrupted while sending; not resent"
                    continue
                if touch.status not in (
                    TouchStatus.QUEUED, TouchStatus.DEFERRED, TouchStatus.SENDING
                ):
                    continue  # already settled; only the enrollment has to move on
            else:
                touch = plan.touch = TouchRow.new(e, step, now)
            route = self._route(e, step, addresses[e.contact_id], consents)
            if isinstance(route, str):
                touch.status = TouchStatus.SKIPPED
                touch.error = route
                if guard is not None:
                    guard.note(e, GuardRule.NO_ROUTE, GuardAction.SKIPPED, route, now)
                if not self._any_later_route(e, step, addresses[e.contact_id], consents):
                    plan.exit_reason = f"cannot be reached any more: {route}"
                continue
            if guard is not None:
                held = guard.hold(e, step, route.channel, fresh=touch.pk is None, now=now)
                if held is not None:
                    until, rule, detail = held
                    if until is None:  # postponed beyond the limit: skipped, with the reason
                        touch.status, touch.error = TouchStatus.SKIPPED, detail
                        guard.note(e, rule, GuardAction.SKIPPED, detail, now)
                        continue
                    plan.retime_to = until
                    if touch.pk is None:
                        plan.touch = None  # nothing written: the enrollment waits
                    guard.note(e, rule, GuardAction.RETIMED, detail, now, until, route.channel)
                    continue
                if route.skipped:
                    guard.note(e, GuardRule.REROUTED, GuardAction.REROUTED, route.skipped, now,
                               channel=route.channel)
            touch.channel = route.channel
            touch.route_note = route.skipped
            touch.address_id = route.address.pk
            touch.to = route.address.value
            touch.updated_at = now
            try:
                subject, body, link = self._render(e, step, route, touch, now)
            except TemplateError as exc:
                touch.status = TouchStatus.FAILED
                touch.error = f"template error: {exc}"
                continue
            touch.subject, touch.body = subject, body
            touch.status = TouchStatus.SENDING
            touch.attempts += 1
            plan.route, plan.link = route, link
            if guard is not None and step.is_commercial:
                guard.caps.take(e.contact_id, now, route.channel)

        # The record goes first, with its unique key; only then does anything leave.
        touches = [p.touch for p in plans if p.touch is not None]
        with transaction.atomic():
            # Existing touches (a retry, an interrupted send) are written only if changed.
            _update_rows(Touch.objects.all(), {
                t.pk: values
                for t in touches
                if t.pk is not None and (values := t.changed_values()) != as_loaded[t.pk]
            })
            self._insert_touches([t for t in touches if t.pk is None])
            if guard is not None and guard.events:
                GuardEvent.objects.bulk_create(guard.events)
        for p in plans:
            if p.route is not None and p.touch is not None:
                if p.touch.status == TouchStatus.SENDING:
                    p.outbound = self._outbound(p, now)
        return plans

    def _insert_touches(self, rows: list[TouchRow]) -> None:
        """One multi-row INSERT … RETURNING per chunk: no model instances on the hot path."""
        table = connection.ops.quote_name(Touch._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in TouchRow.INSERT_COLUMNS)
        width = len(TouchRow.INSERT_COLUMNS)
        placeholders = "(" + ", ".join(["%s"] * width) + ")"
        adapt = _Adapter()
        with connection.cursor() as cursor:
            for start in range(0, len(rows), _INSERT_CHUNK):
                chunk = rows[start : start + _INSERT_CHUNK]
                params: list[Any] = []
                for row in chunk:
                    params.extend(row.insert_values(adapt))
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) VALUES "
                    + ", ".join([placeholders] * len(chunk))
                    + " RETURNING id, idempotency_key",
                    params,
                )
                ids = dict((key, pk) for pk, key in cursor.fetchall())
                for row in chunk:
                    row.id = ids[row.idempotency_key]

    def _render(
        self, e: EnrollmentRow, step: Step, route: rules.Route, touch: TouchRow, now: datetime
    ) -> tuple[str, str, str]:
        contact = e.contact
        link = ""
        if route.channel == Channel.EMAIL:
            link = unsubscribe_url(contact.pk, route.channel, touch.idempotency_key)
        business_view = self._business_views[e.business_id]
        # The contact's personal link to the business's bot ({{ telegram_link }}).
        bot = self._accounts.get((e.business_id, Channel.TELEGRAM))
        nudge = self._nudges.get(e.pk)
        context = build_context(
            ContactView(contact, default_language=business_view.language),
            business=business_view,
            seller=self._seller_views.get(contact.owner_id or 0, self._no_seller),
            deal=DealView(nudge.deal) if nudge is not None else self._no_deal,
            nudge_text=nudge.text if nudge is not None else "",
            unsubscribe_url=link,
            preferences_url=link,
            telegram_link=deep_link(bot, contact.pk),
            lead_answers=self._lead_answers(contact.pk, step),
            today=self._today[e.business_id],
        )
        subject = render(step.subject_template, context)
        body = render(step.body_template, context)
        return " ".join(subject.split()), body, link

    def _lead_answers(self, contact_id: int, step: Step) -> LeadAnswersView:
        """The contact's one-click answers to the lead-conversion question, if asked here."""
        conversion_id = self._open_conversions.get(contact_id)
        if conversion_id is None or not _offers_lead_answers(step):
            return self._no_answers
        return LeadAnswersView(answer_urls(conversion_id))

    def _outbound(self, plan: Plan, now: datetime) -> Outbound:
        e, touch, route = plan.enrollment, plan.touch, plan.route
        assert touch is not None and touch.pk is not None and route is not None
        assert e.step is not None
        return Outbound(
            touch_id=touch.pk,
            idempotency_key=touch.idempotency_key,
            business=e.business,
            contact=e.contact,
            address=route.address,
            step=e.step,
            subject=touch.subject,
            body=touch.body,
            unsubscribe_url=plan.link if e.step.is_commercial else "",
            now=now,
        )

    def _channel_class(self, business_id: int, code: str) -> Any:
        return channel_class(code, self._accounts.get((business_id, code)))

    def _idempotent(self, e: EnrollmentRow, code: str) -> bool:
        cls = self._channel_class(e.business_id, code)
        return cls is not None and cls.idempotent

    def _route(
        self, e: EnrollmentRow, step: Step, addresses: list[rules.AddressRow], consents: Any
    ) -> rules.Route | str:
        channels = step.channels
        nudge = self._nudges.get(e.pk)
        if nudge is not None and nudge.channel in channels:
            # Where the client last wrote to us comes first.
            channels = [nudge.channel, *(c for c in channels if c != nudge.channel)]
        return rules.choose_route(
            channels, step.is_commercial, e.contact_id, addresses, consents,
            suppressed=self._suppressed,
            available=self._available[e.business_id],
            prefer_paper=rules.prefers_paper(
                e.contact.birthday, self._today[e.business_id], self._paper_age[e.business_id]
            ),
        )

    def _load_guard(
        self,
        enrollments: list[EnrollmentRow],
        addresses: dict[int, list[rules.AddressRow]],
        now: datetime,
    ) -> Guard:
        """The guardrails' view of the batch (see kasatka.engine.guardrails.Guard)."""
        business_rules: dict[int, SendingRules] = {}
        calendars: dict[int, BusinessCalendar] = {}
        for business_id in {e.business_id for e in enrollments}:
            cached = self._rules_cache.get(business_id)
            if cached is None or time.monotonic() - cached[0] > _RULES_TTL:
                business = next(e.business for e in enrollments if e.business_id == business_id)
                cached = (time.monotonic(), sending_rules(business_id), BusinessCalendar(business))
                self._rules_cache[business_id] = cached
            business_rules[business_id], calendars[business_id] = cached[1], cached[2]
        phones = {
            contact_id: [a.value for a in rows if a.kind == AddressKind.PHONE]
            for contact_id, rows in addresses.items()
        }
        keys = {(a.kind, a.value) for rows in addresses.values() for a in rows}
        return Guard.load(enrollments, phones, keys, business_rules, calendars, now, self.id)

    def _load_steps(self, chain_ids: Iterable[int]) -> dict[int, list[Step]]:
        steps: dict[int, list[Step]] = defaultdict(list)
        for step in Step.objects.filter(chain_id__in=list(chain_ids)).order_by("position"):
            steps[step.chain_id].append(step)
        return steps

    def _next_step(self, e: EnrollmentRow) -> Step | None:
        for step in self._steps.get(e.chain_id, []):
            if e.step is not None and step.position > e.step.position:
                return step
        return None

    def _any_later_route(
        self, e: EnrollmentRow, current: Step, addresses: list[rules.AddressRow], consents: Any
    ) -> bool:
        later = [s for s in self._steps.get(e.chain_id, []) if s.position > current.position]
        return any(
            isinstance(self._route(e, s, addresses, consents), rules.Route) for s in later
        )

    def _purchase_times(self, enrollments: list[EnrollmentRow]) -> dict[int, list[datetime]]:
        watched = [e for e in enrollments if e.chain.exit_on_purchase]
        times: dict[int, list[datetime]] = defaultdict(list)
        if watched:
            since = min(e.enrolled_at for e in watched)
            for contact_id, at in ids_in(
                Purchase.objects.filter(purchased_at__gte=since),
                "contact_id",
                {e.contact_id for e in watched},
            ).values_list("contact_id", "purchased_at"):
                times[contact_id].append(at)
        return times

    # --- phase 3: deliver -------------------------------------------------------
    def deliver(self, plans: list[Plan]) -> None:
        # One channel object per channel and business: each business has its own
        # provider account (SMS gateway, bot token).
        by_channel: dict[tuple[str, int], list[Plan]] = defaultdict(list)
        for plan in plans:
            if plan.outbound is not None and plan.touch is not None:
                by_channel[plan.touch.channel, plan.enrollment.business_id].append(plan)
        for (code, business_id), group in by_channel.items():
            channel = get_channel(code, self._accounts.get((business_id, code)))
            channel.open()
            try:
                results = channel.deliver_batch(
                    [p.outbound for p in group if p.outbound is not None], lambda: self.stopping
                )
            finally:
                channel.close()
            for plan, result in zip(group, results, strict=True):
                plan.result = result
                plan.untried = result is None

    # --- phase 4: record ----------------------------------------------------------
    def record(self, plans: list[Plan], now: datetime) -> None:
        touch_changes: dict[int, dict[str, Any]] = {}
        enrollment_changes: dict[int, dict[str, Any]] = {}
        bounced: dict[str, list[tuple[int, str]]] = defaultdict(list)
        cfg = self.config
        for plan in plans:
            e, touch, result = plan.enrollment, plan.touch, plan.result
            if plan.retime_to is not None:
                enrollment_changes[e.pk] = {
                    "next_touch_at": plan.retime_to, "lease_owner": "", "lease_until": None,
                }
                self.stats.count("held")
                continue
            if plan.untried:
                # Stopped before its turn: nothing left us, so it goes back as it was.
                assert touch is not None and touch.pk is not None
                # Not an attempt: it must not count towards giving up.
                touch_changes[touch.pk] = {
                    "status": TouchStatus.QUEUED, "attempts": max(touch.attempts - 1, 0),
                    "updated_at": now,
                }
                enrollment_changes[e.pk] = {"lease_owner": "", "lease_until": None}
                self.stats.count("released")
                continue
            if result is not None and touch is not None:
                assert touch.pk is not None
                change: dict[str, Any] = {"updated_at": now}
                if result.outcome is Outcome.SENT:
                    change.update(status=TouchStatus.SENT, sent_at=now, error="")
                    channel = self._channel_class(e.business_id, touch.channel)
                    if result.provider_message_id and channel and channel.records_provider_id:
                        change["provider_message_id"] = result.provider_message_id
                elif result.outcome is Outcome.UNKNOWN:
                    change.update(status=TouchStatus.UNKNOWN, error=result.error)
                elif result.outcome is Outcome.PERMANENT:
                    # A bounce is this message's fate; a number that blocked us earlier
                    # (a blocked bot, STOP at the provider) only made it fail.
                    bounced_now = result.address_state == AddressState.BOUNCED
                    change.update(
                        status=TouchStatus.BOUNCED if bounced_now else TouchStatus.FAILED,
                        error=result.error,
                    )
                    if result.address_state and touch.address_id is not None:
                        bounced[result.address_state].append((touch.address_id, result.error))
                elif touch.attempts >= cfg.max_attempts:
                    change.update(
                        status=TouchStatus.FAILED,
                        error=f"gave up after {touch.attempts} attempts: {result.error}",
                    )
                else:
                    change.update(status=TouchStatus.DEFERRED, error=result.error)
                    delay = rules.backoff(
                        touch.attempts, cfg.retry_base_seconds, cfg.retry_max_seconds,
                        result.retry_after,
                    )
                    touch_changes[touch.pk] = change
                    enrollment_changes[e.pk] = {
                        "next_touch_at": now + delay, "lease_owner": "", "lease_until": None,
                    }
                    self.stats.count("deferred")
                    continue
                touch_changes[touch.pk] = change
                self.stats.count(change["status"])
            elif touch is not None:
                self.stats.count(touch.status)
            enrollment_changes[e.pk] = self._move_on(plan, now)

        with transaction.atomic():
            _update_rows(Touch.objects.all(), touch_changes)
            on_touch_results(plans, touch_changes)
            for state, items in bounced.items():
                for reason, addresses in _group_by_reason(items).items():
                    set_address_state(addresses, state, reason, now)
            # A worker that overran its lease has lost the enrollment to another:
            # its touch results still stand, but it must not move the enrollment.
            moved = _update_rows(
                Enrollment.objects.filter(lease_owner=self.id), enrollment_changes
            )
        if moved < len(enrollment_changes):
            log.warning(
                "worker %s: lease lost on %s enrollments", self.id, len(enrollment_changes) - moved
            )

    def _move_on(self, plan: Plan, now: datetime) -> dict[str, Any]:
        """The enrollment's next state: the next step, or the end of the chain."""
        e = plan.enrollment
        released: dict[str, Any] = {"lease_owner": "", "lease_until": None}
        touched = plan.touch is not None and plan.touch.status not in (
            TouchStatus.SKIPPED, TouchStatus.FAILED
        )
        if touched:
            released["last_touch_at"] = now
        if plan.exit_reason:
            return {
                **released, "state": EnrollmentState.EXITED, "next_touch_at": None,
                "ended_at": now, "exit_reason": plan.exit_reason,
            }
        following = self._next_step(e)
        if following is None:
            return {
                **released, "state": EnrollmentState.FINISHED, "step_id": None,
                "next_touch_at": None, "ended_at": now, "exit_reason": "chain completed",
            }
        return {
            **released,
            "step_id": following.pk,
            "next_touch_at": due_time(following, e.enrolled_at, now),
        }


_NO_SUPPRESSION = rules.Suppressed({}, {})
# How long a worker trusts the sending rules and calendar it read (settings change rarely).
_RULES_TTL = 30.0


def _importance(e: EnrollmentRow) -> tuple[int, int]:
    """Plan order: the more important chain first (it takes the capped slots), then by id."""
    commercial = e.step.is_commercial if e.step is not None else True
    return priority(e.chain.kind, commercial), e.pk


def _offers_lead_answers(step: Step) -> bool:
    return "lead_answers" in step.body_template or "lead_answers" in step.subject_template


def _group_by_reason(items: list[tuple[int, str]]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = defaultdict(list)
    for address_id, reason in items:
        grouped[reason].append(address_id)
    return grouped


def run_worker(once: bool = False, config: EngineConfig | None = None) -> Stats:
    """The `kasatka worker` command: a worker with signal handling."""
    worker = Worker(config)
    worker.install_signal_handlers()
    return worker.run(once=once)
