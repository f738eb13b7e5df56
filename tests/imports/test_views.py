"""The import pages: who may import, another business's job, and the flow through them."""

from __future__ import annotations

from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kasatka.contacts.models import Contact
from kasatka.engine.background import run_ready_tasks
from kasatka.imports import actions
from kasatka.imports.models import ImportJob, ImportState

pytestmark = pytest.mark.django_db(transaction=True)

FILE = "Имя;Телефон;Согласие\nАнна;8 (916) 123-45-67;да\nИван;12-34;\n".encode("cp1251")


def upload(client, kind="contacts", data=FILE, name="clients.csv"):
    return client.post(reverse("imports:index"), {
        "kind": kind, "file": SimpleUploadedFile(name, data, content_type="text/csv"),
    })


@pytest.mark.parametrize("persona", ["alice", "marketer"])
def test_a_seller_or_a_marketer_cannot_import(client, persona, request, shop):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("imports:index")).status_code == 403
    assert upload(client).status_code == 403
    assert not ImportJob.objects.exists()


def test_anonymous_visitors_go_to_the_login_page(client):
    response = client.get(reverse("imports:index"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_another_business_job_is_not_found(client, owner, charlie, other_shop):
    job = actions.create_job(other_shop, "contacts", BytesIO(FILE), file_name="c.csv")
    client.force_login(owner)
    for name in ("imports:job", "imports:progress", "imports:rejected"):
        assert client.get(reverse(name, args=[job.pk])).status_code == 404
    for name in ("imports:job", "imports:resume", "imports:delete"):
        assert client.post(reverse(name, args=[job.pk])).status_code == 404
    assert ImportJob.objects.filter(pk=job.pk).exists()


@pytest.mark.parametrize("persona", ["owner", "head"])
def test_upload_map_start_progress_and_report(client, persona, request, shop, clock,
                                              django_capture_on_commit_callbacks):
    client.force_login(request.getfixturevalue(persona))
    response = upload(client)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "imports:job", args=[job.pk]
    )
    page = client.get(response["Location"]).content.decode()
    assert 'data-column="1"' in page and "8 (916) 123-45-67" in page  # the preview
    assert '<option value="phone" selected>' in page  # the guessed mapping

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("imports:job", args=[job.pk]), {
            "column-0": "name", "column-1": "phone", "column-2": "consent",
        })
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.state == ImportState.QUEUED
    polling = client.get(reverse("imports:progress", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in polling

    run_ready_tasks()
    report = client.get(reverse("imports:progress", args=[job.pk])).content.decode()
    assert 'data-state="done"' in report and "hx-trigger" not in report
    assert 'data-line="3" data-code="phone"' in report
    assert Contact.objects.filter(business=shop).count() == 1
    csv_text = b"".join(
        client.get(reverse("imports:rejected", args=[job.pk])).streaming_content
    ).decode("utf-8-sig")
    assert "\n3,phone," in csv_text and "Иван;12-34;" in csv_text


def test_a_mapping_without_a_way_to_know_the_contact_is_refused(client, owner, shop):
    client.force_login(owner)
    upload(client, kind="purchases")
    job = ImportJob.objects.get()
    response = client.post(reverse("imports:job", args=[job.pk]), {"column-0": "name"})
    assert response.status_code == 400
    assert b"data-error" in response.content
    job.refresh_from_db()
    assert job.state == ImportState.UPLOADED


def test_a_file_that_is_no_table_is_refused(client, owner):
    client.force_login(owner)
    assert upload(client, data=b"", name="empty.csv").status_code == 400
    assert upload(client, data=b"PK\x03\x04broken", name="x.xlsx").status_code == 400
    assert upload(client, data=b"a,b\n", name="photo.jpg").status_code == 400
    assert not ImportJob.objects.exists()


def test_a_failed_job_can_be_resumed_from_the_page(client, owner, shop, clock,
                                                   django_capture_on_commit_callbacks):
    job = actions.create_job(shop, "contacts", BytesIO(FILE), file_name="c.csv")
    actions.set_mapping(job, job.mapping)
    ImportJob.objects.filter(pk=job.pk).update(state=ImportState.FAILED, error="boom")
    client.force_login(owner)
    assert b"import-resume" in client.get(reverse("imports:job", args=[job.pk])).content
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:resume", args=[job.pk]))
    run_ready_tasks()
    job.refresh_from_db()
    assert (job.state, job.created) == (ImportState.DONE, 1)
