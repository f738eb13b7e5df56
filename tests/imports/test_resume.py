"""Resumable per batch: a batch is all in or not at all, and a resumed job doubles nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from bench.imports import generate
from kasatka.contacts.models import Address, Consent, Contact
from kasatka.engine.background import requeue_stale, run_ready_tasks
from kasatka.imports import actions, bulk
from kasatka.imports.models import ImportJob, ImportRejection, ImportState

pytestmark = pytest.mark.django_db(transaction=True)


def queued(business, path: Path) -> ImportJob:
    job = actions.create_job(business, "contacts", path)
    actions.set_mapping(job, job.mapping)
    return actions.start_import(job)


def snapshot(business) -> dict[str, object]:
    """What an import left in a business, comparable across businesses."""
    return {
        "contacts": Contact.objects.filter(business=business).count(),
        "phones": sorted(Address.objects.filter(business=business, kind="phone")
                         .values_list("value", flat=True)),
        "emails": sorted(Address.objects.filter(business=business, kind="email")
                         .values_list("value", flat=True)),
        "consents": Consent.objects.filter(business=business).count(),
    }


def counts(job: ImportJob) -> dict[str, object]:
    job.refresh_from_db()
    return {**job.counts(), "rows_done": job.rows_done, "state": job.state,
            "rejections": sorted(job.rejections.values_list("line", "code"))}


def test_a_batch_that_fails_half_way_leaves_nothing_and_resume_finishes_it(
    shop, other_shop, tmp_path, settings, monkeypatch, clock
):
    settings.KASATKA_IMPORTS = {**settings.KASATKA_IMPORTS, "BATCH_ROWS": 50}
    path = tmp_path / "clients.csv"
    expected = generate(path, 300, seed=3)
    reference = queued(other_shop, path)
    run_ready_tasks()

    job = queued(shop, path)
    real_insert, calls = bulk.insert, []

    def insert_failing_in_the_third_batch(model, rows):
        calls.append(model.__name__)
        if model is Consent and calls.count("Consent") == 3:
            # The batch's contacts and addresses are written by now, inside its transaction.
            assert Contact.objects.filter(business=shop).count() > 0
            raise OSError("disk full")
        real_insert(model, rows)

    monkeypatch.setattr(bulk, "insert", insert_failing_in_the_third_batch)
    run_ready_tasks()
    job.refresh_from_db()
    assert (job.state, job.rows_done) == (ImportState.FAILED, 100)
    assert "disk full" in job.error
    # Exactly the first two batches are in: their contacts, nothing of the third.
    lines = ImportRejection.objects.filter(job=job).values_list("line", flat=True)
    assert max(lines) <= 101
    assert job.created == Contact.objects.filter(business=shop).count()
    half = Contact.objects.filter(business=shop).count()
    assert 0 < half < expected.people

    monkeypatch.setattr(bulk, "insert", real_insert)
    actions.resume_import(job)
    run_ready_tasks()
    assert counts(job) == counts(reference)
    assert snapshot(shop) == snapshot(other_shop)
    assert job.created == expected.people and job.rejected == expected.bad


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    return f"sqlite:///{s['NAME']}"


@pytest.mark.slow
def test_a_task_worker_killed_mid_file_resumes_without_doubles(shop, other_shop, tmp_path):
    path = tmp_path / "clients.csv"
    expected = generate(path, 12_000, seed=5)
    job = queued(shop, path)
    worker = subprocess.Popen(
        [sys.executable, "-m", "kasatka", "tasks"],
        env={**os.environ, "DATABASE_URL": database_url(),
             "KASATKA_IMPORT_DIR": str(settings.KASATKA_IMPORTS["DIR"]),
             "KASATKA_IMPORT_BATCH_ROWS": "300", "KASATKA_IMPORT_PROCESSES": "1",
             "KASATKA_TASK_IDLE_SECONDS": "0.1"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.rows_done >= 900:
                break
            assert worker.poll() is None, worker.stdout.read() if worker.stdout else ""
            time.sleep(0.05)
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        worker.kill()
        worker.wait(timeout=30)
    job.refresh_from_db()
    assert job.state == ImportState.RUNNING, "the worker finished before it was killed"
    assert 0 < job.rows_done < expected.rows
    assert job.rows_done % 300 == 0  # only whole batches are in
    assert Contact.objects.filter(business=shop).count() == job.created

    assert requeue_stale(timedelta(0)) == 1
    run_ready_tasks()
    job.refresh_from_db()
    assert job.state == ImportState.DONE, job.error
    assert job.rows_done == expected.rows
    assert (job.created, job.merged, job.rejected) == (
        expected.people, expected.repeats, expected.bad
    )
    assert Contact.objects.filter(business=shop).count() == expected.people
    phones = Address.objects.filter(business=shop, kind="phone")
    assert phones.count() == phones.values("value").distinct().count()
    lines = list(job.rejections.filter(went_in=False).values_list("line", flat=True))
    assert len(lines) == len(set(lines)) == expected.bad


def test_rows_parsed_in_a_pool_of_processes_give_the_same_import(
    shop, other_shop, tmp_path, settings, monkeypatch, clock
):
    from kasatka.imports import runner

    path = tmp_path / "clients.csv"
    expected = generate(path, 3000, seed=11)
    inline = queued(other_shop, path)
    run_ready_tasks()
    settings.KASATKA_IMPORTS = {**settings.KASATKA_IMPORTS, "PROCESSES": 2, "BATCH_ROWS": 700}
    monkeypatch.setattr(runner, "POOL_FROM_ROWS", 0)
    pooled = queued(shop, path)
    run_ready_tasks()
    assert counts(pooled) == counts(inline)
    assert snapshot(shop) == snapshot(other_shop)
    assert pooled.created == expected.people
