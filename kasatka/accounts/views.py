"""The settings pages: how an owner sets Kasatka up without the admin.

Sections: the business and its sending rules and calendar, channels and providers, loss
reasons, pipelines and stages, the method's figures, users and roles (capability
`settings`, users `users`, providers' secrets `secrets`), and lead sources with their
costs (`sources`, which the marketer has too). Every row is looked up within the user's
business, so another business's id is a 404. Forms that do not check out come back with
their errors and status 400; writes go through the actions modules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kasatka.channels.models import ProviderAccount
from kasatka.channels.registry import CHANNELS, PROVIDERS
from kasatka.channels.views import hook_url
from kasatka.contacts.models import Channel
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import DealStage, Pipeline
from kasatka.engine.clock import now as clock_now
from kasatka.sales.models import LeadSource, LeadSourceCost, LossKind, LossReason

from . import actions, settings_actions
from .access import business_of, can, needs, user_of
from .forms import (
    BusinessDayForm,
    BusinessForm,
    LeadSourceCostForm,
    LeadSourceForm,
    LossReasonEditForm,
    LossReasonForm,
    MethodSettingsForm,
    PipelineEditForm,
    PipelineForm,
    ProviderAccountForm,
    ProviderChoiceForm,
    SendingRulesForm,
    StageForm,
    UserCreateForm,
    UserEditForm,
    UserPasswordForm,
)
from .models import Business, BusinessDay, User, method_settings, sending_rules


def _page(
    request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    return render(request, f"settings/{template}", context, status=status)


def _invalid(request: HttpRequest, template: str, context: dict[str, Any]) -> HttpResponse:
    """The page again with the form's errors: nothing was saved."""
    return _page(request, template, context, status=400)


def _apply(form: BaseForm, write: Callable[[], Any]) -> bool:
    """Run an action for a valid form; its refusals become the form's errors."""
    if not form.is_valid():
        return False
    try:
        write()
    except ValidationError as exc:
        form.add_error(None, exc)
        return False
    return True


def _row(queryset: QuerySet[Any], pk: int) -> Any:
    """One row of the queryset (already limited to the user's business), else 404."""
    row = queryset.filter(pk=pk).first()
    if row is None:
        raise Http404
    return row


def _step(request: HttpRequest) -> int:
    return -1 if request.POST.get("direction") == "up" else 1


def _saved(request: HttpRequest) -> None:
    messages.success(request, _("Saved."))


# --- the index -------------------------------------------------------------------------------


@needs("sources")
def index(request: HttpRequest) -> HttpResponse:
    """Links to the sections the user's role opens; a marketer sees lead sources only."""
    return _page(request, "index.html", {"business": business_of(request.user)})


# --- the business ----------------------------------------------------------------------------


@needs("settings")
def business(request: HttpRequest) -> HttpResponse:
    own = business_of(request.user)
    # A copy: the form fills in what was typed, and the page's frame reads the real one.
    row = Business.objects.get(pk=own.pk)
    form = BusinessForm(request.POST or None, instance=row)
    if request.method == "POST":
        if _apply(form, lambda: actions.update_business(row, form.cleaned_data)):
            _saved(request)
            return redirect("settings:business")
        return _invalid(request, "business.html", {"form": form})
    return _page(request, "business.html", {"form": form})


@needs("settings")
def sending(request: HttpRequest) -> HttpResponse:
    own = business_of(request.user)
    form = SendingRulesForm(request.POST or None, instance=sending_rules(own))
    if request.method == "POST":
        if _apply(form, lambda: actions.update_sending_rules(own, form.values())):
            _saved(request)
            return redirect("settings:sending")
        return _invalid(request, "sending.html", {"form": form})
    return _page(request, "sending.html", {"form": form})


def _calendar_context(own: Business, form: BusinessDayForm) -> dict[str, Any]:
    since = date(clock_now().astimezone(own.zone).year - 1, 1, 1)
    return {
        "form": form,
        "days": BusinessDay.objects.filter(business=own, date__gte=since).order_by("date"),
    }


@needs("settings")
def calendar(request: HttpRequest) -> HttpResponse:
    """The business's own days off and moved working days (public holidays come by country)."""
    own = business_of(request.user)
    form = BusinessDayForm(request.POST or None)
    if request.method == "POST":
        if _apply(form, lambda: actions.add_business_day(
            own, form.cleaned_data["date"], form.cleaned_data["is_working"],
            form.cleaned_data["name"],
        )):
            _saved(request)
            return redirect("settings:calendar")
        return _invalid(request, "calendar.html", _calendar_context(own, form))
    return _page(request, "calendar.html", _calendar_context(own, form))


@needs("settings")
@require_POST
def calendar_remove(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    actions.remove_business_day(_row(BusinessDay.objects.filter(business=own), pk))
    messages.success(request, _("Removed."))
    return redirect("settings:calendar")


@needs("settings")
def method(request: HttpRequest) -> HttpResponse:
    own = business_of(request.user)
    form = MethodSettingsForm(request.POST or None, instance=method_settings(own), business=own)
    if request.method == "POST":
        if _apply(form, lambda: actions.update_method_settings(own, form.cleaned_data)):
            _saved(request)
            return redirect("settings:method")
        return _invalid(request, "method.html", {"form": form})
    return _page(request, "method.html", {"form": form})


# --- loss reasons ----------------------------------------------------------------------------


def _reasons_context(own: Business, form: LossReasonForm) -> dict[str, Any]:
    reasons = list(LossReason.objects.filter(business=own).order_by("kind", "position", "name"))
    groups = [
        (label, [r for r in reasons if r.kind == kind]) for kind, label in LossKind.choices
    ]
    return {"form": form, "groups": groups}


@needs("settings")
def loss_reasons(request: HttpRequest) -> HttpResponse:
    own = business_of(request.user)
    form = LossReasonForm(request.POST or None)
    if request.method == "POST":
        if _apply(form, lambda: settings_actions.add_loss_reason(
            own, form.cleaned_data["name"], form.cleaned_data["kind"]
        )):
            _saved(request)
            return redirect("settings:loss_reasons")
        return _invalid(request, "loss_reasons.html", _reasons_context(own, form))
    return _page(request, "loss_reasons.html", _reasons_context(own, form))


@needs("settings")
def loss_reason(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    reason: LossReason = _row(LossReason.objects.filter(business=own), pk)
    form = LossReasonEditForm(request.POST or None, instance=LossReason.objects.get(pk=reason.pk))
    if request.method == "POST":
        if _apply(form, lambda: settings_actions.change_loss_reason(
            reason, form.cleaned_data["name"], form.cleaned_data["kind"],
            form.cleaned_data["is_active"],
        )):
            _saved(request)
            return redirect("settings:loss_reasons")
        return _invalid(request, "loss_reason.html", {"form": form, "reason": reason})
    return _page(request, "loss_reason.html", {"form": form, "reason": reason})


@needs("settings")
@require_POST
def loss_reason_move(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    settings_actions.move_loss_reason(
        _row(LossReason.objects.filter(business=own), pk), _step(request)
    )
    return redirect("settings:loss_reasons")


@needs("settings")
@require_POST
def loss_reason_remove(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    try:
        settings_actions.remove_loss_reason(_row(LossReason.objects.filter(business=own), pk))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Removed."))
    return redirect("settings:loss_reasons")


# --- pipelines and stages --------------------------------------------------------------------


def _pipelines_context(own: Business, form: PipelineForm) -> dict[str, Any]:
    pipelines = Pipeline.objects.filter(business=own).annotate(
        stage_count=Count("stages", distinct=True),
        open_deals=Count("deals", filter=Q(deals__status="open"), distinct=True),
    ).order_by("position", "name")
    return {"form": form, "pipelines": pipelines}


@needs("settings")
def pipelines(request: HttpRequest) -> HttpResponse:
    own = business_of(request.user)
    form = PipelineForm(request.POST or None)
    if request.method == "POST":
        if request.POST.get("default"):
            pipeline = ensure_default_pipeline(own)
            return redirect("settings:pipeline", pk=pipeline.pk)
        made: list[Pipeline] = []
        if _apply(form, lambda: made.append(
            settings_actions.add_pipeline(own, form.cleaned_data["name"])
        )):
            _saved(request)
            return redirect("settings:pipeline", pk=made[0].pk)
        return _invalid(request, "pipelines.html", _pipelines_context(own, form))
    return _page(request, "pipelines.html", _pipelines_context(own, form))


def _pipeline_context(
    pipeline: Pipeline, form: PipelineEditForm, stage_form: StageForm
) -> dict[str, Any]:
    stages = pipeline.stages.annotate(
        open_deals=Count("deals", filter=Q(deals__status="open"))
    ).order_by("position")
    return {"pipeline": pipeline, "form": form, "stage_form": stage_form, "stages": stages}


@needs("settings")
def pipeline(request: HttpRequest, pk: int) -> HttpResponse:
    """A pipeline's name and state, its stages in order, and a form for a new stage."""
    own = business_of(request.user)
    row: Pipeline = _row(Pipeline.objects.filter(business=own), pk)
    form = PipelineEditForm(request.POST or None, instance=Pipeline.objects.get(pk=row.pk))
    stage_form = StageForm()
    if request.method == "POST":
        if _apply(form, lambda: settings_actions.change_pipeline(
            row, form.cleaned_data["name"], form.cleaned_data["is_active"]
        )):
            _saved(request)
            return redirect("settings:pipeline", pk=row.pk)
        return _invalid(request, "pipeline.html", _pipeline_context(row, form, stage_form))
    return _page(request, "pipeline.html", _pipeline_context(row, form, stage_form))


@needs("settings")
@require_POST
def stage_add(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    row: Pipeline = _row(Pipeline.objects.filter(business=own), pk)
    stage_form = StageForm(request.POST)
    if _apply(stage_form, lambda: settings_actions.add_stage(row, stage_form.cleaned_data)):
        _saved(request)
        return redirect("settings:pipeline", pk=row.pk)
    return _invalid(request, "pipeline.html", _pipeline_context(
        row, PipelineEditForm(instance=row), stage_form
    ))


def _stages(own: Business) -> QuerySet[DealStage]:
    return DealStage.objects.filter(pipeline__business=own).select_related("pipeline")


@needs("settings")
def stage(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    row: DealStage = _row(_stages(own), pk)
    form = StageForm(request.POST or None, instance=DealStage.objects.get(pk=row.pk))
    if request.method == "POST":
        if _apply(form, lambda: settings_actions.change_stage(row, form.cleaned_data)):
            _saved(request)
            return redirect("settings:pipeline", pk=row.pipeline_id)
        return _invalid(request, "stage.html", {"form": form, "stage": row})
    return _page(request, "stage.html", {"form": form, "stage": row})


@needs("settings")
@require_POST
def stage_move(request: HttpRequest, pk: int) -> HttpResponse:
    row: DealStage = _row(_stages(business_of(request.user)), pk)
    settings_actions.move_stage(row, _step(request))
    return redirect("settings:pipeline", pk=row.pipeline_id)


@needs("settings")
@require_POST
def stage_remove(request: HttpRequest, pk: int) -> HttpResponse:
    row: DealStage = _row(_stages(business_of(request.user)), pk)
    try:
        settings_actions.remove_stage(row)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Removed."))
    return redirect("settings:pipeline", pk=row.pipeline_id)


# --- channels and providers ------------------------------------------------------------------

# Form fields only a user with the `secrets` capability may send.
_SECRET_FIELD_PREFIXES = ("secret_", "clear_", "extra_secrets")


def _refuse_secrets(request: HttpRequest) -> None:
    """A user without `secrets` has no secret fields; one who posts them anyway is refused
    outright rather than having the rest saved as if nothing happened."""
    if can(request.user, "secrets"):
        return
    if any(key.startswith(_SECRET_FIELD_PREFIXES) and value
           for key, value in request.POST.items()):
        raise PermissionDenied("Only the owner may set the providers' secrets.")


@needs("settings")
def channels(request: HttpRequest) -> HttpResponse:
    own = business_of(request.user)
    accounts = ProviderAccount.objects.filter(business=own).order_by(
        "channel", "-is_active", "name", "pk"
    )
    labels = dict(Channel.choices)
    return _page(request, "channels.html", {
        "accounts": accounts,
        "built_in": [labels[code] for code in CHANNELS],
    })


def _account_context(
    request: HttpRequest, form: ProviderAccountForm, account: ProviderAccount
) -> dict[str, Any]:
    context: dict[str, Any] = {"form": form, "account": account}
    # The key in the webhook address is a credential for providers that sign nothing.
    if account.pk and can(request.user, "secrets"):
        context["webhook"] = hook_url(account)
    return context


@needs("settings")
def channel_new(request: HttpRequest) -> HttpResponse:
    """Choose the provider first: its options and secrets make the rest of the form."""
    own = business_of(request.user)
    chooser = ProviderChoiceForm(request.GET if "provider" in request.GET else None)
    if not chooser.is_valid():
        status = 400 if chooser.is_bound else 200
        return _page(request, "channel_new.html", {"chooser": chooser}, status=status)
    provider = chooser.cleaned_data["provider"]
    channel = PROVIDERS[provider].code
    account = ProviderAccount(
        business=own, provider=provider, channel=channel,
        is_active=not ProviderAccount.objects.filter(
            business=own, channel=channel, is_active=True
        ).exists(),
    )
    return _account_page(request, account, account)


@needs("settings")
def channel(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    account: ProviderAccount = _row(ProviderAccount.objects.filter(business=own), pk)
    # The form edits a copy, so that a refused form leaves the page's account as stored.
    return _account_page(request, account, ProviderAccount.objects.get(pk=account.pk))


def _account_page(
    request: HttpRequest, account: ProviderAccount, edited: ProviderAccount
) -> HttpResponse:
    """A provider account's form: shown, or saved (secrets only by who may set them)."""
    if request.method == "POST":
        _refuse_secrets(request)
    form = ProviderAccountForm(
        request.POST or None, instance=edited, may_set_secrets=can(request.user, "secrets")
    )
    if request.method == "POST":
        if _apply(form, lambda: settings_actions.save_provider_account(
            account, form.values(), form.secret_changes()
        )):
            _saved(request)
            return redirect("settings:channel", pk=account.pk)
        return _invalid(request, "channel.html", _account_context(request, form, account))
    return _page(request, "channel.html", _account_context(request, form, account))


@needs("settings")
@require_POST
def channel_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    settings_actions.deactivate_provider_account(
        _row(ProviderAccount.objects.filter(business=own), pk)
    )
    messages.success(request, _("Deactivated."))
    return redirect("settings:channels")


# --- users -----------------------------------------------------------------------------------


@needs("users")
def users(request: HttpRequest) -> HttpResponse:
    actor = user_of(request)
    people = list(User.objects.filter(business=business_of(actor)).order_by(
        "-is_active", "first_name", "last_name", "username"
    ))
    rows = [(person, actions.may_manage(actor, person)) for person in people]
    return _page(request, "users.html", {"rows": rows})


@needs("users")
def user_new(request: HttpRequest) -> HttpResponse:
    actor = user_of(request)
    form = UserCreateForm(request.POST or None, actor=actor)
    if request.method == "POST":
        if _apply(form, lambda: actions.create_user(
            actor, username=form.cleaned_data["username"],
            password=form.cleaned_data["password1"], role=form.cleaned_data["role"],
            first_name=form.cleaned_data["first_name"],
            last_name=form.cleaned_data["last_name"], email=form.cleaned_data["email"],
        )):
            messages.success(request, _("User %(name)s created.") % {
                "name": form.cleaned_data["username"]
            })
            return redirect("settings:users")
        return _invalid(request, "user_new.html", {"form": form})
    return _page(request, "user_new.html", {"form": form})


def _managed(request: HttpRequest, pk: int) -> tuple[User, User]:
    """The actor and a user of their business they may manage: 404 for another business,
    403 for a colleague beyond their reach (the head of sales and an owner)."""
    actor = user_of(request)
    target: User = _row(User.objects.filter(business=business_of(actor)), pk)
    if not actions.may_manage(actor, target):
        raise PermissionDenied("This user is beyond the actor's reach.")
    return actor, target


@needs("users")
def user(request: HttpRequest, pk: int) -> HttpResponse:
    actor, target = _managed(request, pk)
    form = UserEditForm(request.POST or None, instance=User.objects.get(pk=target.pk),
                        actor=actor)
    password_form = UserPasswordForm(target)
    context = {"form": form, "person": target, "password_form": password_form}
    if request.method == "POST":
        if _apply(form, lambda: actions.change_user(
            actor, target, role=form.cleaned_data["role"],
            is_active=form.cleaned_data["is_active"],
            first_name=form.cleaned_data["first_name"],
            last_name=form.cleaned_data["last_name"], email=form.cleaned_data["email"],
        )):
            _saved(request)
            return redirect("settings:users")
        return _invalid(request, "user.html", context)
    return _page(request, "user.html", context)


@needs("users")
@require_POST
def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    actor, target = _managed(request, pk)
    password_form = UserPasswordForm(target, request.POST)
    if _apply(password_form, lambda: actions.set_user_password(
        actor, target, password_form.cleaned_data["new_password1"]
    )):
        messages.success(request, _("Password changed."))
        return redirect("settings:user", pk=target.pk)
    form = UserEditForm(instance=target, actor=actor)
    return _invalid(request, "user.html", {
        "form": form, "person": target, "password_form": password_form
    })


# --- lead sources and their costs ------------------------------------------------------------


def _sources_context(own: Business, form: LeadSourceForm) -> dict[str, Any]:
    sources = LeadSource.objects.filter(business=own).annotate(
        total_cost=Sum("costs__amount"), last_day=Max("costs__period_end")
    ).order_by("name")
    return {"form": form, "sources": sources}


@needs("sources")
def sources(request: HttpRequest) -> HttpResponse:
    own = business_of(request.user)
    form = LeadSourceForm(request.POST or None)
    if request.method == "POST":
        made: list[LeadSource] = []
        if _apply(form, lambda: made.append(settings_actions.save_lead_source(
            LeadSource(business=own), form.cleaned_data
        ))):
            _saved(request)
            return redirect("settings:source", pk=made[0].pk)
        return _invalid(request, "sources.html", _sources_context(own, form))
    return _page(request, "sources.html", _sources_context(own, form))


def _source_context(
    source: LeadSource, form: LeadSourceForm, cost_form: LeadSourceCostForm
) -> dict[str, Any]:
    return {
        "source": source, "form": form, "cost_form": cost_form,
        "costs": source.costs.order_by("-period_start"),
    }


def _cost_form() -> LeadSourceCostForm:
    """A new period starts where a month would: the first of this month to its last day."""
    today = clock_now().date()
    first = today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return LeadSourceCostForm(initial={"period_start": first, "period_end": last})


@needs("sources")
def source(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    row: LeadSource = _row(LeadSource.objects.filter(business=own), pk)
    form = LeadSourceForm(request.POST or None, instance=LeadSource.objects.get(pk=row.pk))
    if request.method == "POST":
        if _apply(form, lambda: settings_actions.save_lead_source(row, form.cleaned_data)):
            _saved(request)
            return redirect("settings:source", pk=row.pk)
        return _invalid(request, "source.html", _source_context(row, form, _cost_form()))
    return _page(request, "source.html", _source_context(row, form, _cost_form()))


@needs("sources")
@require_POST
def source_cost_add(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    row: LeadSource = _row(LeadSource.objects.filter(business=own), pk)
    cost_form = LeadSourceCostForm(request.POST)
    if _apply(cost_form, lambda: settings_actions.add_source_cost(
        row, cost_form.cleaned_data["period_start"], cost_form.cleaned_data["period_end"],
        cost_form.cleaned_data["amount"],
    )):
        _saved(request)
        return redirect("settings:source", pk=row.pk)
    return _invalid(request, "source.html", _source_context(
        row, LeadSourceForm(instance=row), cost_form
    ))


@needs("sources")
@require_POST
def source_cost_remove(request: HttpRequest, pk: int) -> HttpResponse:
    own = business_of(request.user)
    cost: LeadSourceCost = _row(LeadSourceCost.objects.filter(business=own), pk)
    settings_actions.remove_source_cost(cost)
    messages.success(request, _("Removed."))
    return redirect("settings:source", pk=cost.source_id)
