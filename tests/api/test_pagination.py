"""Cursor pages: a walk over every contact sees each exactly once, whatever is added
meanwhile; filters and a forged cursor."""

from __future__ import annotations

import json

import pytest

from kasatka.contacts.models import Contact
from tests import builders

pytestmark = pytest.mark.django_db


def make(shop, n, start=0):
    return [builders.contact(shop, email=f"c{start + i}@example.com", first_name=f"К{start + i}")
            for i in range(n)]


def test_walking_every_page_sees_each_contact_once_while_new_ones_arrive(api, shop):
    existing = {c.pk for c in make(shop, 23)}
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        answer = api.get("/api/v1/contacts", query)
        assert answer.status_code == 200, answer.content
        page = answer.json()
        seen.extend(item["id"] for item in page["items"])
        pages += 1
        # Someone adds two contacts between every two pages (through the API, too).
        make(shop, 1, start=100 + pages)
        api.post("/api/v1/contacts", json.dumps({"first_name": "Новый", "emails": [
            f"new{pages}@example.com"]}), content_type="application/json")
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 100, "the walk does not end"
    assert len(seen) == len(set(seen)), "a contact was listed twice"
    assert existing <= set(seen), "a contact that was there all along was missed"
    assert seen == sorted(seen)
    # Contacts added during the walk come on later pages: none falls between two pages.
    missed = set(Contact.objects.filter(pk__lt=max(seen)).values_list("pk", flat=True))
    assert missed - set(seen) == set()


def test_filters_narrow_the_walk(api, shop, other_shop, alice):
    anna = builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)
    builders.contact(shop, email="boris@example.com")
    builders.contact(other_shop, email="anna@example.com", phone="+79161234567")

    def ids(**query):
        answer = api.get("/api/v1/contacts", query)
        assert answer.status_code == 200, answer.content
        return [c["id"] for c in answer.json()["items"]]

    assert ids(phone="8 916 123 45 67") == [anna.pk]
    assert ids(email="ANNA@EXAMPLE.COM") == [anna.pk]
    assert ids(owner=alice.pk) == [anna.pk]
    assert ids(stage="new") == []
    assert len(ids(stage="lead")) == 2


def test_a_cursor_not_given_out_by_the_api_is_refused(api, shop):
    make(shop, 3)
    cursor = api.get("/api/v1/contacts", {"limit": 1}).json()["next_cursor"]
    assert cursor
    forged = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    answer = api.get("/api/v1/contacts", {"cursor": forged})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "cursor"
