"""The exports page: who may open it, the progress shown while the file is made, and
downloads refused across businesses."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from kasatka.accounts.models import Role, User
from kasatka.engine.background import run_ready_tasks
from kasatka.exports.models import ExportJob
from tests import builders

from .world import done_export

pytestmark = pytest.mark.django_db(transaction=True)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_the_export_queued_then_ready_to_download(shop, owner, alice, clock):
    builders.contact(shop, email="anna@example.com", owner=alice)
    client = signed_in(owner)
    answer = client.post(reverse("exports:index"), {
        "kind": "contacts", "format": "csv", "separator": ";",
    })
    assert answer.status_code == 302
    job = ExportJob.objects.get()
    page = client.get(reverse("exports:index")).content.decode()
    assert f'data-export="{job.pk}" data-state="queued"' in page
    assert f'hx-get="{reverse("exports:job", args=[job.pk])}"' in page  # polled until done
    assert reverse("exports:download", args=[job.pk]) not in page
    row = client.get(reverse("exports:job", args=[job.pk])).content.decode()
    assert 'data-state="queued"' in row and "<progress" in row
    run_ready_tasks()
    row = client.get(reverse("exports:job", args=[job.pk])).content.decode()
    assert 'data-state="done"' in row and "hx-trigger" not in row and 'data-rows="1"' in row
    download = client.get(reverse("exports:download", args=[job.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    body = b"".join(download.streaming_content).decode("utf-8-sig")
    assert "anna@example.com" in body


def test_a_wrong_request_comes_back_with_its_errors(shop, owner):
    answer = signed_in(owner).post(reverse("exports:index"), {
        "kind": "contacts", "format": "csv", "separator": ";",
        "date_from": "2026-03-10", "date_to": "2026-03-01",
    })
    assert answer.status_code == 400
    assert 'data-field="date_to"' in answer.content.decode()
    assert not ExportJob.objects.exists()


def test_a_seller_may_not_export(shop, owner, alice):
    job = done_export(shop)
    client = signed_in(alice)
    assert client.get(reverse("exports:index")).status_code == 403
    assert client.post(reverse("exports:index"), {"kind": "contacts", "format": "csv",
                                                  "separator": ";"}).status_code == 403
    assert client.get(reverse("exports:job", args=[job.pk])).status_code == 403
    assert client.get(reverse("exports:download", args=[job.pk])).status_code == 403
    assert ExportJob.objects.count() == 1


@pytest.mark.parametrize("role", ["head", "marketer"])
def test_the_business_exports_are_shared_by_those_who_may_export(request, shop, owner, role):
    job = done_export(shop)
    client = signed_in(request.getfixturevalue(role))
    assert f'data-export="{job.pk}"' in client.get(reverse("exports:index")).content.decode()
    assert client.get(reverse("exports:download", args=[job.pk])).status_code == 200


def test_another_business_export_is_not_found(shop, owner, other_shop):
    theirs = done_export(other_shop)
    assert theirs.state == "done"
    client = signed_in(owner)
    assert client.get(reverse("exports:job", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("exports:download", args=[theirs.pk])).status_code == 404
    assert f'data-export="{theirs.pk}"' not in client.get(reverse("exports:index")).content.decode()
    # and their seller picked for a filter is refused too
    charlie_boss = User.objects.get(business=other_shop, role=Role.OWNER)
    answer = client.post(reverse("exports:index"), {
        "kind": "contacts", "format": "csv", "separator": ";", "seller": charlie_boss.pk,
    })
    assert answer.status_code == 400
