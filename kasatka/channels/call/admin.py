"""Admin for call tasks."""

from django.contrib import admin

from .models import CallTask


@admin.register(CallTask)
class CallTaskAdmin(admin.ModelAdmin[CallTask]):
    list_display = ("contact", "phone", "assignee", "due_at", "outcome", "closed_at")
    list_filter = ("outcome", "business")
    raw_id_fields = ("touch", "contact", "assignee", "closed_by")
