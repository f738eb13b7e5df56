"""What the API reads and writes: the schemas of every resource, shared by the routers.

Input strings are bounded as the columns they land in are, and may not hold NUL (which
PostgreSQL refuses): a request the database could not store is a 422, never a 500.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, Field, StringConstraints

from .problems import FieldError

# Every id is a 64-bit column: a larger number is no id at all.
MAX_ID = 2**63 - 1
# At most this many rows per page, and how many when the caller does not say.
MAX_PAGE = 200
DEFAULT_PAGE = 50
# At most this many purchases in one batch call.
MAX_BATCH = 1000

_NO_NUL = r"^[^\x00]*$"
_NAMED = r"^[^\x00]*[^\x00\s][^\x00]*$"  # no NUL, and not only spaces


def text(max_length: int, min_length: int = 0) -> object:
    return StringConstraints(max_length=max_length, min_length=min_length, pattern=_NO_NUL)


def _sane_time(value: datetime) -> datetime:
    # A year outside this range overflows when moved to UTC, or is a typing error.
    if not 1900 <= value.year <= 2999:
        raise ValueError("the year must be between 1900 and 2999")
    return value


def _sane_date(value: date) -> date:
    if not 1900 <= value.year <= 2999:
        raise ValueError("the year must be between 1900 and 2999")
    return value


Id = Annotated[int, Field(ge=1, le=MAX_ID)]
When = Annotated[AwareDatetime, AfterValidator(_sane_time)]
Day = Annotated[date, AfterValidator(_sane_date)]
Name = Annotated[str, text(100)]
Money = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
Phone = Annotated[str, text(50, 1)]
Email = Annotated[str, text(254, 1)]
Note = Annotated[str, text(300)]
LongText = Annotated[str, text(5000)]
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str, text(500)]

ChannelName = Literal["email", "sms", "call", "telegram", "whatsapp", "viber", "vk", "letter"]
PurposeName = Literal["commercial", "informational"]
StageName = Literal["lead", "new", "regular", "adept"]
# The bases another system may state for a consent it hands in.
GrantBasis = Literal["api", "form", "visit", "purchase", "import", "verbal"]
WithdrawBasis = Literal["api", "form", "visit", "verbal", "unsubscribe", "reply"]


class PageQuery(Schema):
    cursor: Cursor | None = Field(
        None, description="`next_cursor` of the previous page; none for the first page."
    )
    limit: Limit = DEFAULT_PAGE


# --- contacts ------------------------------------------------------------------------------


class ConsentGrantIn(Schema):
    channel: ChannelName
    purpose: PurposeName = "commercial"
    basis: GrantBasis = "api"
    source: Note = Field("", description="Where it was given: a form, a page, a person.")


class AddressOut(Schema):
    id: int
    kind: str
    value: str
    state: str
    is_primary: bool


class ConsentStateOut(Schema):
    channel: str
    purpose: str
    status: str = Field(description="granted, withdrawn or pending (double opt-in)")


class ContactFields(Schema):
    """The fields a contact is created or changed with."""

    first_name: Name = ""
    last_name: Name = ""
    patronymic: Name = ""
    gender: Literal["", "male", "female"] = ""
    birthday: Day | None = None
    company: Annotated[str, text(200)] = ""
    time_zone: Annotated[str, text(64)] = Field(
        "", description="IANA name; empty: inferred from the phone, else the business's."
    )
    language: Annotated[str, text(8)] = ""
    owner_id: Id | None = Field(None, description="The seller (a user of the business).")
    source_id: Id | None = Field(None, description="A lead source of the business.")
    needs_fit: Literal["", "fits", "partly", "no"] = ""
    readiness: Literal["", "looking", "comparing", "deciding", "ready"] = ""
    needs: LongText = ""
    knows_about_us: LongText = ""
    came_because: LongText = ""


class ContactIn(ContactFields):
    phones: list[Phone] = Field(default_factory=list, max_length=10)
    emails: list[Email] = Field(default_factory=list, max_length=10)
    consents: list[ConsentGrantIn] = Field(default_factory=list, max_length=16)


class ContactPatch(Schema):
    """Only the fields sent change; addresses are added, never removed here."""

    first_name: Name | None = None
    last_name: Name | None = None
    patronymic: Name | None = None
    gender: Literal["", "male", "female"] | None = None
    birthday: Day | None = None
    company: Annotated[str, text(200)] | None = None
    time_zone: Annotated[str, text(64)] | None = None
    language: Annotated[str, text(8)] | None = None
    owner_id: Id | None = None
    source_id: Id | None = None
    needs_fit: Literal["", "fits", "partly", "no"] | None = None
    readiness: Literal["", "looking", "comparing", "deciding", "ready"] | None = None
    needs: LongText | None = None
    knows_about_us: LongText | None = None
    came_because: LongText | None = None
    add_phones: list[Phone] = Field(default_factory=list, max_length=10)
    add_emails: list[Email] = Field(default_factory=list, max_length=10)


class ContactOut(Schema):
    id: int
    first_name: str
    last_name: str
    patronymic: str
    gender: str
    birthday: date | None
    company: str
    time_zone: str
    language: str
    owner_id: int | None
    source_id: int | None
    stage: str
    is_discount_lover: bool
    is_impulsive: bool
    needs_fit: str
    readiness: str
    needs: str
    knows_about_us: str
    came_because: str
    created_at: datetime
    updated_at: datetime
    addresses: list[AddressOut]
    consents: list[ConsentStateOut]


class ContactPage(Schema):
    items: list[ContactOut]
    next_cursor: str | None


class ContactQuery(PageQuery):
    stage: StageName | None = None
    owner: Id | None = Field(None, description="The seller's user id.")
    source: Id | None = Field(None, description="The lead source's id.")
    updated_since: When | None = None
    phone: Phone | None = Field(None, description="Any spelling: compared in E.164.")
    email: Email | None = Field(None, description="Compared whatever the letters' case.")


# --- consent -------------------------------------------------------------------------------


class ConsentOut(Schema):
    id: int
    channel: str
    purpose: str
    status: str
    basis: str
    source: str
    recorded_at: datetime


def _commercial() -> list[PurposeName]:
    return ["commercial"]


class ConsentWithdrawIn(Schema):
    channel: ChannelName
    purposes: list[PurposeName] = Field(default_factory=_commercial, min_length=1)
    basis: WithdrawBasis = "api"
    source: Note = ""


# --- visits --------------------------------------------------------------------------------


class VisitIn(Schema):
    """A visit as the seller's form records it: the client found by `contact_id`, or by
    phone, then e-mail, or created."""

    bought: bool
    contacts_taken: bool
    contact_id: Id | None = None
    name: Annotated[str, text(300)] = ""
    phone: Annotated[str, text(50)] = ""
    email: Annotated[str, text(254)] = ""
    consent_channels: list[ChannelName] = Field(default_factory=list, max_length=8)
    amount: Money | None = None
    on_promotion: bool = False
    loss_reason_id: Id | None = None
    seller_id: Id | None = None
    note: LongText = ""
    occurred_at: When | None = None


class VisitOut(Schema):
    id: int
    contact_id: int | None
    seller_id: int | None
    occurred_at: datetime
    bought: bool
    contacts_taken: bool
    visit_type: int
    amount: Decimal | None
    loss_reason_id: int | None
    note: str


class VisitPage(Schema):
    items: list[VisitOut]
    next_cursor: str | None


class VisitQuery(PageQuery):
    contact_id: Id | None = None
    since: When | None = Field(None, description="Visits that occurred at or after this time.")


class LossReasonOut(Schema):
    id: int
    name: str
    kind: str
    is_active: bool


# --- purchases -----------------------------------------------------------------------------


class PurchaseIn(Schema):
    """A purchase of a contact named by `contact_id`, or found by phone, then e-mail (a
    new contact is made when neither is known)."""

    contact_id: Id | None = None
    phone: Annotated[str, text(50)] = ""
    email: Annotated[str, text(254)] = ""
    name: Annotated[str, text(300)] = Field("", description="For a contact made anew.")
    amount: Money
    purchased_at: When | None = Field(None, description="Default: now.")
    seller_id: Id | None = None
    on_promotion: bool = False
    note: Note = ""
    external_id: Annotated[str, text(100)] = Field(
        "", description="The sending system's id: a purchase sent again with it is not "
        "counted twice.",
    )


class PurchaseOut(Schema):
    id: int
    contact_id: int
    amount: Decimal
    purchased_at: datetime
    seller_id: int | None
    on_promotion: bool
    note: str
    external_id: str


class PurchasePage(Schema):
    items: list[PurchaseOut]
    next_cursor: str | None


class PurchaseQuery(PageQuery):
    contact_id: Id | None = None
    since: When | None = Field(None, description="Purchases made at or after this time.")


class BatchItemOut(Schema):
    index: int = Field(description="The item's place in `items`, from 0.")
    status: Literal["created", "duplicate", "rejected"]
    id: int | None = Field(None, description="The purchase (new, or known by external_id).")
    errors: list[FieldError] = []


class BatchOut(Schema):
    created: int
    duplicates: int
    rejected: int
    results: list[BatchItemOut]


# --- deals ---------------------------------------------------------------------------------


class DealIn(Schema):
    contact_id: Id
    title: Annotated[str, text(300, 1)]
    amount: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] = Decimal(0)
    stage_id: Id | None = Field(None, description="Default: the first stage of the first "
                                "pipeline.")
    seller_id: Id | None = Field(None, description="Default: the contact's seller.")


class DealOut(Schema):
    id: int
    contact_id: int
    pipeline_id: int
    stage_id: int
    seller_id: int | None
    title: str
    amount: Decimal
    status: str
    loss_reason_id: int | None
    loss_note: str
    stage_entered_at: datetime
    stuck_since: datetime | None
    created_at: datetime
    closed_at: datetime | None


class DealPage(Schema):
    items: list[DealOut]
    next_cursor: str | None


class DealQuery(PageQuery):
    status: Literal["open", "won", "lost"] | None = None
    stage_id: Id | None = None
    contact_id: Id | None = None
    seller_id: Id | None = None


class DealMoveIn(Schema):
    stage_id: Id
    reason: Note = ""


class DealWinIn(Schema):
    reason: Note = ""


class DealLoseIn(Schema):
    loss_reason_id: Id
    note: Annotated[str, text(500)] = ""


class StageOut(Schema):
    id: int
    name: str
    position: int
    waits_for_client: bool


class PipelineOut(Schema):
    id: int
    name: str
    is_active: bool
    stages: list[StageOut]


# --- enrolments ----------------------------------------------------------------------------


class EnrollmentIn(Schema):
    contact_id: Id
    chain_id: Id


class EnrollmentOut(Schema):
    id: int
    contact_id: int
    chain_id: int
    step_id: int | None
    state: str
    next_touch_at: datetime | None
    enrolled_at: datetime
    last_touch_at: datetime | None
    ended_at: datetime | None
    exit_reason: str


class EnrollmentPage(Schema):
    items: list[EnrollmentOut]
    next_cursor: str | None


class EnrollmentQuery(PageQuery):
    contact_id: Id | None = None
    chain_id: Id | None = None
    state: Literal["active", "paused", "finished", "exited"] | None = None


class StopIn(Schema):
    reason: Note = ""


class ChainOut(Schema):
    id: int
    name: str
    kind: str
    is_active: bool
    exit_on_purchase: bool


# --- touches -------------------------------------------------------------------------------


class TouchOut(Schema):
    id: int
    enrollment_id: int
    step_id: int
    contact_id: int
    channel: str
    to: str
    is_commercial: bool
    subject: str
    body: str
    status: str
    error: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime


class TouchPage(Schema):
    items: list[TouchOut]
    next_cursor: str | None


class TouchQuery(PageQuery):
    contact_id: Id | None = None
    enrollment_id: Id | None = None
    status: Annotated[str, text(12)] | None = None
    channel: ChannelName | None = None
    updated_since: When | None = None


# --- lead sources --------------------------------------------------------------------------


class LeadSourceIn(Schema):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_NAMED)]
    channel: Annotated[str, text(100)] = ""
    utm_source: Annotated[str, text(200)] = ""
    utm_medium: Annotated[str, text(200)] = ""
    utm_campaign: Annotated[str, text(200)] = ""


class LeadSourceOut(Schema):
    id: int
    name: str
    channel: str
    utm_source: str
    utm_medium: str
    utm_campaign: str
    created_at: datetime


class LeadSourcePage(Schema):
    items: list[LeadSourceOut]
    next_cursor: str | None


class SellerOut(Schema):
    id: int
    username: str
    first_name: str
    last_name: str
    role: str
    is_active: bool
