"""Imports end to end: the file's rows into contacts, purchases and deals, with the report.

Each test builds its file, imports it through the same actions as the page (upload, map,
start, the background task), and checks the counts against what the file holds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from decimal import Decimal
from io import BytesIO
from pathlib import Path

import openpyxl
import pytest
from django.db.models import Count

from kasatka.contacts.actions import create_contact, withdraw_consent
from kasatka.contacts.models import (
    Address,
    Consent,
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
)
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import Deal
from kasatka.engine.background import run_ready_tasks
from kasatka.imports import actions
from kasatka.imports.models import ImportJob, ImportRejection, ImportState
from kasatka.sales.models import Purchase

pytestmark = pytest.mark.django_db(transaction=True)

SPELLINGS = (
    "8 ({a}) {b}-{c}-{d}", "+7 {a} {b}{c}{d}", "7{a}{b}{c}{d}.0", "'+7{a}{b}{c}{d}",
    "8{a}{b}{c}{d}", "+7 ({a}) {b} {c} {d}",
)


def spell(national: str, how: int) -> str:
    a, b, c, d = national[:3], national[3:6], national[6:8], national[8:]
    return SPELLINGS[how % len(SPELLINGS)].format(a=a, b=b, c=c, d=d)


def e164(national: str) -> str:
    return f"+7{national}"


def run(business, kind, data: bytes | Path, name: str, by=None, mapping=None) -> ImportJob:
    source = data if isinstance(data, Path) else BytesIO(data)
    job = actions.create_job(business, kind, source, by=by, file_name=name)
    actions.set_mapping(job, mapping if mapping is not None else job.mapping)
    actions.start_import(job)
    run_ready_tasks()
    job.refresh_from_db()
    return job


def reasons(job: ImportJob) -> dict[int, str]:
    return dict(job.rejections.filter(went_in=False).values_list("line", "code"))


@dataclass
class Windows1251File:
    """200 data rows: 165 people, 25 repeats, 10 broken (5 %) — and what each should do."""

    text: str = ""
    people: int = 0
    repeats: int = 0
    bad: dict[int, str] = field(default_factory=dict)  # line → code
    without_consent: int = 0
    consents: int = 0
    existing_line: int = 0
    withdrawn_line: int = 0


def windows_1251_file(existing: str, withdrawn: str) -> Windows1251File:
    rng = random.Random(9)
    out = Windows1251File()
    lines = ["Фамилия;Имя;Телефон;E-mail;Согласие;Компания"]
    people: list[tuple[str, str]] = []  # (national, email)
    broken = {
        7: ("Плохой;Телефон;12-34;;да;", "phone"),
        30: ("Плохой;Адрес;;ivan@;нет;", "email"),
        55: ("Короткая;строка", "columns"),
        80: (";;;;;ООО без людей", "empty"),
        101: ("Сидоров;Пётр;8 916 000-00-01;;голубиная почта;", "consent"),
        120: ("Сидоров;Пётр;+7 916 12;;;", "phone"),
        140: ("Лишние;Поля;8 916 000-00-02;;;;;;лишнее", "columns"),
        160: ("Плохая;Почта;8 916 000-00-03;a..b@example.com;;", "email"),
        181: ("Excel;Округлил;7.91612E+10;;;", "phone"),
        199: ("Без;Номера;8 (000) 000-00-00;;;", "phone"),
    }
    line = 1
    for n in range(200):
        line += 1
        if n in broken:
            row, code = broken[n]
            lines.append(row)
            out.bad[line] = code
            continue
        consent = "да" if n % 3 else ""
        if n == 12:
            # A client already in the database, by phone: merged, not created.
            lines.append(f"Иванова;Анна;{spell(existing, n)};;{consent};")
            out.repeats += 1
            out.existing_line = line
        elif n == 13:
            # A client who withdrew their SMS consent: the import cannot give it back.
            lines.append(f"Отказников;Олег;{spell(withdrawn, n)};;да;")
            out.repeats += 1
            out.withdrawn_line = line
        elif n > 20 and n % 8 == 0:
            national, email = rng.choice(people)
            if n % 16 == 0 or not email:
                lines.append(f"Повтор;Клиент;{spell(national, n + 1)};;{consent};")
            else:
                lines.append(f";;;{email.upper()};{consent};")
            out.repeats += 1
        else:
            national = f"9{len(people) + 160_000_000:09d}"
            email = f"client{len(people)}@пример.рф".replace("пример.рф", "example.ru") \
                if n % 2 else ""
            people.append((national, email))
            company = '"ООО «Ромашка»\nфилиал"' if n == 3 else "ИП"
            if n == 3:
                line += 1  # the quoted company spans two lines of the file
            lines.append(f"Клиентова;Мария;{spell(national, n)};{email};{consent};{company}")
            out.people += 1
        if not consent:
            out.without_consent += 1
    out.text = "\r\n".join(lines) + "\r\n"
    return out


def test_windows_1251_semicolons_excel_phones_duplicates_and_broken_rows(shop, owner, clock):
    existing = create_contact(shop, first_name="Анна", phones=["+79250000100"])
    withdrawn = create_contact(shop, first_name="Олег", phones=["+79250000200"])
    withdraw_consent(withdrawn, "sms", ConsentBasis.UNSUBSCRIBE)
    spec = windows_1251_file("9250000100", "9250000200")
    data = spec.text.encode("cp1251")
    assert not data.startswith(b"\xef\xbb\xbf")

    job = run(shop, "contacts", data, "клиенты.csv", by=owner)

    assert (job.state, job.encoding, job.separator) == (ImportState.DONE, "cp1251", ";")
    assert job.rows_total == job.rows_done == 200
    assert reasons(job) == spec.bad  # every bad row, with its line and why
    assert job.rejected == len(spec.bad) == 10
    assert job.created == spec.people
    assert job.merged == spec.repeats
    assert Contact.objects.filter(business=shop).count() == spec.people + 2
    # One contact per phone and per e-mail: the duplicates merged.
    assert not Address.objects.values("kind", "value").annotate(n=Count("id")).filter(n__gt=1)
    assert existing.addresses.count() == 1
    # The client who withdrew keeps no SMS or call consent; the refusal is on their line.
    refused = job.rejections.filter(went_in=True)
    assert spec.withdrawn_line == 16  # row 14, after a value spanning two lines
    assert sorted(refused.values_list("line", "code")) == [(16, "consent_refused")] * 2
    assert job.consents_refused == 2
    newest = Consent.objects.filter(contact=withdrawn, channel="sms").latest("recorded_at", "id")
    assert newest.status == ConsentStatus.WITHDRAWN
    assert not Consent.objects.filter(contact=withdrawn, basis=ConsentBasis.IMPORT).exists()
    assert job.without_consent == spec.without_consent
    granted = Consent.objects.filter(business=shop, basis=ConsentBasis.IMPORT,
                                     status=ConsentStatus.GRANTED, purpose=Purpose.COMMERCIAL)
    assert job.consents == granted.count() > 0
    # The quoted company with a line break in it is one value, and the lines after it count.
    assert Contact.objects.filter(company="ООО «Ромашка»\nфилиал").count() == 1
    assert ImportRejection.objects.get(job=job, line=33).row.startswith("Плохой;Адрес")


def test_a_second_import_of_the_same_file_creates_nothing(shop, owner, clock):
    spec = windows_1251_file("9250000100", "9250000200")
    data = spec.text.encode("cp1251")
    first = run(shop, "contacts", data, "a.csv")
    contacts = Contact.objects.count()
    second = run(shop, "contacts", data, "a.csv")
    assert second.created == 0
    assert second.merged == 200 - len(spec.bad)
    assert Contact.objects.count() == contacts == first.created


def test_utf8_bom_tab_separated_purchases(shop, owner, alice, clock):
    known = create_contact(shop, first_name="Вера", emails=["vera@example.ru"])
    text = (
        "Телефон\tПочта\tФИО\tДата\tСумма\tПродавец\n"
        "+7 916 555-00-01\t\tИван Иванов\t01.02.2025\t1 500,50\talice\n"
        "8 916 555 00 01\t\tИван Иванов\t2025-02-10 14:30\t200\talice\n"
        "\tVERA@example.ru\t\t2025-02-11\t99,90\t\n"
        "+7 916 555-00-02\t\tБез Даты\t\t100\t\n"
        "+7 916 555-00-03\t\tНет Продавца\t2025-02-12\t100\tnobody\n"
    )
    job = run(shop, "purchases", ("\ufeff" + text).encode("utf-8"), "чеки.tsv")
    assert (job.encoding, job.separator, job.state) == ("utf-8-sig", "\t", ImportState.DONE)
    assert reasons(job) == {5: "date", 6: "seller"}
    assert job.records == 3
    assert (job.created, job.merged) == (1, 2)
    ivan = Contact.objects.get(last_name="Иванов")
    assert sorted(Purchase.objects.filter(contact=ivan).values_list("amount", flat=True)) == [
        Decimal("200.00"), Decimal("1500.50"),
    ]
    assert Purchase.objects.get(contact=known).amount == Decimal("99.90")
    assert ivan.purchases.first().seller == alice
    ivan.refresh_from_db()
    assert ivan.stage != "lead"  # the lifecycle saw the history
    again = run(shop, "purchases", ("\ufeff" + text).encode("utf-8"), "чеки.tsv")
    assert (again.records, again.duplicates) == (0, 3)


def xlsx(rows: list[list[object]]) -> bytes:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def test_xlsx_contacts_with_numbers_as_phones(shop, clock):
    data = xlsx([
        ["Имя", "Фамилия", "Телефон", "Email", "Согласие"],
        ["Анна", "Петрова", 79161112233, "anna@example.ru", "sms email"],
        ["Анна", "Петрова", 89161112233, None, None],
        [None, None, None, None, None],
        ["Иван", None, "+7 916 111-22-44", "bad@", None],
    ])
    job = run(shop, "contacts", data, "clients.xlsx")
    assert job.file_format == "xlsx"
    assert reasons(job) == {5: "email"}
    assert (job.created, job.merged, job.consents) == (1, 1, 2)
    anna = Contact.objects.get(last_name="Петрова")
    assert sorted(anna.addresses.values_list("value", flat=True)) == [
        "+79161112233", "anna@example.ru",
    ]
    assert set(anna.consents.values_list("channel", flat=True)) == {"sms", "email"}


def test_xlsx_deals_in_a_pipeline_and_stage_by_name(shop, owner, clock):
    pipeline = ensure_default_pipeline(shop)
    stages = list(pipeline.stages.order_by("position"))
    data = xlsx([
        ["Клиент", "Телефон", "Сделка", "Воронка", "Этап", "Сумма"],
        ["Анна Петрова", "+7 916 222-33-44", "Кухня", pipeline.name, stages[1].name.upper(),
         150000],
        ["Анна Петрова", "+7 916 222-33-44", "Шкаф", None, None, None],
        ["Анна Петрова", "+7 916 222-33-44", "Кухня", None, None, 1],
        ["Иван", "+7 916 222-33-55", "Диван", "Нет такой", None, 100],
        ["Иван", "+7 916 222-33-55", "Стол", None, "Нет такого", 100],
    ])
    job = run(shop, "deals", data, "deals.xlsx", by=owner)
    assert job.state == ImportState.DONE, job.error
    assert reasons(job) == {5: "stage", 6: "stage"}
    assert (job.records, job.duplicates) == (2, 1)
    kitchen = Deal.objects.get(title="Кухня")
    assert (kitchen.stage, kitchen.amount) == (stages[1], Decimal("150000"))
    assert Deal.objects.get(title="Шкаф").stage == stages[0]
    assert kitchen.stage_changes.count() == 1  # through create_deal: its history is written


def test_rows_without_a_consent_column_go_in_without_consent(shop, clock):
    job = run(shop, "contacts", "Имя,Телефон\nАнна,89161234567\n".encode(), "a.csv")
    assert (job.created, job.without_consent, job.consents) == (1, 1, 0)
    assert not Consent.objects.exists()


def test_an_import_does_not_resubscribe_a_suppressed_address(shop, clock):
    gone = create_contact(shop, first_name="Гость", emails=["gone@example.ru"])
    withdraw_consent(gone, "email", ConsentBasis.UNSUBSCRIBE)
    gone.delete()  # the address stays on the suppression list
    job = run(shop, "contacts", "Имя,Почта,Согласие\nНовая,gone@example.ru,да\n".encode(),
              "a.csv")
    assert (job.created, job.consents, job.consents_refused) == (1, 0, 1)
    assert not Consent.objects.filter(basis=ConsentBasis.IMPORT).exists()
