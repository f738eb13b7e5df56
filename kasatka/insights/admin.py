"""Admin for the churn model and client risk scores (read-only: computed by the engine)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import ChurnModel, ClientRisk


class _ReadOnly(admin.ModelAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ChurnModel)
class ChurnModelAdmin(_ReadOnly):
    list_display = ("business", "r", "alpha", "a", "b", "fitted_at")


@admin.register(ClientRisk)
class ClientRiskAdmin(_ReadOnly):
    list_display = ("contact", "p_alive", "lapse_at", "value_at_risk", "lapsed_since")
    list_filter = ("business",)
    raw_id_fields = ("contact",)
    ordering = ("-value_at_risk",)
