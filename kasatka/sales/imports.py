"""Importing purchase history from a CSV file: the past goes in without setting off the present.

The file: UTF-8 (a BOM is fine), comma- or semicolon-separated, a header row naming the
columns in any order, case-insensitive:

- ``customer`` (required): the customer's number in the system the file comes from;
- ``date`` or ``datetime`` (required): ``YYYY-MM-DD``, ``DD.MM.YYYY`` or ``YYYYMMDD``, or a
  moment ``YYYY-MM-DD HH:MM[:SS]`` / ISO 8601. A moment without an offset, and a bare date
  (taken as its midnight), are in the business's time zone;
- ``amount`` (required): the sum paid, a dot or a comma before at most two decimals, ≥ 0;
- ``on_promotion`` (optional): 1/0, yes/no, true/false, да/нет; empty is no;
- ``phone``, ``email``, ``name`` (``Фамилия Имя [Отчество]``; one word is a first name) or
  ``last_name`` / ``first_name`` / ``patronymic`` (optional): to find and create the contact;
- ``seller`` (optional): the username of the seller who sold; a new contact becomes theirs;
- ``consent`` (optional): the channels the customer agreed, in the system the file comes
  from, to be written to by with offers: ``email``, ``sms``, ``call``, ``telegram``,
  ``whatsapp``, ``viber``, ``vk``, ``letter``, separated by spaces, ``|`` or ``+``.

Decisions, each on purpose:

- **Which contact.** The customer number first: it is kept in the note of every imported
  purchase (``import: customer 00042``), so the same number in a later file finds the same
  contact. (Contacts have no external-id field; the note is the provenance of the row
  anyway.) Then a contact of the business with the row's phone, then with its e-mail;
  else a new contact through ``create_contact``, named by the file or, with nothing else
  to go on, ``#<customer>``.
- **Consent only from the consent column.** A purchase is no permission to write. The
  column's channels are recorded as commercial consent, basis import, source the customer
  number — unless the contact has it already (a re-import adds nothing). An import cannot
  re-subscribe anyone (docs/consent.md): a consent for a suppressed address or contact, or
  one the contact withdrew, is refused and reported with the line that asked for it
  (``refused_consents``), once per contact and channel; the purchase and the contact go in
  without it.
- **A bad row does not stop the file.** It is reported with its line number in the file
  and the reason, and the good rows go in. Only a file without the required columns is
  rejected as a whole (``ImportFormatError``) before anything is written.
- **Idempotent.** A row equal to a purchase already in the database before this import
  (same contact, same moment, same amount) is skipped, so importing a file twice, or a
  file that overlaps the last one, adds nothing twice. Equal rows *within* a file are
  kept: two coffees on one receipt day are two purchases.
- **History sets off nothing per row.** Rows are written with ``bulk_create`` in chunks
  (each chunk one transaction), never through ``record_purchase``: no chain is started
  or ended and no lead window closed by a purchase made in the past. At the end each
  contact that got purchases is recomputed once by the lifecycle (stage and flags, which
  may start a chain of the stage the history earns, as for any stage change); pass
  ``recompute_lifecycle=False`` to leave that out.
- **Streaming.** The file is read row by row, a chunk at a time; memory grows only with the
  number of customers, not of rows.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business, User
from kasatka.contacts import lifecycle
from kasatka.contacts.actions import (
    consent_states,
    create_contact,
    normalise_email,
    normalise_phone,
    record_consent,
)
from kasatka.contacts.models import (
    Address,
    AddressKind,
    Channel,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
)
from kasatka.contacts.suppression import ConsentRefused
from kasatka.engine.clock import now as clock_now

from .models import Purchase

CHUNK_ROWS = 1000
# The errors kept for the report; the rest are only counted (a wrong file can have millions).
MAX_REPORTED_ERRORS = 1000
NOTE_PREFIX = "import: customer "
CUSTOMER_MAX_LENGTH = 300 - len(NOTE_PREFIX)
_AMOUNT_LIMIT = Decimal("1e10")  # Purchase.amount: 12 digits, 2 of them decimals
_CENT = Decimal("0.01")
_TRUE = {"1", "yes", "y", "true", "t", "да", "д", "+"}
_FALSE = {"", "0", "no", "n", "false", "f", "нет", "н", "-"}
_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%Y%m%d", "%Y/%m/%d")
_DATETIME_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M")
_CONSENT_SEPARATORS = re.compile(r"[\s|+]+")
_CHANNEL_ALIASES = {"e-mail": Channel.EMAIL}


class ImportFormatError(ValueError):
    """The file as a whole cannot be read: no header, or a required column missing."""


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return _("line %(line)s: %(reason)s") % {"line": self.line, "reason": self.reason}


@dataclass
class ImportResult:
    """What an import did: rows in, rows skipped as already there, rows refused."""

    imported: int = 0
    duplicates: int = 0
    contacts_created: int = 0
    bad_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    lifecycle_changes: int = 0
    consents_recorded: int = 0
    # Consents of the consent column not recorded: the row itself went in.
    consents_refused: int = 0
    refused_consents: list[RowError] = field(default_factory=list)

    def refuse(self, line: int, reason: str) -> None:
        self.bad_rows += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line, reason))

    def refuse_consent(self, line: int, reason: str) -> None:
        self.consents_refused += 1
        if len(self.refused_consents) < MAX_REPORTED_ERRORS:
            self.refused_consents.append(RowError(line, reason))


@dataclass(frozen=True)
class _Row:
    line: int
    customer: str
    at: datetime
    amount: Decimal
    on_promotion: bool
    phone: str
    email: str
    names: tuple[str, str, str]  # last, first, patronymic
    seller: User | None
    consent: tuple[str, ...] = ()


class _BadRow(ValueError):
    pass


@contextmanager
def _text(file: IO[str] | IO[bytes] | str | Path) -> Iterator[IO[str]]:
    """A text stream over a path, a text file or a binary one (an upload)."""
    if isinstance(file, str | Path):
        with open(file, encoding="utf-8-sig", newline="") as opened:
            yield opened
        return
    if isinstance(file.read(0), str):
        yield file  # type: ignore[misc]
        return
    wrapper = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")  # type: ignore[type-var]
    try:
        yield wrapper
    finally:
        wrapper.detach()  # the caller's file stays open: it is theirs to close


def _reader(stream: IO[str]) -> csv.DictReader[str]:
    header = stream.readline()
    if header.startswith(codecs.BOM_UTF8.decode()):
        header = header[1:]
    if not header.strip():
        raise ImportFormatError(_("The file is empty: a header row is needed."))
    delimiter = ";" if header.count(";") > header.count(",") else ","
    names = next(csv.reader([header], delimiter=delimiter))
    fields = [n.strip().lower() for n in names]
    if "datetime" in fields and "date" not in fields:
        fields[fields.index("datetime")] = "date"
    missing = [c for c in ("customer", "date", "amount") if c not in fields]
    if missing:
        raise ImportFormatError(
            _("Required columns missing: %(columns)s.") % {"columns": ", ".join(missing)}
        )
    return csv.DictReader(stream, fieldnames=fields, delimiter=delimiter)


def _parse_moment(value: str, business: Business) -> datetime:
    value = value.strip()
    if not value:
        raise _BadRow(_("no date"))
    for fmt in _DATE_FORMATS:
        try:
            day = datetime.strptime(value, fmt).date()
        except ValueError:
            continue
        return _local(day, time(0, 0), business)
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        for fmt in _DATETIME_FORMATS:
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise _BadRow(_("“%(value)s” is not a date") % {"value": value})
    if parsed.tzinfo is None:
        return _local(parsed.date(), parsed.time(), business)
    return parsed


def _local(day: date, at: time, business: Business) -> datetime:
    return datetime.combine(day, at, tzinfo=business.zone)


def _parse_amount(value: str) -> Decimal:
    text = value.strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _BadRow(_("“%(value)s” is not an amount") % {"value": value}) from None
    if not amount.is_finite():
        raise _BadRow(_("“%(value)s” is not an amount") % {"value": value})
    if amount < 0:
        raise _BadRow(_("a negative amount (a refund is not a purchase)"))
    if amount.quantize(_CENT) != amount:
        raise _BadRow(_("more than two decimals in “%(value)s”") % {"value": value})
    if amount >= _AMOUNT_LIMIT:
        raise _BadRow(_("the amount is too large"))
    return amount.quantize(_CENT)


def _parse_flag(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise _BadRow(_("on_promotion must be yes or no, not “%(value)s”") % {"value": value})


def _parse_consent(value: str) -> tuple[str, ...]:
    channels: list[str] = []
    for word in _CONSENT_SEPARATORS.split(value.strip().lower()):
        if not word:
            continue
        channel = _CHANNEL_ALIASES.get(word, word)
        if channel not in Channel.values:
            raise _BadRow(_("no channel “%(value)s” in consent") % {"value": word})
        channels.append(channel)
    return tuple(dict.fromkeys(channels))


def _names(raw: dict[str, str]) -> tuple[str, str, str]:
    last, first, patronymic = (
        raw.get("last_name", ""), raw.get("first_name", ""), raw.get("patronymic", "")
    )
    words = raw.get("name", "").split()
    if not (last or first or patronymic) and words:
        if len(words) == 1:
            first = words[0]
        else:
            last, first, patronymic = words[0], words[1], " ".join(words[2:])
    return last.strip()[:100], first.strip()[:100], patronymic.strip()[:100]


def _parse(
    line: int, raw: dict[str, Any], business: Business, sellers: dict[str, User]
) -> _Row:
    if None in raw:
        raise _BadRow(_("more values than columns"))
    values = {k: (v or "").strip() for k, v in raw.items()}
    if any(raw.get(c) is None for c in ("customer", "date", "amount")):
        raise _BadRow(_("fewer values than columns"))
    customer = values["customer"]
    if not customer:
        raise _BadRow(_("no customer"))
    if len(customer) > CUSTOMER_MAX_LENGTH:
        raise _BadRow(_("the customer number is too long"))
    seller: User | None = None
    if values.get("seller"):
        seller = sellers.get(values["seller"])
        if seller is None:
            raise _BadRow(_("no seller “%(name)s” in this business") % {"name": values["seller"]})
    try:
        phone = normalise_phone(values["phone"], business.country) if values.get("phone") else ""
        email = normalise_email(values["email"]) if values.get("email") else ""
    except ValidationError as exc:
        raise _BadRow(" ".join(exc.messages)) from None
    return _Row(
        line=line,
        customer=customer,
        at=_parse_moment(values["date"], business),
        amount=_parse_amount(values["amount"]),
        on_promotion=_parse_flag(values.get("on_promotion", "")),
        phone=phone,
        email=email,
        names=_names(values),
        seller=seller,
        consent=_parse_consent(values.get("consent", "")),
    )


T = TypeVar("T")


def chunks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    """The rows in lists of `size` (the last one shorter), read as they come."""
    chunk: list[T] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Importer:
    """One import run: the customer → contact map and the duplicate counts it keeps."""

    def __init__(self, business: Business, result: ImportResult) -> None:
        self.business = business
        self.result = result
        # Purchases that existed before this import; only they make a row a duplicate.
        self.existing_up_to: int = (
            Purchase.objects.filter(business=business).aggregate(m=Max("pk"))["m"] or 0
        )
        self.contact_of: dict[str, int] = {
            note[len(NOTE_PREFIX):]: contact_id
            for note, contact_id in Purchase.objects.filter(
                business=business, note__startswith=NOTE_PREFIX, pk__lte=self.existing_up_to
            )
            .values_list("note", "contact_id")
            .distinct()
        }
        # How many pre-existing copies of a (contact, moment, amount) were matched so far.
        self.matched: Counter[tuple[int, datetime, Decimal]] = Counter()
        self.touched: set[int] = set()
        # (contact, channel) consents already refused and reported in this run.
        self.refused: set[tuple[int, str]] = set()

    def rows(self, reader: csv.DictReader[str]) -> Iterator[_Row]:
        sellers = {
            u.username: u for u in User.objects.filter(business=self.business, is_active=True)
        }
        for raw in reader:
            line = reader.line_num + 1  # the header was read before the reader started
            if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
                continue  # a blank line is no row
            try:
                yield _parse(line, raw, self.business, sellers)
            except _BadRow as exc:
                self.result.refuse(line, str(exc))

    def import_chunk(self, chunk: list[_Row]) -> None:
        with transaction.atomic():
            placed = self._contacts(chunk)
            self._purchases(placed)
            self._consents(placed)

    def _contacts(self, chunk: list[_Row]) -> list[tuple[_Row, int]]:
        unknown = [r for r in chunk if r.customer not in self.contact_of]
        by_phone = self._by_address(AddressKind.PHONE, {r.phone for r in unknown if r.phone})
        by_email = self._by_address(AddressKind.EMAIL, {r.email for r in unknown if r.email})
        placed: list[tuple[_Row, int]] = []
        for row in chunk:
            contact_id = self.contact_of.get(row.customer)
            if contact_id is None:
                contact_id = by_phone.get(row.phone) or by_email.get(row.email)
            if contact_id is None:
                try:
                    contact_id = self._create(row).pk
                except ValidationError as exc:
                    self.result.refuse(row.line, " ".join(exc.messages))
                    continue
                self.result.contacts_created += 1
            self.contact_of[row.customer] = contact_id
            placed.append((row, contact_id))
        return placed

    def _by_address(self, kind: str, values: set[str]) -> dict[str, int]:
        if not values:
            return {}
        found: dict[str, int] = {}
        for value, contact_id in (
            Address.objects.filter(business=self.business, kind=kind, value__in=values)
            .order_by("-is_primary", "id")
            .values_list("value", "contact_id")
        ):
            found.setdefault(value, contact_id)
        return found

    def _create(self, row: _Row) -> Contact:
        last, first, patronymic = row.names
        if not (last or first or row.phone or row.email):
            first = f"#{row.customer}"[:100]
        return create_contact(
            self.business,
            first_name=first,
            last_name=last,
            patronymic=patronymic,
            owner=row.seller,
            phones=[row.phone] if row.phone else [],
            emails=[row.email] if row.email else [],
        )

    def _consents(self, placed: list[tuple[_Row, int]]) -> None:
        """The consent column, through record_consent: its guard refuses re-subscription."""
        asking = [(row, contact_id) for row, contact_id in placed if row.consent]
        if not asking:
            return
        ids = {contact_id for _r, contact_id in asking}
        contacts = Contact.objects.in_bulk(ids)
        states = consent_states(ids)
        at = clock_now()
        for row, contact_id in asking:
            for channel in row.consent:
                key = (contact_id, channel, Purpose.COMMERCIAL)
                has_it = states.get(key) == ConsentStatus.GRANTED
                if has_it or (contact_id, channel) in self.refused:
                    continue
                try:
                    with transaction.atomic():
                        record_consent(
                            contacts[contact_id], channel, Purpose.COMMERCIAL,
                            ConsentStatus.GRANTED, ConsentBasis.IMPORT,
                            f"{NOTE_PREFIX}{row.customer}", at,
                        )
                except ConsentRefused as exc:
                    self.refused.add((contact_id, channel))
                    self.result.refuse_consent(row.line, " ".join(exc.messages))
                    continue
                states[key] = ConsentStatus.GRANTED
                self.result.consents_recorded += 1

    def _purchases(self, placed: list[tuple[_Row, int]]) -> None:
        if not placed:
            return
        times = [row.at for row, _c in placed]
        existing: Counter[tuple[int, datetime, Decimal]] = Counter(
            (contact_id, at, amount)
            for contact_id, at, amount in Purchase.objects.filter(
                business=self.business,
                contact_id__in={c for _r, c in placed},
                purchased_at__gte=min(times),
                purchased_at__lte=max(times),
                pk__lte=self.existing_up_to,
            ).values_list("contact_id", "purchased_at", "amount")
        )
        new: list[Purchase] = []
        for row, contact_id in placed:
            key = (contact_id, row.at, row.amount)
            if self.matched[key] < existing[key]:
                self.matched[key] += 1
                self.result.duplicates += 1
                continue
            new.append(
                Purchase(
                    business=self.business,
                    contact_id=contact_id,
                    amount=row.amount,
                    purchased_at=row.at,
                    seller=row.seller,
                    on_promotion=row.on_promotion,
                    note=f"{NOTE_PREFIX}{row.customer}",
                )
            )
            self.touched.add(contact_id)
        Purchase.objects.bulk_create(new)
        self.result.imported += len(new)


def import_purchases(
    business: Business,
    file: IO[str] | IO[bytes] | str | Path,
    *,
    recompute_lifecycle: bool = True,
    chunk_rows: int = CHUNK_ROWS,
) -> ImportResult:
    """Import a CSV of past purchases into the business; see the module's docstring."""
    result = ImportResult()
    with _text(file) as stream:
        reader = _reader(stream)
        importer = _Importer(business, result)
        for chunk in chunks(importer.rows(reader), chunk_rows):
            importer.import_chunk(chunk)
    if recompute_lifecycle:
        at = clock_now()
        touched = sorted(importer.touched)
        for start in range(0, len(touched), chunk_rows):
            for contact in Contact.objects.filter(pk__in=touched[start : start + chunk_rows]):
                changed = lifecycle.recompute(contact, at, "purchase import")
                result.lifecycle_changes += len(changed)
    return result

