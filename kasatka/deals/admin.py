"""Admin for pipelines and their stages, deals with their history, nudges and replies.

A deal's stage and status change only through kasatka.deals.actions, here too: the history
is written and the nudge clock set as everywhere else.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from .actions import create_deal, move_deal, win_deal
from .models import (
    Deal,
    DealReply,
    DealStage,
    DealStageChange,
    DealTask,
    Nudge,
    NudgeTemplate,
    Pipeline,
)


class DealStageInline(admin.TabularInline[DealStage, Pipeline]):
    model = DealStage
    extra = 1
    fields = ("position", "name", "waits_for_client", "wait_days", "next_step")


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin[Pipeline]):
    list_display = ("name", "business", "position", "is_active")
    list_filter = ("business",)
    inlines = [DealStageInline]


class DealStageChangeInline(admin.TabularInline[DealStageChange, Deal]):
    model = DealStageChange
    extra = 0
    fields = ("at", "from_stage", "to_stage", "status", "by", "reason")
    readonly_fields = fields
    can_delete = False


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin[Deal]):
    list_display = (
        "title", "contact", "seller", "stage", "amount", "status", "stuck_since", "next_nudge_at",
    )
    list_filter = ("business", "status", "pipeline", "stage")
    search_fields = ("title", "contact__last_name", "contact__first_name")
    raw_id_fields = ("contact",)
    inlines = [DealStageChangeInline]
    readonly_fields = (
        "status", "loss_reason", "loss_note", "stage_entered_at", "stuck_since",
        "next_nudge_at", "nudges_in_stage", "created_at", "closed_at",
    )
    actions = ["mark_won"]

    def get_readonly_fields(self, request: HttpRequest, obj: Deal | None = None) -> Any:
        # The pipeline is chosen once; a closed deal's stage stays where it closed.
        fixed = ("pipeline",) if obj is not None else ()
        closed = ("stage",) if obj is not None and not obj.is_open else ()
        return (*self.readonly_fields, *fixed, *closed)

    def save_model(
        self, request: HttpRequest, obj: Deal, form: ModelForm[Deal], change: bool
    ) -> None:
        user: Any = request.user
        if not change:
            made = create_deal(obj.contact, obj.title, obj.amount, obj.stage, obj.seller, by=user)
            obj.pk, obj._state.adding = made.pk, False
            return
        stage = obj.stage
        obj.stage_id = Deal.objects.values_list("stage_id", flat=True).get(pk=obj.pk)
        super().save_model(request, obj, form, change)
        if stage.pk != obj.stage_id:
            move_deal(obj, stage, by=user, reason=gettext_noop("changed in the admin"))

    @admin.action(description=_("Mark the selected deals won"))
    def mark_won(self, request: HttpRequest, queryset: QuerySet[Deal]) -> None:
        user: Any = request.user
        won = 0
        for deal in queryset.filter(status="open"):
            win_deal(deal, by=user)
            won += 1
        self.message_user(request, _("%(n)s deals won.") % {"n": won}, messages.SUCCESS)


@admin.register(NudgeTemplate)
class NudgeTemplateAdmin(admin.ModelAdmin[NudgeTemplate]):
    list_display = ("name", "stage", "language", "position", "is_active")
    list_filter = ("business", "language", "stage")


@admin.register(Nudge)
class NudgeAdmin(admin.ModelAdmin[Nudge]):
    list_display = (
        "deal", "number", "state", "mode", "seller", "proposed_at", "thrown_at", "answer",
    )
    list_filter = ("business", "state", "mode", "answer")
    raw_id_fields = ("deal", "enrollment", "call_task")


@admin.register(DealReply)
class DealReplyAdmin(admin.ModelAdmin[DealReply]):
    list_display = ("deal", "received_at", "predicted", "answer", "answer_date", "corrected_by")
    list_filter = ("business", "predicted", "answer", "source")
    raw_id_fields = ("deal", "nudge", "message")


@admin.register(DealTask)
class DealTaskAdmin(admin.ModelAdmin[DealTask]):
    list_display = ("title", "deal", "seller", "kind", "due_at", "done_at")
    list_filter = ("business", "kind")
    raw_id_fields = ("deal", "reply")
