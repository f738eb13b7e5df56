"""Reading tables: encodings, separators, quoted fields, XLSX, Excel's phone spellings."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from kasatka.imports.mapping import guess
from kasatka.imports.parsing import BadRow, excel_phone
from kasatka.imports.reading import CP1251, UTF8, UTF8_BOM, Table, detect


def write(path: Path, text: str, encoding: str) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(("encoding", "found"), [
    ("utf-8", UTF8), ("utf-8-sig", UTF8_BOM), ("cp1251", CP1251),
])
@pytest.mark.parametrize("separator", [",", ";", "\t"])
def test_it_detects_encoding_and_separator(tmp_path, encoding, found, separator):
    text = separator.join(["Фамилия", "Имя", "Телефон", "Сумма"]) + "\r\n"
    text += separator.join(["Петрова", "Анна", "8 (916) 123-45-67", '"1 500,50"']) + "\r\n"
    form = detect(write(tmp_path / "f.csv", text, encoding))
    assert (form.file_format, form.encoding, form.separator) == ("csv", found, separator)
    table = Table(tmp_path / "f.csv", form)
    assert table.header() == ["Фамилия", "Имя", "Телефон", "Сумма"]
    assert list(table.rows()) == [(2, ["Петрова", "Анна", "8 (916) 123-45-67", "1 500,50"])]


def test_a_semicolon_file_with_commas_in_values_is_still_semicolon(tmp_path):
    text = "Имя;Сумма;Заметка\nАнна;1500,50;да, позже\nИван;200,00;нет, сразу\n"
    assert detect(write(tmp_path / "f.csv", text, "cp1251")).separator == ";"


def test_lines_count_quoted_newlines_and_skip_blank_rows(tmp_path):
    text = 'Имя;Компания\nАнна;"ООО «Ромашка»\nфилиал; склад"\n\nИван;ИП\n'
    table = Table(write(tmp_path / "f.csv", text, "utf-8"), detect(tmp_path / "f.csv"))
    assert list(table.rows()) == [
        (2, ["Анна", "ООО «Ромашка»\nфилиал; склад"]), (5, ["Иван", "ИП"]),
    ]
    assert list(table.rows(skip=1)) == [(5, ["Иван", "ИП"])]
    assert table.count() == 2


def test_xlsx_streams_numbers_as_excel_shows_them(tmp_path):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["ФИО", "Телефон", "Дата", "Сумма"])
    sheet.append(["Анна Петрова", 79161234567.0, datetime(2025, 3, 1), 1500.5])
    sheet.append([None, None, None, None])
    sheet.append(["Иван", "'+7 916 765-43-21", datetime(2025, 3, 2, 14, 30), 200])
    book.save(tmp_path / "f.xlsx")
    form = detect(tmp_path / "f.xlsx")
    assert form.file_format == "xlsx"
    rows = list(Table(tmp_path / "f.xlsx", form).rows())
    assert rows == [
        (2, ["Анна Петрова", "79161234567", "2025-03-01", "1500.5"]),
        (4, ["Иван", "'+7 916 765-43-21", "2025-03-02 14:30:00", "200"]),
    ]


@pytest.mark.parametrize(("raw", "clean"), [
    ("79161234567.0", "79161234567"), ("'+7 916 123-45-67", "+7 916 123-45-67"),
    ("7,9161234567E+10", "79161234567"), ("8 (916) 123-45-67", "8 (916) 123-45-67"),
])
def test_excel_phone_spellings(raw, clean):
    assert excel_phone(raw) == clean


def test_a_phone_excel_rounded_is_refused():
    with pytest.raises(BadRow) as caught:
        excel_phone("7.91612E+10")
    assert caught.value.code == "phone"


def test_the_mapping_is_guessed_from_russian_and_english_names():
    header = ["Фамилия", "Имя", "Отчество", "Телефон моб.", "E-mail", "Согласие на рассылку",
              "Источник", "Дата покупки", "Сумма, ₽", "Что-то ещё"]
    assert guess("purchases", header) == {
        "0": "last_name", "1": "first_name", "2": "patronymic", "3": "phone", "4": "email",
        "5": "consent", "6": "source", "7": "date", "8": "amount",
    }
    assert guess("contacts", ["Name", "Phone", "Email", "Amount"]) == {
        "0": "name", "1": "phone", "2": "email",
    }
    assert guess("deals", ["ФИО", "Почта", "Сделка", "Этап", "Бюджет"]) == {
        "0": "name", "1": "email", "2": "title", "3": "stage", "4": "amount",
    }
