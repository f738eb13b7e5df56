"""Writing an export's lines as CSV (for Excel: UTF-8 with a BOM) or XLSX (streamed).

Both writers take the lines a chunk at a time and hold nothing but the chunk: the CSV goes
straight to the file, openpyxl's write-only workbook spools its rows to a temporary file.
A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula (CSV
injection): in CSV such a text gets a leading `'`, unless it is only digits and
punctuation (a phone `+7 916…`, a negative number); in XLSX text cells are typed as text.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell.cell import (  # type: ignore[import-untyped]
    ILLEGAL_CHARACTERS_RE,
    WriteOnlyCell,
)
from openpyxl.worksheet._write_only import (  # type: ignore[import-untyped]
    WriteOnlyWorksheet,
)

Row = list[Any]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_HARMLESS = re.compile(r"[+-][\d\s(),.+-]*")


def neutralise(text: str) -> str:
    """A text that a spreadsheet will show, not run."""
    if text.startswith(_FORMULA_START) and not _HARMLESS.fullmatch(text):
        return "'" + text
    return text


class Writer(Protocol):
    def write(self, lines: list[Row]) -> None: ...

    def close(self) -> None: ...


class CsvWriter:
    """UTF-8 with a BOM (so Excel reads Cyrillic), the chosen separator, CRLF lines; with
    `;` the decimal mark is the comma, as Russian Excel expects."""

    def __init__(self, path: Path, columns: Iterable[str], separator: str) -> None:
        self._file = path.open("w", encoding="utf-8-sig", newline="")
        self._csv = csv.writer(self._file, delimiter=separator, lineterminator="\r\n")
        self._decimal_comma = separator == ";"
        self._csv.writerow(list(columns))

    def _cell(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal | float):
            text = str(value)
            return text.replace(".", ",") if self._decimal_comma else text
        if isinstance(value, str):
            return neutralise(value)
        return value

    def write(self, lines: list[Row]) -> None:
        cell = self._cell
        self._csv.writerows([[cell(v) for v in line] for line in lines])

    def close(self) -> None:
        self._file.close()


class XlsxWriter:
    """openpyxl's write-only workbook: rows go to a temporary file as they come."""

    def __init__(self, path: Path, columns: Iterable[str], title: str) -> None:
        self._path = path
        self._book = Workbook(write_only=True)
        self._sheet: WriteOnlyWorksheet = self._book.create_sheet(title[:31])
        self._sheet.append(list(columns))

    def _cell(self, value: Any) -> Any:
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value)
            if value.startswith("="):  # openpyxl would store it as a formula
                cell = WriteOnlyCell(self._sheet, value)
                cell.data_type = "s"
                return cell
        return value

    def write(self, lines: list[Row]) -> None:
        for line in lines:
            self._sheet.append([self._cell(v) for v in line])

    def close(self) -> None:
        self._book.save(self._path)
        self._book.close()


def open_writer(path: Path, fmt: str, columns: Iterable[str], separator: str, title: str) -> Writer:
    if fmt == "xlsx":
        return XlsxWriter(path, columns, title)
    return CsvWriter(path, columns, separator)
