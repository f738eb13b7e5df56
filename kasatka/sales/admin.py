"""Admin for lead sources, visits and purchases."""

from django.contrib import admin

from .models import LeadSource, Purchase, Visit


@admin.register(LeadSource)
class LeadSourceAdmin(admin.ModelAdmin[LeadSource]):
    list_display = ("name", "business", "channel", "utm_source", "utm_campaign")
    list_filter = ("business",)


@admin.register(Visit)
class VisitAdmin(admin.ModelAdmin[Visit]):
    list_display = ("occurred_at", "visit_type", "contact", "seller", "amount")
    list_filter = ("visit_type", "business")
    raw_id_fields = ("contact", "seller")
    readonly_fields = ("visit_type",)


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin[Purchase]):
    list_display = ("purchased_at", "contact", "amount", "seller")
    list_filter = ("business",)
    raw_id_fields = ("contact", "seller")
