"""Changes the settings pages make to other apps' rows: loss reasons, pipelines and their
stages, provider accounts, lead sources and their costs.

Each function checks the rule it is about and raises ValidationError (keyed by form field
where there is one) so that the page shows it on the form; access (which business, which
role) is the views' job, done before a row ever reaches these.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Max, ProtectedError, RestrictedError
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from kasatka.channels.models import ProviderAccount
from kasatka.deals.actions import CLIENT_SAID_NO
from kasatka.deals.models import DealStage, Pipeline
from kasatka.sales.models import LeadSource, LeadSourceCost, LossReason

from .models import Business


def _next_position(queryset: models.QuerySet[Any]) -> int:
    top = queryset.aggregate(top=Max("position"))["top"]
    return (top or 0) + 1


def _name_taken(queryset: models.QuerySet[Any], name: str, pk: int | None = None) -> bool:
    """Whether another row of the list has this name, whatever its case. Compared here,
    not in SQL: SQLite folds the case of Latin letters only, and «дорого» is «Дорого»."""
    folded = name.casefold()
    return any(
        other.casefold() == folded
        for other_pk, other in queryset.values_list("pk", "name")
        if other_pk != pk
    )


def _swap(rows: list[Any], index: int, step: int) -> bool:
    """Swap a row with its neighbour in the list; False when there is none that way.

    The callers then number the whole list 1…n, which also mends duplicate positions (two
    reasons both at 0) so that a move always moves.
    """
    other = index + step
    if not 0 <= other < len(rows):
        return False
    rows[index], rows[other] = rows[other], rows[index]
    return True


# --- loss reasons ----------------------------------------------------------------------------


def add_loss_reason(business: Business, name: str, kind: str) -> LossReason:
    name = name.strip()
    if _name_taken(LossReason.objects.filter(business=business), name):
        raise ValidationError({"name": _("The list already has this reason.")})
    position = _next_position(LossReason.objects.filter(business=business, kind=kind))
    return LossReason.objects.create(business=business, name=name, kind=kind, position=position)


def change_loss_reason(reason: LossReason, name: str, kind: str, is_active: bool) -> LossReason:
    name = name.strip()
    if reason.name == CLIENT_SAID_NO and name != reason.name:
        # deals.actions.client_said_no finds it by this name: renamed, it would come back.
        raise ValidationError({"name": _(
            "Kasatka records this reason when a client says no to a nudge; it keeps its name."
        )})
    if _name_taken(LossReason.objects.filter(business_id=reason.business_id), name, reason.pk):
        raise ValidationError({"name": _("The list already has this reason.")})
    if kind != reason.kind:
        reason.position = _next_position(
            LossReason.objects.filter(business_id=reason.business_id, kind=kind)
        )
    reason.name, reason.kind, reason.is_active = name, kind, is_active
    reason.save(update_fields=["name", "kind", "is_active", "position"])
    return reason


def move_loss_reason(reason: LossReason, step: int) -> bool:
    """One place up (-1) or down (+1) among the reasons of its kind; False at an end."""
    with transaction.atomic():
        rows = list(
            LossReason.objects.select_for_update()
            .filter(business_id=reason.business_id, kind=reason.kind)
            .order_by("position", "name")
        )
        index = next((i for i, r in enumerate(rows) if r.pk == reason.pk), None)
        if index is None or not _swap(rows, index, step):
            return False
        for position, row in enumerate(rows, start=1):
            if row.position != position:
                LossReason.objects.filter(pk=row.pk).update(position=position)
    return True


def remove_loss_reason(reason: LossReason) -> None:
    """Delete a reason no visit or deal has used; one in use can only be deactivated."""
    try:
        with transaction.atomic():
            reason.delete()
    except (ProtectedError, RestrictedError) as exc:
        raise ValidationError(
            _("Visits or deals name this reason: deactivate it instead.")
        ) from exc


# --- pipelines and stages --------------------------------------------------------------------


def add_pipeline(business: Business, name: str) -> Pipeline:
    name = name.strip()
    if _name_taken(Pipeline.objects.filter(business=business), name):
        raise ValidationError({"name": _("A pipeline with this name exists already.")})
    position = _next_position(Pipeline.objects.filter(business=business))
    return Pipeline.objects.create(business=business, name=name, position=position)


def change_pipeline(pipeline: Pipeline, name: str, is_active: bool) -> Pipeline:
    name = name.strip()
    others = Pipeline.objects.filter(business_id=pipeline.business_id).exclude(pk=pipeline.pk)
    if _name_taken(others, name):
        raise ValidationError({"name": _("A pipeline with this name exists already.")})
    if pipeline.is_active and not is_active and not others.filter(is_active=True).exists():
        # New deals open in the first active pipeline: without one no deal could open.
        raise ValidationError({"is_active": _(
            "This is the only active pipeline: new deals open in it."
        )})
    pipeline.name, pipeline.is_active = name, is_active
    pipeline.save(update_fields=["name", "is_active"])
    return pipeline


STAGE_FIELDS = ("name", "waits_for_client", "wait_days", "next_step")


def add_stage(pipeline: Pipeline, values: Mapping[str, Any]) -> DealStage:
    with transaction.atomic():
        # The pipeline's row is the lock: two stages added at once get different places.
        Pipeline.objects.select_for_update().filter(pk=pipeline.pk).first()
        position = _next_position(pipeline.stages.all())
        return DealStage.objects.create(
            pipeline=pipeline, position=position, **{k: values[k] for k in STAGE_FIELDS}
        )


def change_stage(stage: DealStage, values: Mapping[str, Any]) -> DealStage:
    """New settings of a stage; deals already waiting in it keep the date they were given."""
    for name in STAGE_FIELDS:
        setattr(stage, name, values[name])
    stage.save(update_fields=list(STAGE_FIELDS))
    return stage


def move_stage(stage: DealStage, step: int) -> bool:
    """One place earlier (-1) or later (+1) in its pipeline; False at an end."""
    with transaction.atomic():
        Pipeline.objects.select_for_update().filter(pk=stage.pipeline_id).first()
        rows = list(DealStage.objects.filter(pipeline_id=stage.pipeline_id).order_by("position"))
        index = next((i for i, r in enumerate(rows) if r.pk == stage.pk), None)
        if index is None or not _swap(rows, index, step):
            return False
        # Positions are unique in a pipeline: park the moving rows past the end first.
        parking = max(r.position for r in rows) + 1
        moved = [(row, position) for position, row in enumerate(rows, start=1)
                 if row.position != position]
        for offset, (row, _position) in enumerate(moved):
            DealStage.objects.filter(pk=row.pk).update(position=parking + offset)
        for row, position in moved:
            DealStage.objects.filter(pk=row.pk).update(position=position)
    return True


def remove_stage(stage: DealStage) -> None:
    """Delete a stage no deal has ever been in; one with history stays."""
    try:
        with transaction.atomic():
            stage.delete()
    except (ProtectedError, RestrictedError) as exc:
        raise ValidationError(
            _("Deals have been in this stage: it cannot be removed.")
        ) from exc


# --- provider accounts -----------------------------------------------------------------------


def _one_active_per_channel(account: ProviderAccount) -> None:
    if not account.is_active:
        return
    clash = ProviderAccount.objects.filter(
        business_id=account.business_id, channel=account.channel, is_active=True
    ).exclude(pk=account.pk).first()
    if clash is not None:
        raise ValidationError({"is_active": _(
            "%(other)s is already active for this channel: deactivate it first."
        ) % {"other": clash}})


def _merged_secrets(
    account: ProviderAccount, changes: Mapping[str, str | None]
) -> dict[str, str]:
    """The stored secrets with the changes: a value replaces, None removes, absent keeps.

    Secrets that cannot be decrypted any more (the key changed) are lost already: the
    owner's new values start afresh rather than being refused.
    """
    try:
        values = account.secrets
    except ValueError:
        values = {}
    for name, value in changes.items():
        if value is None:
            values.pop(name, None)
        elif value:
            values[name] = value
    return values


def save_provider_account(
    account: ProviderAccount,
    values: Mapping[str, Any],
    secret_changes: Mapping[str, str | None] | None = None,
) -> ProviderAccount:
    """Create or update an account. `secret_changes` is None for a user who may not touch
    the secrets: the stored ones stay exactly as they are."""
    for name in ("name", "options", "rate_per_second", "is_active"):
        if name in values:
            setattr(account, name, values[name])
    _one_active_per_channel(account)
    if secret_changes:
        account.set_secrets(_merged_secrets(account, secret_changes))
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:  # another active account was saved meanwhile
        raise ValidationError({"is_active": _(
            "Another account is already active for this channel: deactivate it first."
        )}) from exc
    return account


def deactivate_provider_account(account: ProviderAccount) -> None:
    ProviderAccount.objects.filter(pk=account.pk).update(is_active=False)
    account.is_active = False


# --- lead sources and their costs ------------------------------------------------------------


SOURCE_FIELDS = ("name", "channel", "utm_source", "utm_medium", "utm_campaign")


def save_lead_source(source: LeadSource, values: Mapping[str, Any]) -> LeadSource:
    name = str(values["name"]).strip()
    if _name_taken(LeadSource.objects.filter(business_id=source.business_id), name, source.pk):
        raise ValidationError({"name": _("A source with this name exists already.")})
    for field in SOURCE_FIELDS:
        setattr(source, field, str(values.get(field) or "").strip())
    source.name = name
    source.save()
    return source


def add_source_cost(
    source: LeadSource, period_start: date, period_end: date, amount: Decimal
) -> LeadSourceCost:
    """A period's spend on the source. Periods of one source never overlap: a day's cost
    counted twice would double the cost per lead."""
    if period_end < period_start:
        raise ValidationError({"period_end": _("The period ends before it starts.")})
    if amount < 0:
        raise ValidationError({"amount": _("The cost cannot be negative.")})
    with transaction.atomic():
        LeadSource.objects.select_for_update().filter(pk=source.pk).first()
        overlap = LeadSourceCost.objects.filter(
            source=source, period_start__lte=period_end, period_end__gte=period_start
        ).first()
        if overlap is not None:
            raise ValidationError({"period_start": _(
                "The period overlaps the one from %(start)s to %(end)s."
            ) % {
                "start": date_format(overlap.period_start, "SHORT_DATE_FORMAT"),
                "end": date_format(overlap.period_end, "SHORT_DATE_FORMAT"),
            }})
        return LeadSourceCost.objects.create(
            business_id=source.business_id, source=source, period_start=period_start,
            period_end=period_end, amount=amount,
        )


def remove_source_cost(cost: LeadSourceCost) -> None:
    cost.delete()
