"""ids_in: integer ids written into SQL, and nothing else."""

from __future__ import annotations

import pytest

from kasatka.accounts.models import Business
from kasatka.dbutil import ids_in

pytestmark = pytest.mark.django_db


def test_it_selects_the_listed_rows_only(shop, other_shop):
    third = Business.objects.create(name="Третий", slug="third")
    found = ids_in(Business.objects.all(), "id", [shop.pk, third.pk])
    assert set(found) == {shop, third}


def test_an_empty_list_selects_nothing(shop):
    assert not ids_in(Business.objects.all(), "id", []).exists()


def test_anything_but_an_integer_is_refused_before_it_reaches_sql(shop):
    with pytest.raises(ValueError):
        ids_in(Business.objects.all(), "id", ["1) OR (1=1"])
