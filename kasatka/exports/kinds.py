"""What each kind of export holds: its rows (scoped to the user), columns and values.

Rows are read with `values()` through `.iterator(chunk_size=…)` in primary-key order and
turned into lines a chunk at a time; what a line needs besides its own row (a contact's
addresses and consents) is read once per chunk, and the business's small tables (users,
sources, chains, stages, loss reasons) once per export. Memory is one chunk, whatever
the number of rows. Internal fields (idempotency keys, provider message ids, the signed
tokens of links inside a touch's text) are never written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.functions import Substr

from kasatka.accounts.access import scope_to_user
from kasatka.accounts.models import Business, User
from kasatka.chains.models import Step, Touch
from kasatka.contacts.actions import consent_states
from kasatka.contacts.models import Address, AddressKind, Channel, Contact, Purpose
from kasatka.dbutil import ids_in
from kasatka.deals.models import Deal, DealStage
from kasatka.sales.models import LeadSource, LossReason, Visit

from .models import ExportKind

Row = list[Any]

# Links whose path carries a signed token (unsubscribe, consent, the lead's answer): the
# token is a credential of the contact, so it is cut out of a touch's text.
TOKEN_LINK = re.compile(r"/(u|c|lc)/[^/\s\"'<>]+/?")


def mask_tokens(text: str) -> str:
    return TOKEN_LINK.sub(lambda m: f"/{m.group(1)}/…/", text)


class Lookups:
    """The business's small tables, read once per export, and its time zone."""

    def __init__(self, business: Business) -> None:
        self.business = business
        self.zone = ZoneInfo(business.time_zone)

    @cached_property
    def users(self) -> dict[int, str]:
        rows = User.objects.filter(business=self.business).values_list(
            "id", "first_name", "last_name", "username"
        )
        return {pk: " ".join(p for p in (f, ln) if p) or u for pk, f, ln, u in rows}

    @cached_property
    def sources(self) -> dict[int, str]:
        return dict(LeadSource.objects.filter(business=self.business).values_list("id", "name"))

    @cached_property
    def steps(self) -> dict[int, tuple[str, int]]:
        rows = Step.objects.filter(chain__business=self.business).values_list(
            "id", "chain__name", "position"
        )
        return {pk: (chain, position) for pk, chain, position in rows}

    @cached_property
    def stages(self) -> dict[int, tuple[str, str]]:
        rows = DealStage.objects.filter(pipeline__business=self.business).values_list(
            "id", "pipeline__name", "name"
        )
        return {pk: (pipeline, name) for pk, pipeline, name in rows}

    @cached_property
    def reasons(self) -> dict[int, str]:
        return dict(LossReason.objects.filter(business=self.business).values_list("id", "name"))

    def local(self, value: datetime | None) -> datetime | None:
        """A moment in the business's zone, without the zone (as spreadsheets keep time)."""
        if value is None:
            return None
        return value.astimezone(self.zone).replace(tzinfo=None, microsecond=0)

    def user(self, pk: int | None) -> str:
        return self.users.get(pk, "") if pk is not None else ""


def full_name(last: str, first: str, patronymic: str) -> str:
    return " ".join(p for p in (last, first, patronymic) if p)


@dataclass(frozen=True)
class Kind:
    """One kind of export: where its rows come from and how a chunk becomes lines."""

    model: type[Any]
    owner_field: str  # for scope_to_user: whose rows a seller would see
    date_field: str  # the period filter
    stage_field: str  # the contact's lifecycle stage
    seller_field: str
    source_field: str
    fields: tuple[str, ...]  # read with values()
    columns: tuple[str, ...]  # the header line
    lines: Callable[[list[dict[str, Any]], Lookups], list[Row]]
    annotate: Callable[[], dict[str, Any]] | None = None


CONSENT_CHANNELS: tuple[str, ...] = tuple(Channel.values)


def _contact_lines(chunk: list[dict[str, Any]], look: Lookups) -> list[Row]:
    ids = [r["id"] for r in chunk]
    phones: dict[int, list[str]] = {}
    emails: dict[int, list[str]] = {}
    addresses = (
        ids_in(Address.objects.all(), "contact_id", ids)
        .filter(kind__in=(AddressKind.PHONE, AddressKind.EMAIL))
        .order_by("-is_primary", "id")
        .values_list("contact_id", "kind", "value")
    )
    for contact_id, kind, value in addresses:
        (phones if kind == AddressKind.PHONE else emails).setdefault(contact_id, []).append(value)
    consents = consent_states(ids)
    lines = []
    for r in chunk:
        pk = r["id"]
        lines.append([
            pk, r["last_name"], r["first_name"], r["patronymic"], r["company"], r["birthday"],
            ", ".join(phones.get(pk, ())), ", ".join(emails.get(pk, ())),
            r["stage"], look.user(r["owner_id"]),
            look.sources.get(r["source_id"], "") if r["source_id"] else "",
            look.local(r["created_at"]),
            *(consents.get((pk, ch, Purpose.COMMERCIAL), "") for ch in CONSENT_CHANNELS),
        ])
    return lines


def _touch_lines(chunk: list[dict[str, Any]], look: Lookups) -> list[Row]:
    lines = []
    for r in chunk:
        chain, position = look.steps.get(r["step_id"], ("", None))
        lines.append([
            r["id"], r["contact_id"],
            full_name(r["contact__last_name"], r["contact__first_name"],
                      r["contact__patronymic"]),
            chain, position, r["channel"], r["to"], r["status"],
            look.local(r["created_at"]), look.local(r["sent_at"]),
            look.local(r["updated_at"]), mask_tokens(r["subject"]),
            mask_tokens(r["excerpt"] or ""),
        ])
    return lines


def _visit_lines(chunk: list[dict[str, Any]], look: Lookups) -> list[Row]:
    return [
        [
            r["id"], look.local(r["occurred_at"]), r["contact_id"],
            full_name(r["contact__last_name"] or "", r["contact__first_name"] or "",
                      r["contact__patronymic"] or ""),
            look.user(r["seller_id"]), r["visit_type"], r["bought"], r["contacts_taken"],
            r["amount"], look.reasons.get(r["loss_reason_id"], "") if r["loss_reason_id"] else "",
            r["note"],
        ]
        for r in chunk
    ]


def _deal_lines(chunk: list[dict[str, Any]], look: Lookups) -> list[Row]:
    lines = []
    for r in chunk:
        pipeline, stage = look.stages.get(r["stage_id"], ("", ""))
        lines.append([
            r["id"], r["title"], r["contact_id"],
            full_name(r["contact__last_name"], r["contact__first_name"],
                      r["contact__patronymic"]),
            look.user(r["seller_id"]), pipeline, stage, r["status"], r["amount"],
            look.local(r["created_at"]), look.local(r["stage_entered_at"]),
            look.local(r["closed_at"]),
            look.reasons.get(r["loss_reason_id"], "") if r["loss_reason_id"] else "",
            r["loss_note"],
        ])
    return lines


def _excerpt() -> dict[str, Any]:
    chars: Any = settings.KASATKA_EXPORTS["EXCERPT_CHARS"]
    return {"excerpt": Substr("body", 1, int(chars))}


_CONTACT_NAME = ("contact__last_name", "contact__first_name", "contact__patronymic")

KINDS: dict[str, Kind] = {
    ExportKind.CONTACTS: Kind(
        model=Contact, owner_field="owner", date_field="created_at", stage_field="stage",
        seller_field="owner_id", source_field="source_id",
        fields=("id", "last_name", "first_name", "patronymic", "company", "birthday", "stage",
                "owner_id", "source_id", "created_at"),
        columns=("id", "last_name", "first_name", "patronymic", "company", "birthday",
                 "phones", "emails", "stage", "seller", "source", "created_at",
                 *(f"consent_{ch}" for ch in CONSENT_CHANNELS)),
        lines=_contact_lines,
    ),
    ExportKind.TOUCHES: Kind(
        model=Touch, owner_field="contact__owner", date_field="created_at",
        stage_field="contact__stage", seller_field="contact__owner_id",
        source_field="contact__source_id",
        fields=("id", "contact_id", *_CONTACT_NAME, "step_id", "channel", "to", "status",
                "created_at", "sent_at", "updated_at", "subject", "excerpt"),
        columns=("id", "contact_id", "contact", "chain", "step", "channel", "to", "status",
                 "created_at", "sent_at", "status_at", "subject", "text_excerpt"),
        lines=_touch_lines, annotate=_excerpt,
    ),
    ExportKind.VISITS: Kind(
        model=Visit, owner_field="seller", date_field="occurred_at",
        stage_field="contact__stage", seller_field="seller_id",
        source_field="contact__source_id",
        fields=("id", "occurred_at", "contact_id", *_CONTACT_NAME, "seller_id", "visit_type",
                "bought", "contacts_taken", "amount", "loss_reason_id", "note"),
        columns=("id", "occurred_at", "contact_id", "contact", "seller", "type", "bought",
                 "contacts_taken", "amount", "loss_reason", "note"),
        lines=_visit_lines,
    ),
    ExportKind.DEALS: Kind(
        model=Deal, owner_field="seller", date_field="created_at",
        stage_field="contact__stage", seller_field="seller_id",
        source_field="contact__source_id",
        fields=("id", "title", "contact_id", *_CONTACT_NAME, "seller_id", "stage_id", "status",
                "amount", "created_at", "stage_entered_at", "closed_at", "loss_reason_id",
                "loss_note"),
        columns=("id", "title", "contact_id", "contact", "seller", "pipeline", "stage",
                 "status", "amount", "created_at", "stage_entered_at", "closed_at",
                 "loss_reason", "loss_note"),
        lines=_deal_lines,
    ),
}


def _day_start(day: str, zone: ZoneInfo) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(0), tzinfo=zone)


def rows_for(user: User, kind: Kind, filters: dict[str, Any], zone: ZoneInfo) -> QuerySet[Any]:
    """The rows of `kind` the user may read, narrowed by the export's filters."""
    rows = scope_to_user(user, kind.model.objects.all(), kind.owner_field, reading=True)
    if filters.get("date_from"):
        rows = rows.filter(**{f"{kind.date_field}__gte": _day_start(filters["date_from"], zone)})
    if filters.get("date_to"):
        end = _day_start(filters["date_to"], zone) + timedelta(days=1)
        rows = rows.filter(**{f"{kind.date_field}__lt": end})
    if filters.get("stage"):
        rows = rows.filter(**{kind.stage_field: filters["stage"]})
    if filters.get("seller"):
        rows = rows.filter(**{kind.seller_field: int(filters["seller"])})
    if filters.get("source"):
        rows = rows.filter(**{kind.source_field: int(filters["source"])})
    return rows


def chunks(
    user: User, kind: Kind, filters: dict[str, Any], look: Lookups, size: int
) -> Iterator[list[Row]]:
    """The export's lines, a chunk at a time, in id order."""
    rows = rows_for(user, kind, filters, look.zone)
    if kind.annotate is not None:
        rows = rows.annotate(**kind.annotate())
    batch: list[dict[str, Any]] = []
    for row in rows.order_by("pk").values(*kind.fields).iterator(chunk_size=size):
        batch.append(row)
        if len(batch) >= size:
            yield kind.lines(batch, look)
            batch = []
    if batch:
        yield kind.lines(batch, look)
