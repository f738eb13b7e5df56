"""Import benchmark: a 1,000,000-row contacts CSV into a fresh SQLite install, rows/s and memory.

Run from the repository root:

    .venv/bin/python -m bench.imports [--rows N] [--batch-rows B] [--keep] [--profile]

It generates a `;`-separated UTF-8 CSV of N contacts (surname, name, phone in Excel-ish
spellings, e-mail, consent, source) with 5 % repeats of earlier people (another spelling
of the same phone, sometimes only the e-mail) and 2 % broken rows (bad phone, bad e-mail,
a missing column), imports it on the default install — SQLite in WAL mode, migrated fresh
under a temporary KASATKA_VAR_DIR — through the same runner the background task uses,
checks the counts against the generator's, and prints rows/s and the peak memory of the
importing process (ru_maxrss). The baseline, in the same run: the same rows read with the
csv module and inserted with one `executemany` per 2,000 rows into a plain SQLite table,
with no parsing, normalisation, duplicate check or index.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import os
import pstats
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_ROWS_PER_SECOND = 10_000
TARGET_PEAK_MB = 500
HEADER = ["Фамилия", "Имя", "Телефон", "E-mail", "Согласие", "Источник"]
LAST = ["Иванов", "Петрова", "Сидоров", "Кузнецова", "Смирнов", "Попова", "Волков", "Соколова"]
FIRST = ["Анна", "Иван", "Мария", "Пётр", "Ольга", "Сергей", "Елена", "Дмитрий"]
SOURCES = ["Сайт", "Instagram", "Вывеска", "Рекомендация", ""]


@dataclass
class Expected:
    rows: int = 0
    people: int = 0
    repeats: int = 0
    bad: int = 0
    without_consent: int = 0


def _spell(national: str, how: int) -> str:
    """One of the ways a Russian mobile is written in spreadsheets."""
    a, b, c, d = national[:3], national[3:6], national[6:8], national[8:]
    return [
        f"8 ({a}) {b}-{c}-{d}", f"+7 {a} {b}{c}{d}", f"7{national}.0", f"'+7{national}",
        f"7{national}", f"+7 ({a}) {b}-{c}-{d}",
    ][how % 6]


def generate(path: Path, rows: int, seed: int = 9) -> Expected:
    rng = random.Random(seed)
    expected = Expected(rows=rows)
    people: list[tuple[str, str, str, str, str]] = []
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(HEADER)
        for n in range(rows):
            roll = rng.random()
            if roll < 0.02:
                expected.bad += 1
                kind = n % 3
                if kind == 0:
                    writer.writerow(["Плохой", "Телефон", "12-34", "", "да", ""])
                elif kind == 1:
                    writer.writerow(["Плохой", "Адрес", "", f"user{n}@", "нет", ""])
                else:
                    writer.writerow(["Короткая", "строка"])
                continue
            consent = "да" if rng.random() < 0.6 else ""
            if roll < 0.07 and people:
                expected.repeats += 1
                last, first, national, email, source = rng.choice(people)
                if rng.random() < 0.5:
                    writer.writerow([last, first, _spell(national, n), "", consent, source])
                else:
                    writer.writerow([last, first, "", email.upper(), consent, source])
                if not consent:
                    expected.without_consent += 1
                continue
            national = f"9{len(people) + 10_000_000:09d}"
            email = f"client{len(people)}@example{len(people) % 97}.ru"
            person = (rng.choice(LAST), rng.choice(FIRST), national, email, rng.choice(SOURCES))
            people.append(person)
            expected.people += 1
            if not consent:
                expected.without_consent += 1
            writer.writerow([person[0], person[1], _spell(national, n), email, consent,
                             person[4]])
    return expected


def baseline(path: Path, db: Path, batch: int) -> float:
    """rows/s of csv + executemany into a plain table (no normalisation, no index)."""
    started = time.perf_counter()
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(
        "CREATE TABLE plain (id INTEGER PRIMARY KEY, last TEXT, first TEXT, phone TEXT, "
        "email TEXT, consent TEXT, source TEXT)"
    )
    count = 0
    with open(path, encoding="utf-8", newline="") as text:
        reader = csv.reader(text, delimiter=";")
        next(reader)
        chunk: list[list[str]] = []
        for values in reader:
            chunk.append((values + [""] * 6)[:6])
            if len(chunk) >= batch:
                with connection:
                    connection.executemany("INSERT INTO plain (last, first, phone, email, "
                                           "consent, source) VALUES (?,?,?,?,?,?)", chunk)
                count += len(chunk)
                chunk = []
        if chunk:
            with connection:
                connection.executemany("INSERT INTO plain (last, first, phone, email, "
                                       "consent, source) VALUES (?,?,?,?,?,?)", chunk)
            count += len(chunk)
    connection.close()
    return count / (time.perf_counter() - started)


def peak_mb() -> float:
    """Peak resident memory of this process: VmHWM, which starts afresh at exec (ru_maxrss
    keeps the high-water mark of the process that started us, here the generator's)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def import_file(path: Path, profile: bool) -> None:
    """In a fresh process (its peak memory is the importer's alone): migrate the database
    of KASATKA_VAR_DIR, import the file, print the figures as one JSON line."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from kasatka.accounts.models import Business
    from kasatka.imports import actions
    from kasatka.imports.models import ImportState

    business = Business.objects.create(name="Bench", slug="bench")
    job = actions.create_job(business, "contacts", path)
    actions.set_mapping(job, job.mapping)
    actions.start_import(job)
    start_mb = peak_mb()
    cpu_before = time.process_time()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    done = actions.run_job(job.pk)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done is not None and done.state == ImportState.DONE, done and done.error
    done.refresh_from_db()
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    print("RESULT " + json.dumps({
        "seconds": seconds, "cpu": cpu, "start_mb": start_mb,
        "peak_mb": peak_mb(),
        "children_mb": children.ru_maxrss / 1024,
        "children_cpu": children.ru_utime + children.ru_stime,
        "counts": done.counts(),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile")
    parser.add_argument("--import-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.import_file:
        import_file(args.import_file, args.profile)
        return

    folder = Path(tempfile.mkdtemp(prefix="kasatka-bench-imports-"))
    os.environ["KASATKA_VAR_DIR"] = str(folder)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "kasatka.settings"
    os.environ["KASATKA_IMPORT_BATCH_ROWS"] = str(args.batch_rows)
    try:
        source = folder / "contacts.csv"
        started = time.perf_counter()
        expected = generate(source, args.rows)
        print(f"generated {args.rows:,} rows ({source.stat().st_size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - started:.1f} s: {expected.people:,} people, "
              f"{expected.repeats:,} repeats, {expected.bad:,} broken rows")
        base = baseline(source, folder / "plain.sqlite3", args.batch_rows)
        print(f"baseline (csv + executemany into a plain table): {base:,.0f} rows/s")

        command = [sys.executable, "-m", "bench.imports", "--import-file", str(source)]
        if args.profile:
            command.append("--profile")
        child = subprocess.run(command, capture_output=True, text=True, check=False)
        if child.returncode != 0:
            print(child.stdout, child.stderr)
            sys.exit(1)
        found = [line for line in child.stdout.splitlines() if line.startswith("RESULT ")]
        result = json.loads(found[-1][len("RESULT "):])
        print("\n".join(line for line in child.stdout.splitlines()
                        if not line.startswith("RESULT ")))
        seconds, peak = result["seconds"], result["peak_mb"]
        rate = args.rows / seconds
        print(f"import: {args.rows:,} rows in {seconds:.1f} s = {rate:,.0f} rows/s "
              f"({rate / base * 100:.1f} % of the baseline); peak memory of the importing "
              f"process {peak:,.0f} MB (after start-up and migration {result['start_mb']:,.0f}"
              f" MB), of one parsing process {result['children_mb']:,.0f} MB")
        print(f"CPU: importing process {result['cpu']:.1f} s ({result['cpu'] / args.rows * 1e6:.0f}"
              f" µs/row), parsing processes {result['children_cpu']:.1f} s "
              f"({result['children_cpu'] / args.rows * 1e6:.0f} µs/row); load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        done = result["counts"]
        print(f"counts: created {done['created']:,}, merged {done['merged']:,}, rejected "
              f"{done['rejected']:,}, consents {done['consents']:,}, without consent "
              f"{done['without_consent']:,}")
        checks = {
            "created": (done["created"], expected.people),
            "merged": (done["merged"], expected.repeats),
            "rejected": (done["rejected"], expected.bad),
            "without_consent": (done["without_consent"], expected.without_consent),
        }
        wrong = {k: v for k, v in checks.items() if v[0] != v[1]}
        print("counts match the generator" if not wrong else f"COUNTS DIFFER: {wrong}")
        verdict = "PASS" if rate >= TARGET_ROWS_PER_SECOND and peak < TARGET_PEAK_MB else "MISS"
        print(f"target ≥ {TARGET_ROWS_PER_SECOND:,} rows/s and < {TARGET_PEAK_MB} MB: {verdict}")
        if wrong:
            sys.exit(1)
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
