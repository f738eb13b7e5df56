"""Access checks used by every view: they raise rather than filter ad hoc."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Business, Role, User

# Roles that see every seller's clients and tasks.
TEAM_ROLES = (Role.OWNER, Role.HEAD_OF_SALES)


def business_of(user: Any) -> Business:
    if not getattr(user, "is_authenticated", False) or getattr(user, "business", None) is None:
        raise PermissionDenied("This account belongs to no business.")
    business: Business = user.business
    return business


def sees_whole_team(user: User) -> bool:
    return user.role in TEAM_ROLES


def scope_to_user(user: User, queryset: QuerySet[Any], owner_field: str) -> QuerySet[Any]:
    """Rows of the user's business; a seller only their own (or unassigned) ones."""
    business = business_of(user)
    queryset = queryset.filter(business=business)
    if not sees_whole_team(user):
        queryset = queryset.filter(Q(**{owner_field: user}) | Q(**{f"{owner_field}__isnull": True}))
    return queryset


def get_scoped(user: User, queryset: QuerySet[Any], owner_field: str, pk: int) -> Any:
    """One row the user may see, or 404 (never 403: do not confirm it exists)."""
    obj = scope_to_user(user, queryset, owner_field).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj
