"""Exports: every kind in every format reads back as the database holds it, with the rows
the requesting user may read, made in the background, downloaded by the right people only,
and removed when they expire."""

from __future__ import annotations

import codecs
import csv
import io
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.db import connection
from django.db.models import Q
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from kasatka.accounts.access import CAPABILITIES
from kasatka.accounts.models import Role, User
from kasatka.chains.models import Touch
from kasatka.contacts.models import Channel, Consent, Contact, Purpose, Stage
from kasatka.deals.models import Deal
from kasatka.engine.background import run_ready_tasks
from kasatka.exports.actions import file_of, remove_expired, request_export, run_export
from kasatka.exports.kinds import KINDS
from kasatka.exports.models import ExportJob, ExportState
from kasatka.sales.models import LeadSource, Visit

from .world import MSK, fill

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop_world(shop, other_shop, owner, alice, bob, charlie, clock):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=MSK))
    return {"shop": fill(shop, [alice, bob, None], clock),
            "other": fill(other_shop, [charlie], clock)}


def made(user, kind, fmt, django_capture_on_commit_callbacks, **options) -> ExportJob:
    """Ask for an export as `user` and let the task worker make it."""
    with django_capture_on_commit_callbacks(execute=True):
        job = request_export(user, kind, fmt, **options)
    assert ExportJob.objects.get(pk=job.pk).state == ExportState.QUEUED
    run_ready_tasks()
    job.refresh_from_db()
    assert job.state == ExportState.DONE, job.error
    return job


# --- what the database holds, read with the ORM, as text ------------------------------------

def local(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(MSK).strftime("%Y-%m-%d %H:%M:%S")


def money(value: Any) -> str:
    return "" if value in (None, "") else str(Decimal(value).quantize(Decimal("0.01")))


def flag(value: bool) -> str:
    return "1" if value else "0"


def name_of(user: User | None) -> str:
    return user.full_name if user else ""


def expected_contacts(rows) -> list[dict[str, str]]:
    out = []
    for c in rows.order_by("pk"):
        addresses = c.addresses.order_by("-is_primary", "id")
        line = {
            "id": str(c.pk), "last_name": c.last_name, "first_name": c.first_name,
            "patronymic": c.patronymic, "company": c.company,
            "birthday": c.birthday.isoformat() if c.birthday else "",
            "phones": ", ".join(a.value for a in addresses if a.kind == "phone"),
            "emails": ", ".join(a.value for a in addresses if a.kind == "email"),
            "stage": c.stage, "seller": name_of(c.owner),
            "source": c.source.name if c.source else "", "created_at": local(c.created_at),
        }
        for channel in Channel.values:
            newest = Consent.objects.filter(
                contact=c, channel=channel, purpose=Purpose.COMMERCIAL
            ).order_by("-recorded_at", "-id").first()
            line[f"consent_{channel}"] = newest.status if newest else ""
        out.append(line)
    return out


def expected_touches(rows) -> list[dict[str, str]]:
    return [
        {"id": str(t.pk), "contact_id": str(t.contact_id), "contact": t.contact.full_name,
         "chain": t.step.chain.name, "step": str(t.step.position), "channel": t.channel,
         "to": t.to, "status": t.status, "created_at": local(t.created_at),
         "sent_at": local(t.sent_at), "status_at": local(t.updated_at), "subject": t.subject,
         "text_excerpt": re.sub(r"/u/[^/\s]+/", "/u/…/", t.body[:200])}
        for t in rows.order_by("pk")
    ]


def expected_visits(rows) -> list[dict[str, str]]:
    return [
        {"id": str(v.pk), "occurred_at": local(v.occurred_at),
         "contact_id": str(v.contact_id or ""), "contact": v.contact.full_name if v.contact else "",
         "seller": name_of(v.seller), "type": str(v.visit_type), "bought": flag(v.bought),
         "contacts_taken": flag(v.contacts_taken), "amount": money(v.amount),
         "loss_reason": v.loss_reason.name if v.loss_reason else "", "note": v.note}
        for v in rows.order_by("pk")
    ]


def expected_deals(rows) -> list[dict[str, str]]:
    return [
        {"id": str(d.pk), "title": d.title, "contact_id": str(d.contact_id),
         "contact": d.contact.full_name, "seller": name_of(d.seller),
         "pipeline": d.pipeline.name, "stage": d.stage.name, "status": d.status,
         "amount": money(d.amount), "created_at": local(d.created_at),
         "stage_entered_at": local(d.stage_entered_at), "closed_at": local(d.closed_at),
         "loss_reason": d.loss_reason.name if d.loss_reason else "", "loss_note": d.loss_note}
        for d in rows.order_by("pk")
    ]


EXPECTED = {
    "contacts": (Contact, expected_contacts), "touches": (Touch, expected_touches),
    "visits": (Visit, expected_visits), "deals": (Deal, expected_deals),
}


# --- what the file holds, read back as a spreadsheet would ---------------------------------

def _text(column: str, value: Any) -> str:
    if value is None or value == "":
        return ""
    if column == "amount":
        return money(Decimal(str(value).replace(",", ".")))
    if isinstance(value, bool):
        return flag(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def read_back(path: Path, fmt: str, separator: str = ";") -> tuple[list[str], list[dict]]:
    if fmt == "csv":
        raw = path.read_bytes()
        assert raw.startswith(codecs.BOM_UTF8)  # Excel takes it for UTF-8 only with a BOM
        lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""),
                                delimiter=separator))
    else:
        book = openpyxl.load_workbook(path, read_only=True)
        lines = [list(r) for r in book.active.iter_rows(values_only=True)]
        book.close()
    header = [str(h) for h in lines[0]]
    return header, [
        {col: _text(col, v) for col, v in zip(header, line, strict=True)} for line in lines[1:]
    ]


CONTACT_COLUMNS = [
    "id", "last_name", "first_name", "patronymic", "company", "birthday", "phones", "emails",
    "stage", "seller", "source", "created_at", "consent_email", "consent_sms", "consent_call",
    "consent_telegram", "consent_whatsapp", "consent_viber", "consent_vk", "consent_letter",
]


@pytest.mark.parametrize("kind", ["contacts", "touches", "visits", "deals"])
@pytest.mark.parametrize("fmt,separator", [("csv", ";"), ("csv", ","), ("xlsx", ";")])
def test_each_kind_in_each_format_reads_back_as_the_database_holds_it(
    kind, fmt, separator, shop, owner, shop_world, django_capture_on_commit_callbacks
):
    job = made(owner, kind, fmt, django_capture_on_commit_callbacks, separator=separator)
    path = file_of(job)
    assert path is not None
    header, lines = read_back(path, fmt, separator)
    model, expected = EXPECTED[kind]
    want = expected(model.objects.filter(business=shop))
    assert header == list(KINDS[kind].columns)
    assert len(want) == 6 and job.rows == 6 and job.total == 6
    assert lines == want


def test_the_contacts_columns_are_the_documented_ones():
    assert list(KINDS["contacts"].columns) == CONTACT_COLUMNS


def test_russian_excel_gets_semicolons_decimal_commas_and_cyrillic(
    owner, shop_world, django_capture_on_commit_callbacks
):
    job = made(owner, "deals", "csv", django_capture_on_commit_callbacks)
    text = file_of(job).read_bytes().decode("utf-8")
    assert text.startswith("\ufeffid;title;")
    assert "Кухня №0" in text and "75000,10" in text
    job = made(owner, "visits", "xlsx", django_capture_on_commit_callbacks)
    book = openpyxl.load_workbook(file_of(job))
    amounts = [c.value for c in book.active["I"][1:] if c.value is not None]
    assert amounts and all(isinstance(a, int | float) for a in amounts)  # numbers, not text


def test_no_secret_or_internal_token_leaves_in_an_export(
    owner, shop_world, django_capture_on_commit_callbacks
):
    for fmt in ("csv", "xlsx"):
        job = made(owner, "touches", fmt, django_capture_on_commit_callbacks)
        header, lines = read_back(file_of(job), fmt)
        dumped = repr(lines)
        assert "SIGNEDTOKEN" not in dumped and "secret-provider-id" not in dumped
        assert not any(t.idempotency_key in dumped for t in Touch.objects.all())
        assert all("/u/…/" in line["text_excerpt"] for line in lines)
        assert "idempotency_key" not in header and "body" not in header


def test_a_formula_in_a_name_is_written_as_text(
    shop, owner, django_capture_on_commit_callbacks
):
    Contact.objects.create(business=shop, last_name='=HYPERLINK("http://evil","x")',
                           first_name="-2+3+cmd|' /C calc'!A0", company="+7 (916) 123-45-67")
    job = made(owner, "contacts", "csv", django_capture_on_commit_callbacks)
    _header, (line,) = read_back(file_of(job), "csv")
    assert line["last_name"] == "'" + '=HYPERLINK("http://evil","x")'
    assert line["first_name"].startswith("'-2+3")
    assert line["company"] == "+7 (916) 123-45-67"  # digits and signs: a phone, left alone
    job = made(owner, "contacts", "xlsx", django_capture_on_commit_callbacks)
    book = openpyxl.load_workbook(file_of(job))
    cell = book.active["B2"]
    assert cell.value == '=HYPERLINK("http://evil","x")' and cell.data_type == "s"


def test_a_marketers_export_holds_every_client_of_her_business_and_none_other(
    shop, marketer, shop_world, django_capture_on_commit_callbacks
):
    job = made(marketer, "contacts", "csv", django_capture_on_commit_callbacks)
    _header, lines = read_back(file_of(job), "csv")
    ids = {int(line["id"]) for line in lines}
    assert ids == set(Contact.objects.filter(business=shop).values_list("pk", flat=True))
    assert not ids & {c.pk for c in shop_world["other"]}


def test_a_role_that_reads_only_its_own_clients_exports_only_them(
    shop, alice, bob, shop_world, monkeypatch, django_capture_on_commit_callbacks
):
    """Were sellers given exports, Alice's would hold her clients and the unassigned ones,
    and she would see only the exports she asked for."""
    monkeypatch.setitem(CAPABILITIES, "export", CAPABILITIES["export"] | {Role.SELLER})
    job = made(alice, "deals", "csv", django_capture_on_commit_callbacks)
    _header, lines = read_back(file_of(job), "csv")
    mine = Deal.objects.filter(Q(seller=alice) | Q(seller=None), business=shop).values_list(
        "pk", flat=True
    )
    assert {int(line["id"]) for line in lines} == set(mine)
    client = Client()
    client.force_login(bob)
    assert client.get(reverse("exports:download", args=[job.pk])).status_code == 404
    assert f'data-export="{job.pk}"' not in client.get(reverse("exports:index")).content.decode()


def test_the_filters_narrow_the_rows(
    shop, owner, alice, shop_world, clock, django_capture_on_commit_callbacks
):
    source = LeadSource.objects.get(business=shop)
    contacts = Contact.objects.filter(business=shop)
    first_day = contacts.order_by("created_at").first().created_at.astimezone(MSK).date()
    cases = [
        ({"stage": Stage.NEW}, contacts.filter(stage=Stage.NEW)),
        ({"seller": alice}, contacts.filter(owner=alice)),
        ({"source": source}, contacts.filter(source=source)),
        ({"date_from": first_day, "date_to": first_day},
         contacts.filter(created_at__date=first_day)),
    ]
    for options, rows in cases:
        job = made(owner, "contacts", "csv", django_capture_on_commit_callbacks, **options)
        _header, lines = read_back(file_of(job), "csv")
        want = set(rows.values_list("pk", flat=True))
        assert want and want != set(contacts.values_list("pk", flat=True)), options
        assert {int(line["id"]) for line in lines} == want, options


def test_queries_grow_with_the_chunks_not_with_the_rows(shop, owner, shop_world, settings):
    """Per chunk: its addresses, its consents and the progress; never a query per row."""
    counts = {}
    for size in (1, 2, 3, 6):
        settings.KASATKA_EXPORTS = {**settings.KASATKA_EXPORTS, "CHUNK_ROWS": size}
        job = ExportJob.objects.create(business=shop, requested_by=owner, kind="contacts",
                                       format="csv")
        with CaptureQueriesContext(connection) as queries:
            run_export(job.pk)
        assert ExportJob.objects.get(pk=job.pk).rows == 6
        counts[6 // size] = len(queries)
    # Three queries a chunk, the rest fixed: the same total for any number of rows a chunk.
    assert all(counts[n] == counts[1] + 3 * (n - 1) for n in counts), counts


def test_a_user_who_lost_the_right_gets_no_file(
    owner, marketer, shop_world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        job = request_export(marketer, "contacts", "csv")
    User.objects.filter(pk=marketer.pk).update(role=Role.SELLER)
    run_ready_tasks()
    job.refresh_from_db()
    assert job.state == ExportState.FAILED and file_of(job) is None


def test_expired_exports_lose_their_file(
    shop, owner, shop_world, clock, settings, django_capture_on_commit_callbacks
):
    job = made(owner, "visits", "xlsx", django_capture_on_commit_callbacks)
    path = file_of(job)
    assert path is not None and job.expires_at == job.finished_at + timedelta(days=7)
    # The sweep is queued for when the file expires (the task queue runs on real time).
    assert DBTaskResult.objects.filter(task_path__endswith="sweep_exports").exists()
    client = Client()
    client.force_login(owner)
    url = reverse("exports:download", args=[job.pk])
    clock.advance(timedelta(days=6, hours=23))
    assert remove_expired() == 0 and path.exists()
    assert client.get(url).status_code == 200
    clock.advance(timedelta(hours=2))
    assert client.get(url).status_code == 410  # past its time, even before the sweep
    assert remove_expired() == 1
    assert not path.exists()
    job.refresh_from_db()
    assert job.state == ExportState.EXPIRED and job.file == ""
    assert client.get(url).status_code == 410
