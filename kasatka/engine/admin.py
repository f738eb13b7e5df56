"""The guardrails' audit trail, read-only: what was held, re-timed, rerouted or skipped."""

from django.contrib import admin
from django.http import HttpRequest

from .models import GuardEvent


@admin.register(GuardEvent)
class GuardEventAdmin(admin.ModelAdmin[GuardEvent]):
    list_display = ("at", "contact", "rule", "action", "channel", "until", "detail")
    list_filter = ("business", "rule", "action", "channel")
    raw_id_fields = ("enrollment", "contact", "step")
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: GuardEvent | None = None) -> bool:
        return False
