"""Admin for lead sources with their costs, loss reasons, visits and purchases."""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .models import LeadSource, LeadSourceCost, LossReason, Purchase, Visit


class LeadSourceCostForm(forms.ModelForm[LeadSourceCost]):
    class Meta:
        model = LeadSourceCost
        fields = ("period_start", "period_end", "amount")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", _("The period ends before it starts."))
        return data


class LeadSourceCostInline(admin.TabularInline[LeadSourceCost, LeadSource]):
    """What the source cost, period by period: the cost per lead and per client."""

    model = LeadSourceCost
    form = LeadSourceCostForm
    extra = 1
    fields = ("period_start", "period_end", "amount")


@admin.register(LeadSource)
class LeadSourceAdmin(admin.ModelAdmin[LeadSource]):
    list_display = ("name", "business", "channel", "utm_source", "utm_medium", "utm_campaign")
    list_filter = ("business",)
    search_fields = ("name", "utm_source", "utm_campaign")
    inlines = [LeadSourceCostInline]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # A cost belongs to its source's business; the inline does not ask for it twice.
        for cost in formset.save(commit=False):
            cost.business_id = form.instance.business_id
            cost.save()
        for removed in formset.deleted_objects:
            removed.delete()
        formset.save_m2m()


@admin.register(LossReason)
class LossReasonAdmin(admin.ModelAdmin[LossReason]):
    """The business's own list of why clients leave without buying (METHOD.md §1)."""

    list_display = ("name", "kind", "position", "is_active", "business")
    list_editable = ("position", "is_active")
    list_filter = ("business", "kind", "is_active")
    search_fields = ("name",)


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin[Visit]):
    list_display = ("occurred_at", "visit_type", "contact", "seller", "amount", "loss_reason")
    list_filter = ("visit_type", "business", "loss_reason__kind")
    raw_id_fields = ("contact", "seller")
    readonly_fields = ("visit_type",)


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin[Purchase]):
    list_display = ("purchased_at", "contact", "amount", "seller")
    list_filter = ("business",)
    raw_id_fields = ("contact", "seller")
