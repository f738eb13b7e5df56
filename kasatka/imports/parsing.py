"""One row of a file into clean values: phones in E.164, e-mails, names, consent, money.

A pure function of the row and the job's settings (no database), so that it can run in
another process: parsing is most of an import's work. A row that cannot go in raises
`BadRow` with a code (for programs and tests) and a reason (for people).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from phonenumbers import timezone as phone_timezone

from kasatka.accounts.models import Business
from kasatka.contacts.actions import normalise_email, normalise_phone, phone_place
from kasatka.contacts.models import Channel
from kasatka.contacts.names import infer_gender
from kasatka.sales.actions import split_name

# The purchase importer's rules for dates, amounts and yes/no, shared on purpose: one
# reading of "12.03.2025" and "1 500,50" in every import.
from kasatka.sales.imports import _BadRow as _SalesBadRow
from kasatka.sales.imports import _parse_amount, _parse_flag, _parse_moment

_FLOAT_NUMBER = re.compile(r"\d+[.,]0+")
_EXPONENT = re.compile(r"(\d)(?:[.,](\d+))?[eE]\+?(\d+)")
_MANY = re.compile(r"[,;]+")
_MANY_EMAILS = re.compile(r"[,;\s]+")
_CONSENT_WORDS = re.compile(r"[\s|+,;/]+")
_YES = {"1", "yes", "y", "true", "t", "да", "д", "+", "согласен", "согласна", "есть", "x",
        "х", "✓", "v"}
_NO = {"", "0", "no", "n", "false", "f", "нет", "н", "-", "отказ"}
_CHANNEL_WORDS: dict[str, str] = {
    **{c: c for c in Channel.values},
    "e-mail": Channel.EMAIL, "почта": Channel.EMAIL, "емейл": Channel.EMAIL,
    "mail": Channel.EMAIL, "смс": Channel.SMS, "звонок": Channel.CALL,
    "звонки": Channel.CALL, "телефон": Channel.CALL, "phone": Channel.CALL,
    "телеграм": Channel.TELEGRAM, "телеграмм": Channel.TELEGRAM, "ватсап": Channel.WHATSAPP,
    "вотсап": Channel.WHATSAPP, "вайбер": Channel.VIBER, "вк": Channel.VK,
    "вконтакте": Channel.VK, "письмо": Channel.LETTER, "письма": Channel.LETTER,
}


class BadRow(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(slots=True)
class Parsed:
    """A row's clean values; what needs the database (seller, source, stage) stays text."""

    line: int
    phones: list[str]
    emails: list[str]  # normalised; matched whatever the case of the letters
    last_name: str
    first_name: str
    patronymic: str
    gender: str
    time_zone: str
    company: str
    consent: tuple[str, ...]
    seller: str
    source: str
    at: datetime | None
    amount: Decimal | None
    on_promotion: bool
    title: str
    pipeline: str
    stage: str
    text: list[str] = field(default_factory=list)  # the row as read, for the report


def excel_phone(value: str) -> str:
    """A phone as Excel leaves it: a leading apostrophe, a number saved as 79161234567.0 or
    7.9161234567E+10 (refused when Excel rounded digits away)."""
    text = value.strip().lstrip("'").strip()
    if _FLOAT_NUMBER.fullmatch(text):
        return re.split(r"[.,]", text, maxsplit=1)[0]
    found = _EXPONENT.fullmatch(text)
    if found:
        head, tail, power = found.group(1), found.group(2) or "", int(found.group(3))
        if len(tail) < power:
            raise BadRow("phone", _("“%(value)s”: Excel wrote the phone as a rounded number; "
                                    "format the column as text and save again")
                         % {"value": value})
        try:
            return str(int(Decimal(f"{head}.{tail}e{power}")))
        except InvalidOperation:
            raise BadRow("phone", _("“%(value)s” is not a phone number") % {"value": value}
                         ) from None
    return text


def phone_and_zone(text: str, region: str) -> tuple[str, str]:
    """`normalise_phone` and `phone_place`'s zone, parsing the number once.

    The same rules (tests/imports/test_parsing.py compares them on many spellings): an
    invalid number gets `normalise_phone`'s own error; a number with exactly one time
    zone (a landline) asks `phone_place` itself; any other has none, as there.
    """
    try:
        number: phonenumbers.PhoneNumber | None = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        e164 = normalise_phone(text, region)  # raises with the reason
        return e164, phone_place(e164)[0]
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    zones = phone_timezone.time_zones_for_number(number)
    if len(zones) == 1 and zones[0] != "Etc/Unknown":
        return e164, phone_place(e164)[0]
    return e164, ""


_ATEXT = r"a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~"
_PLAIN_EMAIL = re.compile(rf"([{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@([A-Za-z0-9.\-]+)")


@functools.lru_cache(maxsize=8192)
def _domain(domain: str) -> str | None:
    """A domain as `normalise_email` writes it, or None when it refuses it."""
    try:
        return normalise_email(f"a@{domain}").rsplit("@", 1)[1]
    except ValidationError:
        return None


def fast_email(text: str) -> str:
    """`normalise_email`, with its answer for the domain kept: a plain ASCII address (the
    common case) is its local part unchanged and its domain as normalised; anything else
    (quotes, Unicode, a long address, a refused domain) goes through it in full."""
    found = _PLAIN_EMAIL.fullmatch(text)
    if found and len(found.group(1)) <= 64 and len(text) <= 200:
        domain = _domain(found.group(2))
        if domain is not None:
            return f"{found.group(1)}@{domain}"
    return normalise_email(text)


class RowParser:
    """Parses the rows of one job: its mapping, its business's country and time zone."""

    def __init__(self, mapping: Mapping[str, str], business: Business, columns: int,
                 strict_columns: bool) -> None:
        self.index = {f: int(i) for i, f in mapping.items()}
        self.business = business
        self.region = business.country
        self.columns = columns
        self.strict_columns = strict_columns

    def __call__(self, line: int, values: list[str]) -> Parsed:
        if len(values) > self.columns and any(v.strip() for v in values[self.columns:]):
            raise BadRow("columns", _("more values (%(n)s) than columns (%(columns)s)")
                         % {"n": len(values), "columns": self.columns})
        if self.strict_columns and len(values) < self.columns:
            raise BadRow("columns", _("fewer values (%(n)s) than columns (%(columns)s)")
                         % {"n": len(values), "columns": self.columns})
        get = self._getter(values)
        numbers = [self._phone(p) for p in _MANY.split(get("phone")) if p.strip()]
        phones = list(dict.fromkeys(e164 for e164, _zone in numbers))
        emails = [self._email(e) for e in _MANY_EMAILS.split(get("email")) if e.strip()]
        emails = list(dict.fromkeys(emails))
        last, first, patronymic = get("last_name"), get("first_name"), get("patronymic")
        whole = get("name")
        if whole:
            name = split_name(whole)
            last, first = last or name.last_name, first or name.first_name
            patronymic = patronymic or name.patronymic
        last, first, patronymic = last[:100], first[:100], patronymic[:100]
        if not (last or first or phones or emails):
            raise BadRow("empty", _("no name, phone or e-mail"))
        return Parsed(
            line=line,
            phones=phones,
            emails=emails,
            last_name=last,
            first_name=first,
            patronymic=patronymic,
            gender=infer_gender(first, patronymic, last),
            time_zone=numbers[0][1] if numbers else "",
            company=get("company")[:200],
            consent=self._consent(get("consent"), phones, emails),
            seller=get("seller"),
            source=get("source")[:200],
            at=self._moment(get("date")) if "date" in self.index else None,
            amount=self._amount(get("amount")) if "amount" in self.index else None,
            on_promotion=self._flag(get("on_promotion")),
            title=get("title")[:300],
            pipeline=get("pipeline"),
            stage=get("stage"),
        )

    def _getter(self, values: list[str]) -> functools.partial[str]:
        return functools.partial(_value, self.index, values)

    def _phone(self, raw: str) -> tuple[str, str]:
        try:
            return phone_and_zone(excel_phone(raw), self.region)
        except ValidationError as exc:
            raise BadRow("phone", " ".join(exc.messages)) from None

    def _email(self, raw: str) -> str:
        try:
            return fast_email(raw.strip().strip("<>").strip())
        except ValidationError as exc:
            raise BadRow("email", " ".join(exc.messages)) from None

    def _consent(self, value: str, phones: list[str], emails: list[str]) -> tuple[str, ...]:
        text = value.strip().lower()
        if text in _NO:
            return ()
        if text in _YES:
            # "Yes" gives the channels of the addresses the row brings.
            return ((Channel.EMAIL,) if emails else ()) + (
                (Channel.SMS, Channel.CALL) if phones else ()
            )
        channels: list[str] = []
        for word in _CONSENT_WORDS.split(text):
            if not word:
                continue
            channel = _CHANNEL_WORDS.get(word)
            if channel is None:
                raise BadRow("consent", _("no channel “%(value)s” in consent") % {"value": word})
            channels.append(channel)
        return tuple(dict.fromkeys(channels))

    def _moment(self, value: str) -> datetime:
        try:
            return _parse_moment(value, self.business)
        except _SalesBadRow as exc:
            raise BadRow("date", str(exc)) from None

    def _amount(self, value: str) -> Decimal:
        if not value.strip() and "title" in self.index:
            return Decimal(0)  # a deal without an amount yet
        try:
            return _parse_amount(value.replace("₽", "").replace("руб.", "").replace("р.", ""))
        except _SalesBadRow as exc:
            raise BadRow("amount", str(exc)) from None

    def _flag(self, value: str) -> bool:
        try:
            return _parse_flag(value)
        except _SalesBadRow as exc:
            raise BadRow("on_promotion", str(exc)) from None


def _value(index: Mapping[str, int], values: list[str], name: str) -> str:
    at = index.get(name)
    if at is None or at >= len(values):
        return ""
    return values[at].strip()
