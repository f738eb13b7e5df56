"""Export benchmark: contacts to CSV and XLSX on a throw-away SQLite database.

Run from the repository root:

    .venv/bin/python -m bench.exports [--rows 200000]

Builds one business with N contacts, each with a phone, an e-mail and an e-mail consent,
then runs the real export (kasatka.exports.actions.run_export) for N/10 and N rows, in CSV
and XLSX, and prints rows/s and the growth of the resident memory during the export (peak
minus before: flat memory means about the same figure for N/10 and N). The baseline, in the
same run: a raw cursor over the contacts' three name columns written by `csv.writer` —
the least an export can do.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def measured(work: Callable[[], Any]) -> tuple[float, int]:
    """Seconds and peak resident-memory growth (bytes) of `work()`."""
    before = rss()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    work()
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return seconds, max(peak[0], rss()) - before


def build(shop: Any, n: int) -> None:
    from django.db import transaction

    from kasatka.contacts.models import Address, Consent, Contact

    chunk = 10_000
    with transaction.atomic():
        for offset in range(0, n, chunk):
            size = min(chunk, n - offset)
            contacts = Contact.objects.bulk_create(
                Contact(business=shop, first_name="Анна", patronymic="Сергеевна",
                        last_name=f"Иванова{offset + i}", gender="female", created_at=NOW)
                for i in range(size)
            )
            Address.objects.bulk_create(
                a for c in contacts for a in (
                    Address(business=shop, contact=c, kind="phone", value=f"+7916{c.pk:07d}"),
                    Address(business=shop, contact=c, kind="email",
                            value=f"client{c.pk}@example.com"),
                )
            )
            Consent.objects.bulk_create(
                Consent(business=shop, contact=c, channel="email", purpose="commercial",
                        status="granted", basis="import", recorded_at=NOW)
                for c in contacts
            )


def line(label: str, rows: int, seconds: float, grown: int) -> None:
    print(f"{label:<30} {rows:>10,} rows {rows / seconds:>10,.0f} rows/s "
          f"{seconds:>7.1f} s  memory +{grown / 2**20:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    var = Path(tempfile.mkdtemp(prefix="kasatka-bench-export-"))
    os.environ["KASATKA_VAR_DIR"] = str(var)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("KASATKA_EXPORT_DIR", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kasatka.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from kasatka.accounts.models import Business, Role, User
    from kasatka.exports.actions import run_export
    from kasatka.exports.models import ExportJob

    call_command("migrate", verbosity=0, interactive=False)
    shop = Business.objects.create(name="Мебель «Кедр»", slug="kedr")
    owner = User.objects.create(username="olga", business=shop, role=Role.OWNER)
    print(f"SQLite in {var}; chunk {settings.KASATKA_EXPORTS['CHUNK_ROWS']} rows")
    built = 0
    for size in (args.rows // 10, args.rows):
        started = time.perf_counter()
        build(shop, size - built)
        built = size
        print(f"-- {size:,} contacts (built in {time.perf_counter() - started:.0f} s)")

        def baseline() -> None:
            out = Path(settings.KASATKA_EXPORTS["DIR"]) / "baseline.csv"
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", encoding="utf-8-sig", newline="") as f, connection.cursor() as cur:
                writer = csv.writer(f, delimiter=";")
                cur.execute("SELECT id, last_name, first_name FROM contacts_contact ORDER BY id")
                while rows := cur.fetchmany(2000):
                    writer.writerows(rows)

        seconds, grown = measured(baseline)
        line("baseline: raw cursor → csv", size, seconds, grown)
        for fmt in ("csv", "xlsx"):
            job = ExportJob.objects.create(business=shop, requested_by=owner, kind="contacts",
                                           format=fmt)
            seconds, grown = measured(lambda job=job: run_export(job.pk))
            job.refresh_from_db()
            assert job.rows == size, (job.rows, size, job.error)
            line(f"export contacts → {fmt}", job.rows, seconds, grown)


if __name__ == "__main__":
    main()
