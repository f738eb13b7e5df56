"""Settings → API keys: the owner makes a key (its plain text shown once), sees the list
and revokes; nobody else opens the pages."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from kasatka.api.keys import issue_key
from kasatka.api.models import ApiKey, Scope

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_key(client: Client, name: str = "Сайт", scope: str = Scope.WRITE) -> tuple[str, str]:
    """Make a key through the page; returns the answer page and the plain key on it."""
    answer = client.post(reverse("apikeys:list"), {"name": name, "scope": scope})
    assert answer.status_code == 200, answer.content
    page = answer.content.decode()
    keys = re.findall(r"ksk_[0-9a-f]+_[A-Za-z0-9_-]{20,}", page)
    assert len(set(keys)) == 1
    return page, keys[0]


def test_the_plain_key_is_shown_once_and_works(shop, owner):
    client = signed_in(owner)
    page, plain = make_key(client)
    assert 'data-plain-key' in page
    answer = client.get("/api/v1/keys/me", headers={"Authorization": f"Bearer {plain}"})
    assert answer.status_code == 200
    assert answer.json()["business"] == shop.name and answer.json()["scope"] == "write"
    # Never again: not on the list, nowhere in the database.
    listing = client.get(reverse("apikeys:list")).content.decode()
    assert plain not in listing
    key = ApiKey.objects.get()
    assert f"ksk_{key.prefix}_" in listing
    secret = plain.split("_", 2)[2]  # ksk_<prefix>_<secret>; the secret may hold "_"
    for row in ApiKey.objects.values():
        assert not any(secret in str(v) or plain in str(v) for v in row.values())
    assert key.created_by == owner and key.name == "Сайт"


def test_the_answer_with_the_key_is_not_cached(shop, owner):
    answer = signed_in(owner).post(reverse("apikeys:list"), {"name": "1C", "scope": "read"})
    assert "no-store" in answer["Cache-Control"]


def test_the_list_tells_scope_author_and_last_use(shop, owner):
    client = signed_in(owner)
    _page, plain = make_key(client, "Касса", Scope.READ)
    client.get("/api/v1/keys/me", headers={"X-API-Key": plain})
    key = ApiKey.objects.get()
    listing = client.get(reverse("apikeys:list")).content.decode()
    row = re.search(rf'<tr data-key="{key.pk}" data-state="active">.*?</tr>', listing, re.S)
    assert row is not None
    assert "Касса" in row[0] and owner.full_name in row[0]
    assert key.last_used_at is not None and "<form" in row[0]  # the revoke button


def test_a_revoked_key_is_refused_by_the_api(shop, owner):
    client = signed_in(owner)
    _page, plain = make_key(client)
    key = ApiKey.objects.get()
    answer = client.post(reverse("apikeys:revoke", args=[key.pk]))
    assert answer.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert Client().get("/api/v1/keys/me", headers={"X-API-Key": plain}).status_code == 401
    listing = client.get(reverse("apikeys:list")).content.decode()
    assert f'data-key="{key.pk}" data-state="revoked"' in listing
    assert client.get(reverse("apikeys:revoke", args=[key.pk])).status_code == 405  # POST only


def test_the_revoke_button_asks_first(shop, owner):
    issue_key(shop, "Сайт", Scope.LEADS, owner)
    listing = signed_in(owner).get(reverse("apikeys:list")).content.decode()
    assert re.search(r'<button type="submit" class="danger" data-confirm="[^"]+">', listing)


@pytest.mark.parametrize("role", ["head", "alice", "marketer"])
def test_only_the_owner_opens_the_pages(request, shop, owner, role):
    key = issue_key(shop, "Сайт", Scope.WRITE, owner).key
    client = signed_in(request.getfixturevalue(role))
    assert client.get(reverse("apikeys:list")).status_code == 403
    assert client.post(reverse("apikeys:list"), {"name": "x", "scope": "write"}).status_code == 403
    assert client.post(reverse("apikeys:revoke", args=[key.pk])).status_code == 403
    assert ApiKey.objects.count() == 1 and ApiKey.objects.get().revoked_at is None


def test_another_business_key_is_not_found(shop, owner, other_shop):
    theirs = issue_key(other_shop, "Их сайт", Scope.WRITE).key
    client = signed_in(owner)
    assert client.post(reverse("apikeys:revoke", args=[theirs.pk])).status_code == 404
    assert ApiKey.objects.get(pk=theirs.pk).revoked_at is None
    assert "Их сайт" not in client.get(reverse("apikeys:list")).content.decode()


def test_a_key_without_a_name_is_refused(shop, owner):
    answer = signed_in(owner).post(reverse("apikeys:list"), {"name": "", "scope": "write"})
    assert answer.status_code == 400
    assert not ApiKey.objects.exists()
