"""Reading an uploaded table: CSV in UTF-8 or Windows-1251 with `,` `;` or tab, or XLSX.

Everything streams: a CSV is decoded and split row by row, an XLSX is read by openpyxl in
read-only mode, so a file of a million rows never sits in memory. Rows come out as lists
of strings with the line (CSV) or sheet row (XLSX) where they start, for the report.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from itertools import islice
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

UTF8_BOM = "utf-8-sig"
UTF8 = "utf-8"
CP1251 = "cp1251"
SEPARATORS = (",", ";", "\t")
_SAMPLE_BYTES = 64 * 1024
_DECODE_CHUNK = 1024 * 1024
# One cell can be long (a note), but not endless: the csv module's own guard.
csv.field_size_limit(1024 * 1024)


class UnreadableFile(ValueError):
    """Not a table we can read: empty, no header, a broken XLSX."""


@dataclass(frozen=True)
class TableFormat:
    file_format: str  # "csv" or "xlsx"
    encoding: str = ""
    separator: str = ""


def is_xlsx(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return "xl/workbook.xml" in archive.namelist()


def detect_encoding(path: Path) -> str:
    """utf-8-sig with a BOM; else UTF-8 if the whole file decodes strictly; else cp1251."""
    with open(path, "rb") as raw:
        start = raw.read(len(codecs.BOM_UTF8))
        if start == codecs.BOM_UTF8:
            return UTF8_BOM
        decoder = codecs.getincrementaldecoder(UTF8)("strict")
        try:
            decoder.decode(start)
            while chunk := raw.read(_DECODE_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return CP1251
    return UTF8


def detect_separator(sample: str) -> str:
    """The separator of a CSV sample: csv.Sniffer's answer when the header splits by it into
    several columns, else the candidate the header holds most of (outside quotes)."""
    header = sample.split("\n", 1)[0]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(SEPARATORS)).delimiter
    except csv.Error:
        sniffed = ""
    if sniffed and len(next(csv.reader([header], delimiter=sniffed), [])) > 1:
        return sniffed
    counts = {sep: len(next(csv.reader([header], delimiter=sep), [])) for sep in SEPARATORS}
    best = max(SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] > 1 else ","


def detect(path: Path) -> TableFormat:
    if is_xlsx(path):
        return TableFormat("xlsx")
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, errors="replace", newline="") as text:
        sample = text.read(_SAMPLE_BYTES)
    if not sample.strip():
        raise UnreadableFile(_("The file is empty: a header row is needed."))
    if len(sample) == _SAMPLE_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    return TableFormat("csv", encoding, detect_separator(sample.replace("\r\n", "\n")))


def cell_text(value: Any) -> str:
    """An XLSX cell as the text a CSV would hold (a phone stored as a number: no ".0")."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value).strip()


@dataclass
class Table:
    """A table's header and its data rows: (line where the row starts, values).

    Blank rows are left out and not counted: `rows(skip=n)` goes on after the n-th row that
    `rows()` gave, which is what an import's checkpoint stores.
    """

    path: Path
    form: TableFormat

    def header(self) -> list[str]:
        for _line, values in self._all():
            return [v.strip() for v in values]
        raise UnreadableFile(_("The file is empty: a header row is needed."))

    def rows(self, skip: int = 0) -> Iterator[tuple[int, list[str]]]:
        data = islice(self._all(), 1, None)  # the header is the first non-blank row
        return islice(data, skip, None)

    def preview(self, count: int) -> list[tuple[int, list[str]]]:
        return list(islice(self.rows(), count))

    def count(self) -> int:
        return sum(1 for _row in self.rows())

    def _all(self) -> Iterator[tuple[int, list[str]]]:
        if self.form.file_format == "xlsx":
            yield from self._xlsx()
        else:
            yield from self._csv()

    def _csv(self) -> Iterator[tuple[int, list[str]]]:
        with open(self.path, encoding=self.form.encoding or UTF8_BOM, errors="replace",
                  newline="") as text:
            reader = csv.reader(text, delimiter=self.form.separator or ",")
            ended = 0  # the line the previous record ended on
            try:
                for values in reader:
                    start, ended = ended + 1, reader.line_num
                    if any(v.strip() for v in values):
                        yield start, values
            except csv.Error as exc:
                raise UnreadableFile(
                    _("Line %(line)s cannot be read: %(error)s")
                    % {"line": reader.line_num, "error": exc}
                ) from exc

    def _xlsx(self) -> Iterator[tuple[int, list[str]]]:
        import openpyxl  # type: ignore[import-untyped]

        try:
            book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise UnreadableFile(_("The Excel file cannot be read: %(error)s") % {"error": exc}
                                 ) from exc
        try:
            sheet = book.worksheets[0]
            for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
                values = [cell_text(v) for v in cells]
                if any(values):
                    yield number, values
        finally:
            book.close()


def open_table(path: Path, form: TableFormat | None = None) -> Table:
    return Table(path, form or detect(path))


def row_text(values: list[str], separator: str) -> str:
    """A row as it would be written back in the file (for the report of rejected rows)."""
    out = io.StringIO()
    csv.writer(out, delimiter=separator or ",", lineterminator="").writerow(values)
    return out.getvalue()
