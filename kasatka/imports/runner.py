"""The import runner: a file's rows into contacts, purchases or deals, a batch at a time.

**Resumable per batch.** Each batch (`KASATKA_IMPORTS["BATCH_ROWS"]` rows, 2,000 by
default) is written in one transaction together with the job's checkpoint: the number of
data rows read (`rows_done`), the counts and the batch's rejected rows. A worker killed
mid-file leaves the last batch unwritten and the checkpoint before it; the task queued
again (`requeue_stale`) or the job resumed from the page reads the file again from the
start, skips `rows_done` rows and goes on. Nothing is half-written, nothing doubled.

**Duplicates merge.** At the start the business's phones and e-mails are read, streaming,
into a map → contact id (e-mails whatever the case of the letters, as `address_is` matches
them); each new contact of the file goes into the same map, so a row finds its contact by
phone first, then by e-mail (as `find_contact`), in the database or earlier in the file,
without a query per row. A matched row completes the contact (a new phone or e-mail, a
name it lacked, a consent) and overwrites nothing.

**Consent only from the consent column**, recorded as commercial consent with basis
*import*. A row without one goes in as a contact no offer may be sent to (counted and
said in the report). An import never re-subscribes anyone: a grant for a suppressed
address or contact, or one the contact withdrew, is refused (`record_consent`'s guard, or
for contacts this job made, the same check against the suppression list read at the
start) and noted with its line; the row itself goes in.

**History sets off nothing per row**, as the purchase-history importer reasons
(`kasatka.sales.imports`): purchases are written with `bulk_create`, never through
`record_purchase`, so no chain starts or ends and no lead window closes for a purchase
made in the past; each contact that got purchases is recomputed by the lifecycle in the
batch's transaction (its stage and flags). Deals go through `create_deal` (history, stuck
timer). New contacts are written with `bulk_create` under `create_contact`'s rules
(validated addresses, gender and time zone inferred) but start no lead window either.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import time as walltime
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import translation

from kasatka.accounts.models import Business, User
from kasatka.contacts import lifecycle, suppression
from kasatka.contacts.actions import consent_states, record_consent
from kasatka.contacts.models import (
    CHANNEL_ADDRESS_KIND,
    Address,
    AddressKind,
    Channel,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
    Suppression,
)
from kasatka.contacts.suppression import ConsentRefused
from kasatka.deals.actions import create_deal
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import Deal, DealStage, Pipeline
from kasatka.engine.clock import now as clock_now
from kasatka.sales.imports import chunks as chunked
from kasatka.sales.models import LeadSource, Purchase
from kasatka.webhooks.events import Emitted, contact_data, emit_many, wants
from kasatka.webhooks.models import EventType

from . import bulk, conf
from .models import ImportJob, ImportKind, ImportRejection
from .parsing import BadRow, Parsed, RowParser
from .reading import Table, TableFormat, row_text

log = logging.getLogger("kasatka.imports")
_REPORTED_ROW_CHARS = 1000


class ImportStopped(RuntimeError):
    """Raised between batches by a test's or an operator's stop hook (`stop_after`)."""


@dataclass(slots=True)
class _New:
    """A contact this batch makes; its id is known once the batch's insert ran."""

    contact: dict[str, Any]  # Contact's fields by attname, for bulk.insert
    phones: list[str]
    emails: list[str]
    pk: int = 0


@dataclass(slots=True)
class _Placed:
    row: Parsed
    target: int | _New
    merged: bool
    changed: bool = False

    @property
    def contact_id(self) -> int:
        return self.target if isinstance(self.target, int) else self.target.pk


@dataclass
class _Batch:
    rows: list[Parsed] = field(default_factory=list)
    rejections: list[ImportRejection] = field(default_factory=list)
    read: int = 0


class Runner:
    """One run of a job, from its checkpoint to the end of the file."""

    def __init__(self, job: ImportJob, batch_rows: int | None = None,
                 processes: int | None = None) -> None:
        self.job = job
        wanted = conf.number("PROCESSES") if processes is None else processes
        self.processes = wanted or min(os.cpu_count() or 1, 4)
        self.business: Business = job.business
        self.batch_rows = batch_rows or conf.number("BATCH_ROWS")
        self.table = Table(
            conf.folder() / job.stored_as,
            TableFormat(job.file_format, job.encoding, job.separator),
        )
        self.parse = RowParser(job.mapping, self.business, len(job.header),
                               strict_columns=job.file_format == "csv")
        # Keys kept small for a million contacts: a phone as its E.164 digits, an e-mail as
        # a 128-bit hash of its lower-case form (no collision in any real book).
        self.by_phone: dict[int, int | _New] = {}
        self.by_email: dict[int, int | _New] = {}
        # Contacts this run made: their consents are known without asking the database.
        # Contacts this run made → the channels it granted them, as bits (a small int: a
        # million contacts cost a dict, not a million tuples).
        self.mine: dict[int, int] = {}
        # Consents granted by this run to contacts it did not make.
        self.granted: set[tuple[int, str]] = set()
        self.refused: set[tuple[int, str]] = set()
        self.tainted: dict[tuple[int, str], Suppression] = {}
        self.suppressed: dict[tuple[str, str], Suppression] = {}
        self.sellers: dict[str, int] = {}
        self.sources: dict[str, int] = {}
        self.stages: dict[tuple[str, str], DealStage | None] = {}
        self.matched: Counter[tuple[int, datetime, Decimal]] = Counter()
        self.deal_keys: set[tuple[int, str]] = set()
        self.at = clock_now()
        self.source_note = f"import #{job.pk}: {job.file_name}"[:250]
        # Test and operator hook: stop (raise) once this many batches were written.
        self.stop_after: int | None = None

    # --- the loop -------------------------------------------------------------------------

    def run(self) -> ImportJob:
        with translation.override(self.business.language or settings.LANGUAGE_CODE):
            if self.job.rows_total is None:
                self.job.rows_total = self.table.count()
                ImportJob.objects.filter(pk=self.job.pk).update(rows_total=self.job.rows_total)
            # The pool is started before the run reads the business's addresses, so its
            # processes do not carry a copy of a million of them.
            with self._pool() as pool:
                self._load()
                written = 0
                for batch in self._batches(pool):
                    self._write(batch)
                    written += 1
                    if self.stop_after is not None and written >= self.stop_after:
                        raise ImportStopped(f"stopped after {written} batches")
        return self.job

    @contextmanager
    def _pool(self) -> Iterator[Any]:
        """Processes parsing rows beside this one, on a large file (None: parse here)."""
        remaining = (self.job.rows_total or 0) - self.job.rows_done
        if self.processes <= 1 or remaining < POOL_FROM_ROWS:
            yield None
            return
        context = multiprocessing.get_context("fork")
        with context.Pool(self.processes, initializer=_init_worker,
                          initargs=(self.parse,)) as pool:
            yield pool

    def _batches(self, pool: Any) -> Iterator[_Batch]:
        batch = _Batch()
        for chunk, results in self._parsed(self.table.rows(skip=self.job.rows_done), pool):
            for (line, values), result in zip(chunk, results, strict=True):
                batch.read += 1
                if isinstance(result, Parsed):
                    result.text = values
                    batch.rows.append(result)
                else:
                    code, reason = result
                    batch.rejections.append(self._reject(line, code, reason, values))
                if batch.read >= self.batch_rows:
                    yield batch
                    batch = _Batch()
        if batch.read:
            yield batch

    def _parsed(
        self, rows: Iterator[tuple[int, list[str]]], pool: Any
    ) -> Iterator[tuple[list[tuple[int, list[str]]], list[Parsed | tuple[str, str]]]]:
        """Chunks of rows with their parse results, in order. Parsing (phonenumbers,
        email-validator) is most of the work: with a pool it runs in other processes while
        this one writes, with at most a few chunks in flight (memory stays flat)."""
        chunks = chunked(rows, _PARSE_CHUNK)
        if pool is None:
            for chunk in chunks:
                yield chunk, _parse_chunk(self.parse, chunk)
            return
        pending: deque[tuple[list[tuple[int, list[str]]], Any]] = deque()
        for chunk in chunks:
            pending.append((chunk, pool.apply_async(_parse_in_worker, (chunk,))))
            if len(pending) >= self.processes * 4:
                done, result = pending.popleft()
                yield done, result.get()
        while pending:
            done, result = pending.popleft()
            yield done, result.get()

    def _reject(self, line: int, code: str, reason: str, values: list[str],
                went_in: bool = False) -> ImportRejection:
        return ImportRejection(
            job_id=self.job.pk, line=line, code=code, reason=reason[:500],
            row=row_text(values, self.job.separator)[:_REPORTED_ROW_CHARS], went_in=went_in,
        )

    def _write(self, batch: _Batch) -> None:
        started = walltime.monotonic()
        job = self.job
        before = {**job.counts(), "rows_done": job.rows_done}
        try:
            with transaction.atomic():
                placed = self._place(batch)
                if job.kind == ImportKind.PURCHASES:
                    self._purchases(placed)
                elif job.kind == ImportKind.DEALS:
                    self._deals(placed, batch)
                self._consents(placed, batch)
                job.merged += sum(1 for p in placed if p.merged)
                job.updated += sum(1 for p in placed if p.merged and p.changed)
                job.rejected += sum(1 for r in batch.rejections if not r.went_in)
                job.without_consent += sum(1 for p in placed if not p.row.consent)
                ImportRejection.objects.bulk_create(batch.rejections, batch_size=500)
                job.rows_done += batch.read
                ImportJob.objects.filter(pk=job.pk).update(
                    rows_done=job.rows_done, **job.counts()
                )
        except BaseException:
            # The batch is not in: neither are its counts (the caller fails or resumes).
            for name, value in before.items():
                setattr(job, name, value)
            raise
        log.debug("import %s: %d rows in %.2fs", job.pk, batch.read,
                  walltime.monotonic() - started)

    # --- what the run knows before the first row -----------------------------------------

    def _load(self) -> None:
        business = self.business
        addresses = (
            Address.objects.filter(business=business, kind__in=[AddressKind.PHONE,
                                                                AddressKind.EMAIL])
            .order_by("contact_id", "id")
            .values_list("kind", "value", "contact_id")
        )
        for kind, value, contact_id in addresses.iterator(chunk_size=20_000):
            # The oldest contact wins, as in find_contact.
            if kind == AddressKind.PHONE:
                self.by_phone.setdefault(phone_key(value), contact_id)
            else:
                self.by_email.setdefault(email_key(value), contact_id)
        self.suppressed = {
            (s.kind, s.value): s
            for s in Suppression.objects.filter(business=business, lifted_at__isnull=True)
            .exclude(value="")
        }
        for user in User.objects.filter(business=business, is_active=True):
            for key in (user.username, user.email, f"{user.last_name} {user.first_name}",
                        f"{user.first_name} {user.last_name}"):
                if key.strip():
                    self.sellers.setdefault(key.strip().lower(), user.pk)
        self.sources = {
            name.lower(): pk
            for pk, name in LeadSource.objects.filter(business=business)
            .order_by("-id").values_list("pk", "name")
        }

    # --- contacts -------------------------------------------------------------------------

    def _find(self, row: Parsed) -> int | _New | None:
        for phone in row.phones:
            found = self.by_phone.get(phone_key(phone))
            if found is not None:
                return found
        for email in row.emails:
            found = self.by_email.get(email_key(email))
            if found is not None:
                return found
        return None

    def _place(self, batch: _Batch) -> list[_Placed]:
        """Each good row's contact: found (and completed) or new; writes the contacts and
        their addresses. Rows refused for their seller or source join the rejections."""
        placed: list[_Placed] = []
        new: list[_New] = []
        extra: list[tuple[int, str, str]] = []  # (existing contact, kind, value) to add
        named: dict[int, Parsed] = {}  # existing contacts the row could give a name
        for row in batch.rows:
            try:
                owner_id = self._seller(row.seller)
                source_id = self._source(row.source)
            except BadRow as exc:
                batch.rejections.append(self._reject(row.line, exc.code, exc.reason, row.text))
                continue
            found = self._find(row)
            if found is None:
                contact = {
                    "business_id": self.business.pk, "first_name": row.first_name,
                    "last_name": row.last_name, "patronymic": row.patronymic,
                    "gender": row.gender, "company": row.company, "time_zone": row.time_zone,
                    "language": self.business.language, "owner_id": owner_id,
                    "source_id": source_id, "created_at": self.at,
                }
                made = _New(contact, list(row.phones), list(row.emails))
                new.append(made)
                for phone in row.phones:
                    self.by_phone[phone_key(phone)] = made
                for email in row.emails:
                    self.by_email[email_key(email)] = made
                placed.append(_Placed(row, made, merged=False))
                continue
            entry = _Placed(row, found, merged=True)
            placed.append(entry)
            for kind, values, index in (
                (AddressKind.PHONE, row.phones, self.by_phone),
                (AddressKind.EMAIL, row.emails, self.by_email),
            ):
                for value in values:
                    key = phone_key(value) if kind == AddressKind.PHONE else email_key(value)
                    if key in index:
                        continue  # theirs already, or another contact's: never moved
                    index[key] = found
                    entry.changed = True
                    if isinstance(found, _New):
                        (found.phones if kind == AddressKind.PHONE else found.emails).append(value)
                    else:
                        extra.append((found, kind, value))
            if isinstance(found, _New):
                entry.changed |= _fill_name(found.contact, row)
            elif row.first_name or row.last_name:
                named.setdefault(found, row)
        self._insert(new, extra)
        self._fill_names(named, placed)
        return placed

    def _insert(self, new: list[_New], extra: list[tuple[int, str, str]]) -> None:
        ids = bulk.reserve_ids(Contact, len(new))
        if ids is None:
            objects = [Contact(**n.contact) for n in new]
            Contact.objects.bulk_create(objects, batch_size=500)
            ids = [o.pk for o in objects]
        else:
            for made, pk in zip(new, ids, strict=True):
                made.contact["id"] = pk
            bulk.insert(Contact, [n.contact for n in new])
        self.job.created += len(new)
        addresses: list[dict[str, Any]] = []
        business_id = self.business.pk
        for made, pk in zip(new, ids, strict=True):
            made.pk = pk
            self.mine[made.pk] = 0
            for kind, values, index in (
                (str(AddressKind.PHONE), made.phones, self.by_phone),
                (AddressKind.EMAIL, made.emails, self.by_email),
            ):
                for position, value in enumerate(values):
                    key = phone_key(value) if kind == AddressKind.PHONE else email_key(value)
                    index[key] = made.pk
                    addresses.append({
                        "business_id": business_id, "contact_id": made.pk, "kind": kind,
                        "value": value, "is_primary": position == 0, "created_at": self.at,
                    })
                    self._taint(made.pk, kind, value)
        if extra:
            has_kind = set(
                Address.objects.filter(contact_id__in={c for c, _k, _v in extra})
                .values_list("contact_id", "kind")
            )
            for contact_id, kind, value in extra:
                addresses.append({
                    "business_id": business_id, "contact_id": contact_id, "kind": kind,
                    "value": value, "is_primary": (contact_id, kind) not in has_kind,
                    "created_at": self.at,
                })
                has_kind.add((contact_id, kind))
                self._taint(contact_id, kind, value)
        bulk.insert(Address, addresses)
        self._announce(new)

    def _announce(self, new: list[_New]) -> None:
        """Each new contact announced to webhook subscribers (`contact.created`), in the
        batch's transaction, with one bulk write; nothing at all when nobody listens."""
        business_id = self.business.pk
        if not new or not wants(business_id, EventType.CONTACT_CREATED):
            return
        events = []
        for made in new:
            contact = Contact(**made.contact)
            contact.pk = made.pk
            listed = [Address(kind=AddressKind.PHONE, value=v) for v in made.phones]
            listed += [Address(kind=AddressKind.EMAIL, value=v) for v in made.emails]
            events.append(Emitted(business_id, EventType.CONTACT_CREATED,
                                  {"contact": contact_data(contact, listed)}))
        emit_many(events)

    def _taint(self, contact_id: int, kind: str, value: str) -> None:
        found = self.suppressed.get((kind, value))
        if found is not None:
            self.tainted.setdefault((contact_id, kind), found)

    def _fill_names(self, named: dict[int, Parsed], placed: list[_Placed]) -> None:
        if not named:
            return
        nameless = Contact.objects.filter(
            pk__in=list(named), first_name="", last_name=""
        ).values_list("pk", flat=True)
        filled: set[int] = set()
        for pk in nameless:
            row = named[pk]
            Contact.objects.filter(pk=pk).update(
                first_name=row.first_name, last_name=row.last_name,
                patronymic=row.patronymic, gender=row.gender,
            )
            filled.add(pk)
        for entry in placed:
            if entry.merged and entry.row is named.get(entry.contact_id) and \
                    entry.contact_id in filled:
                entry.changed = True

    def _seller(self, name: str) -> int | None:
        if not name:
            return None
        found = self.sellers.get(name.lower())
        if found is None:
            raise BadRow("seller", translation.gettext("no seller “%(name)s” in this business")
                         % {"name": name})
        return found

    def _source(self, name: str) -> int | None:
        if not name:
            return None
        found = self.sources.get(name.lower())
        if found is None:
            # A source named by the file is made once (a run that fails drops this cache).
            found = LeadSource.objects.create(business=self.business, name=name).pk
            self.sources[name.lower()] = found
        return found

    # --- consent --------------------------------------------------------------------------

    def _consents(self, placed: list[_Placed], batch: _Batch) -> None:
        asking = [p for p in placed if p.row.consent]
        if not asking:
            return
        others = {p.contact_id for p in asking if p.contact_id not in self.mine}
        contacts = Contact.objects.in_bulk(list(others)) if others else {}
        states = consent_states(others) if others else {}
        entries: list[dict[str, Any]] = []
        for entry in asking:
            contact_id = entry.contact_id
            source = f"{self.source_note}, line {entry.row.line}"[:300]
            for channel in entry.row.consent:
                bit = _CHANNEL_BITS[channel]
                mine = self.mine.get(contact_id)
                if (contact_id, channel) in self.refused or (
                    self.mine[contact_id] & bit if mine is not None
                    else (contact_id, channel) in self.granted
                ):
                    continue
                if mine is not None:
                    refusal = self.tainted.get((contact_id, CHANNEL_ADDRESS_KIND[channel]))
                    if refusal is not None:
                        self._refuse_consent(entry, channel, batch, suppression.refusal_message(
                            channel, refusal))
                        continue
                    entries.append({
                        "business_id": self.business.pk, "contact_id": contact_id,
                        "channel": channel, "purpose": Purpose.COMMERCIAL,
                        "status": ConsentStatus.GRANTED, "basis": ConsentBasis.IMPORT,
                        "source": source, "recorded_at": self.at,
                    })
                    self.mine[contact_id] |= bit
                else:
                    if states.get((contact_id, channel, Purpose.COMMERCIAL)) == \
                            ConsentStatus.GRANTED:
                        continue
                    try:
                        with transaction.atomic():
                            record_consent(
                                contacts[contact_id], channel, Purpose.COMMERCIAL,
                                ConsentStatus.GRANTED, ConsentBasis.IMPORT, source, self.at,
                            )
                    except ConsentRefused as exc:
                        self._refuse_consent(entry, channel, batch, " ".join(exc.messages))
                        continue
                    self.granted.add((contact_id, channel))
                self.job.consents += 1
                entry.changed = True
        bulk.insert(Consent, entries)

    def _refuse_consent(self, entry: _Placed, channel: str, batch: _Batch, why: str) -> None:
        self.refused.add((entry.contact_id, channel))
        self.job.consents_refused += 1
        batch.rejections.append(
            self._reject(entry.row.line, "consent_refused", why, entry.row.text, went_in=True)
        )

    # --- purchases ------------------------------------------------------------------------

    def _purchases(self, placed: list[_Placed]) -> None:
        if not placed:
            return
        rows = [(p.row, p.contact_id) for p in placed if p.row.at is not None]
        times = [row.at for row, _c in rows if row.at is not None]
        existing: Counter[tuple[int, datetime, Decimal]] = Counter(
            Purchase.objects.filter(
                business=self.business,
                contact_id__in={c for _r, c in rows},
                purchased_at__gte=min(times),
                purchased_at__lte=max(times),
                pk__lte=self.job.purchases_before,
            ).values_list("contact_id", "purchased_at", "amount")
        )
        new: list[Purchase] = []
        touched: set[int] = set()
        for row, contact_id in rows:
            assert row.at is not None and row.amount is not None
            key = (contact_id, row.at, row.amount)
            if self.matched[key] < existing[key]:
                self.matched[key] += 1
                self.job.duplicates += 1
                continue
            new.append(Purchase(
                business=self.business, contact_id=contact_id, amount=row.amount,
                purchased_at=row.at, on_promotion=row.on_promotion,
                seller_id=self.sellers.get(row.seller.lower()) if row.seller else None,
                note=self.source_note[:300],
            ))
            touched.add(contact_id)
        Purchase.objects.bulk_create(new, batch_size=500)
        self.job.records += len(new)
        for contact in Contact.objects.filter(pk__in=touched):
            lifecycle.recompute(contact, self.at, "purchase import")

    # --- deals ----------------------------------------------------------------------------

    def _stage(self, pipeline_name: str, stage_name: str) -> DealStage:
        key = (pipeline_name.casefold(), stage_name.casefold())
        if key not in self.stages:
            self.stages[key] = self._find_stage(pipeline_name, stage_name)
        stage = self.stages[key]
        if stage is None:
            raise BadRow("stage", translation.gettext(
                "no stage “%(stage)s” in the pipeline “%(pipeline)s”"
            ) % {"stage": stage_name, "pipeline": pipeline_name or "—"})
        return stage

    def _find_stage(self, pipeline_name: str, stage_name: str) -> DealStage | None:
        # Names compared in Python: SQLite's iexact folds only ASCII letters, not Cyrillic.
        if pipeline_name:
            pipeline = next((p for p in Pipeline.objects.filter(business=self.business)
                             if p.name.casefold() == pipeline_name.casefold()), None)
        else:
            pipeline = ensure_default_pipeline(self.business)
        if pipeline is None:
            return None
        stages = list(pipeline.stages.select_related("pipeline").order_by("position"))
        if not stage_name:
            return stages[0] if stages else None
        return next((s for s in stages if s.name.casefold() == stage_name.casefold()), None)

    def _deals(self, placed: list[_Placed], batch: _Batch) -> None:
        if not placed:
            return
        ids = {p.contact_id for p in placed}
        self.deal_keys.update(
            (contact_id, title.lower())
            for contact_id, title in Deal.objects.filter(
                business=self.business, contact_id__in=ids
            ).values_list("contact_id", "title")
        )
        contacts = Contact.objects.select_related("owner").in_bulk(list(ids))
        for entry in placed:
            row = entry.row
            key = (entry.contact_id, row.title.lower())
            if key in self.deal_keys:
                self.job.duplicates += 1
                continue
            try:
                if not row.title:
                    raise BadRow("title", translation.gettext("no deal subject"))
                stage = self._stage(row.pipeline, row.stage)
                contact = contacts[entry.contact_id]
                contact.business = self.business
                seller_id = self.sellers.get(row.seller.lower()) if row.seller else None
                with transaction.atomic():
                    create_deal(
                        contact, row.title, row.amount or 0, stage=stage,
                        seller=User.objects.get(pk=seller_id) if seller_id else None,
                        at=row.at or self.at, by=self.job.created_by,
                    )
            except (BadRow, ValidationError) as exc:
                code = exc.code if isinstance(exc, BadRow) else "deal"
                reason = exc.reason if isinstance(exc, BadRow) else " ".join(exc.messages)
                # The contact went in; the deal did not: the row is reported as rejected.
                batch.rejections.append(self._reject(row.line, code or "deal", reason,
                                                     row.text))
                continue
            self.deal_keys.add(key)
            self.job.records += 1


def phone_key(e164: str) -> int:
    """A phone number's key in the run's map: its digits as a number (a small object)."""
    digits = e164.lstrip("+")
    return int(digits) if digits.isdigit() else email_key(e164)


def email_key(email: str) -> int:
    """An e-mail's key in the run's map, whatever the case of its letters (as address_is)."""
    return int.from_bytes(hashlib.blake2b(email.lower().encode(), digest_size=16).digest())


_CHANNEL_BITS = {channel: 1 << n for n, channel in enumerate(Channel.values)}
_PARSE_CHUNK = 250
# Files smaller than this are parsed in the importing process: a pool costs more to start.
POOL_FROM_ROWS = 20_000
_worker_parser: RowParser | None = None


def _parse_chunk(parse: RowParser, chunk: list[tuple[int, list[str]]]
                 ) -> list[Parsed | tuple[str, str]]:
    results: list[Parsed | tuple[str, str]] = []
    for line, values in chunk:
        try:
            results.append(parse(line, values))
        except BadRow as exc:
            results.append((exc.code, exc.reason))
    return results


def _init_worker(parse: RowParser) -> None:
    global _worker_parser
    _worker_parser = parse


def _parse_in_worker(chunk: list[tuple[int, list[str]]]) -> list[Parsed | tuple[str, str]]:
    assert _worker_parser is not None
    return _parse_chunk(_worker_parser, chunk)


def _fill_name(contact: dict[str, Any], row: Parsed) -> bool:
    if contact["first_name"] or contact["last_name"] or not (row.first_name or row.last_name):
        return False
    contact["first_name"], contact["last_name"] = row.first_name, row.last_name
    contact["patronymic"] = contact["patronymic"] or row.patronymic
    contact["gender"] = contact["gender"] or row.gender
    return True


def run(job: ImportJob, **options: Any) -> ImportJob:
    """Import the job's file from its checkpoint to the end (see the module's docstring)."""
    runner = Runner(job, **options)
    return runner.run()

