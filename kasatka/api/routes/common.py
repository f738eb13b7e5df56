"""What every router shares: the business's objects by id, cursor pages, people by id."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core import signing
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business, User
from kasatka.sales.models import LeadSource

from ..schemas import MAX_ID

M = TypeVar("M", bound=Model)

_CURSOR_SALT = "kasatka.api.cursor"


def get_for(business: Business, queryset: QuerySet[M], pk: int) -> M:
    """The business's object with this id, or 404 (another business's id is no different
    from an id that does not exist)."""
    if not 1 <= pk <= MAX_ID:
        raise Http404
    found = queryset.filter(business=business, pk=pk).first()
    if found is None:
        raise Http404
    return found


def page(queryset: QuerySet[M], cursor: str | None, limit: int) -> tuple[list[M], str | None]:
    """One page of `queryset` in id order after the cursor, and the next page's cursor.

    The cursor is the last id seen, signed: opaque to the caller, refused when altered.
    Walking by id sees every row that existed when the walk began exactly once, however
    many are added meanwhile (new rows have higher ids and come on later pages).
    """
    after = 0
    if cursor:
        try:
            after = int(signing.loads(cursor, salt=_CURSOR_SALT)["after"])
        except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
            raise ValidationError(
                {"cursor": [_("This is not a cursor this API gave out.")]}
            ) from exc
    rows = list(queryset.filter(pk__gt=after).order_by("pk")[: limit + 1])
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, signing.dumps({"after": rows[-1].pk}, salt=_CURSOR_SALT, compress=True)


def user_in(business: Business, pk: int | None, field: str) -> User | None:
    """A user of the business (a seller), or a 422 on `field`."""
    if pk is None:
        return None
    user = User.objects.filter(business=business, pk=pk).first()
    if user is None:
        raise ValidationError({field: [_("No such user in this business.")]})
    return user


def source_in(business: Business, pk: int | None, field: str) -> LeadSource | None:
    if pk is None:
        return None
    source = LeadSource.objects.filter(business=business, pk=pk).first()
    if source is None:
        raise ValidationError({field: [_("No such lead source in this business.")]})
    return source


def unset(values: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in names}
