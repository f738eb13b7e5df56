"""Access checks used by every view: they raise rather than filter ad hoc.

What each role may do is one table, `CAPABILITIES`; views ask `require(user, "…")` (403
when refused) or decorate with `@needs("…")`, and templates read `user_can` from the
context processor, so a link is shown exactly where its page would open.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Final

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from .models import Business, Role, User

# Roles that see every seller's clients and tasks.
TEAM_ROLES = (Role.OWNER, Role.HEAD_OF_SALES)

OWNER, HEAD, SELLER, MARKETER = Role.OWNER, Role.HEAD_OF_SALES, Role.SELLER, Role.MARKETER

# Capability → the roles that have it. A seller works their own clients and deals; a
# marketer builds chains and reads the figures but edits no deal; the head of sales runs
# the team and the settings except the providers' secrets; the owner does everything.
CAPABILITIES: Final[dict[str, frozenset[str]]] = {
    "sell": frozenset({OWNER, HEAD, SELLER}),  # visits, calls, nudges, the plan
    "edit_deals": frozenset({OWNER, HEAD, SELLER}),
    "team": frozenset({OWNER, HEAD}),  # every seller's plan, clients and deals
    "read_all_contacts": frozenset({OWNER, HEAD, MARKETER}),
    "chains": frozenset({OWNER, HEAD, MARKETER}),
    "sources": frozenset({OWNER, HEAD, MARKETER}),
    "insights": frozenset({OWNER, HEAD, MARKETER}),
    "export": frozenset({OWNER, HEAD, MARKETER}),
    "settings": frozenset({OWNER, HEAD}),
    "users": frozenset({OWNER, HEAD}),
    "secrets": frozenset({OWNER}),  # the providers' keys and passwords
    "import": frozenset({OWNER, HEAD}),  # contacts, purchases and deals from files
    # API keys and outbound webhooks: they hand the business's data to other systems.
    "integrations": frozenset({OWNER}),
}


def can(user: Any, capability: str) -> bool:
    """Whether the user's role has the capability (a superuser without business: no)."""
    if getattr(user, "business", None) is None:
        return False
    return user.role in CAPABILITIES[capability]


def require(user: Any, capability: str) -> Business:
    """The user's business when the role has the capability; 403 otherwise."""
    business = business_of(user)
    if user.role not in CAPABILITIES[capability]:
        raise PermissionDenied(f"The role {user.role} may not {capability}.")
    return business


def needs(capability: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """View decorator: signed in (else the login page), with the capability (else 403)."""
    from django.contrib.auth.decorators import login_required

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def checked(request: Any, *args: Any, **kwargs: Any) -> Any:
            require(request.user, capability)
            return view(request, *args, **kwargs)

        return login_required(checked)

    return decorate


def capabilities(request: Any) -> dict[str, Any]:
    """Context processor: `user_can.chains` etc. for the templates' links."""
    user = getattr(request, "user", None)
    return {"user_can": {name: can(user, name) for name in CAPABILITIES}}


def business_of(user: Any) -> Business:
    if not getattr(user, "is_authenticated", False) or getattr(user, "business", None) is None:
        raise PermissionDenied("This account belongs to no business.")
    business: Business = user.business
    return business


def user_of(request: Any) -> User:
    """The signed-in user of a request (views behind `@needs` or `login_required`)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Not signed in.")
    return user


def sees_whole_team(user: User) -> bool:
    return user.role in TEAM_ROLES


def scope_to_user(
    user: User, queryset: QuerySet[Any], owner_field: str, *, reading: bool = False
) -> QuerySet[Any]:
    """Rows of the user's business; a seller only their own (or unassigned) ones.

    `reading=True` is for read-only lists a marketer may also browse in full (contacts,
    for the chain editor's preview and the segments); acting on a row never passes it.
    """
    business = business_of(user)
    queryset = queryset.filter(business=business)
    if reading and can(user, "read_all_contacts"):
        return queryset
    if not sees_whole_team(user):
        queryset = queryset.filter(Q(**{owner_field: user}) | Q(**{f"{owner_field}__isnull": True}))
    return queryset


def get_scoped(
    user: User, queryset: QuerySet[Any], owner_field: str, pk: int, *, reading: bool = False
) -> Any:
    """One row the user may see, or 404 (never 403: do not confirm it exists)."""
    obj = scope_to_user(user, queryset, owner_field, reading=reading).filter(pk=pk).first()
    if obj is None:
        raise Http404
    return obj
