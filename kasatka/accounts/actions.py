"""Changes to a business's own settings and to its users: the one place their rules live.

Who may manage whom: the owner manages everyone of the business; the head of sales
manages sellers and marketers only (never creates, promotes or edits an owner or a head).
Nobody locks the business out: the last active owner stays an active owner, and nobody
deactivates their own account.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.translation import gettext as _

from .models import (
    Business,
    BusinessDay,
    MethodSettings,
    Role,
    SendingRules,
    User,
    method_settings,
    sending_rules,
)

# The settings pages edit these; slug, language and created_at are not the owner's to set.
BUSINESS_FIELDS = (
    "name", "time_zone", "country", "holidays_country", "working_weekdays", "phone",
    "email", "website", "postal_address", "email_from_name", "email_from_address",
    "paper_from_age",
)
SENDING_RULES_FIELDS = (
    "windows", "calls_on_working_days_only", "commercial_on_holidays", "spread_minutes",
    "cap_per_day", "cap_per_week", "cap_per_channel_per_day", "cap_per_channel_per_week",
    "max_postpone_days", "double_opt_in",
)
METHOD_FIELDS = tuple(
    f.name for f in MethodSettings._meta.concrete_fields if f.name not in ("id", "business")
)


def _apply(row: models.Model, values: Mapping[str, Any], fields: tuple[str, ...]) -> None:
    """Set the fields given, check the row as the model does, save only them."""
    changed = [name for name in fields if name in values]
    for name in changed:
        setattr(row, name, values[name])
    row.full_clean(exclude=[f.name for f in row._meta.fields if f.name not in changed])
    row.save(update_fields=changed)


def update_business(business: Business, values: Mapping[str, Any]) -> Business:
    _apply(business, values, BUSINESS_FIELDS)
    return business


def update_sending_rules(business: Business, values: Mapping[str, Any]) -> SendingRules:
    rules = sending_rules(business)
    _apply(rules, values, SENDING_RULES_FIELDS)
    return rules


def update_method_settings(business: Business, values: Mapping[str, Any]) -> MethodSettings:
    figures = method_settings(business)
    manager = values.get("account_manager")
    if manager is not None and manager.business_id != business.pk:
        raise ValidationError({"account_manager": _("Choose a user of this business.")})
    _apply(figures, values, METHOD_FIELDS)
    return figures


def add_business_day(business: Business, day: date, is_working: bool, name: str) -> BusinessDay:
    if BusinessDay.objects.filter(business=business, date=day).exists():
        raise ValidationError({"date": _("This date is in the calendar already.")})
    try:
        with transaction.atomic():
            return BusinessDay.objects.create(
                business=business, date=day, is_working=is_working, name=name.strip()
            )
    except IntegrityError as exc:  # the same date added twice at once
        raise ValidationError({"date": _("This date is in the calendar already.")}) from exc


def remove_business_day(day: BusinessDay) -> None:
    day.delete()


# --- users ----------------------------------------------------------------------------------


def manageable_roles(actor: User) -> list[str]:
    """The roles the actor may give, and the roles of the users the actor may edit."""
    if actor.role == Role.OWNER:
        return list(Role.values)
    if actor.role == Role.HEAD_OF_SALES:
        return [Role.SELLER, Role.MARKETER]
    return []


def may_manage(actor: User, target: User) -> bool:
    return (
        actor.business_id is not None
        and target.business_id == actor.business_id
        and target.role in manageable_roles(actor)
    )


def _check_role(actor: User, role: str) -> None:
    if role not in manageable_roles(actor):
        raise PermissionDenied(f"The role {actor.role} may not give the role {role}.")


PROFILE_FIELDS = ("first_name", "last_name", "patronymic", "email", "phone")


def create_user(
    actor: User, *, username: str, password: str, role: str, **profile: str
) -> User:
    """A new user of the actor's business (the password already checked by the form)."""
    _check_role(actor, role)
    if actor.business_id is None:
        raise PermissionDenied("This account belongs to no business.")
    user = User(
        username=username, role=role, business_id=actor.business_id,
        **{k: v for k, v in profile.items() if k in PROFILE_FIELDS},
    )
    user.set_password(password)
    user.save()
    return user


def change_user(
    actor: User, target: User, *, role: str, is_active: bool, **profile: str
) -> User:
    """A new role, profile or active state; refuses what would lock the business out."""
    if not may_manage(actor, target):
        raise PermissionDenied("This user is beyond the actor's reach.")
    _check_role(actor, role)
    if target.pk == actor.pk and not is_active:
        raise ValidationError({"is_active": _("You cannot deactivate your own account.")})
    with transaction.atomic():
        if target.role == Role.OWNER and (role != Role.OWNER or not is_active):
            # Locked so that two owners demoting each other at once cannot both succeed.
            owners = list(
                User.objects.select_for_update()
                .filter(business=target.business, role=Role.OWNER, is_active=True)
                .values_list("pk", flat=True)
            )
            if set(owners) <= {target.pk}:
                raise ValidationError(_(
                    "This is the business's last active owner: make someone else an owner "
                    "first."
                ))
        target.role, target.is_active = role, is_active
        for name in PROFILE_FIELDS:
            if name in profile:
                setattr(target, name, profile[name])
        target.save(update_fields=["role", "is_active", *PROFILE_FIELDS])
    return target


def set_user_password(actor: User, target: User, password: str) -> None:
    """A new password set by a manager (the user forgot theirs); checked by the form."""
    if not may_manage(actor, target):
        raise PermissionDenied("This user is beyond the actor's reach.")
    target.set_password(password)
    target.save(update_fields=["password"])
