"""Admin for businesses and users."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import Business, BusinessDay, MethodSettings, SendingRules, User


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin[Business]):
    list_display = ("name", "slug", "time_zone", "country", "created_at")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(User)
class UserAdmin(BaseUserAdmin[User]):
    list_display = ("username", "first_name", "last_name", "business", "role", "is_active")
    list_filter = ("business", "role", "is_active", "is_staff")
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("Kasatka"), {"fields": ("business", "role", "patronymic", "phone")}),
    )


@admin.register(MethodSettings)
class MethodSettingsAdmin(admin.ModelAdmin[MethodSettings]):
    """The method's figures of each business (docs/method.md, docs/deals.md)."""

    list_display = ("business", "lc_window_days", "warming_touches", "nudge_max")


@admin.register(SendingRules)
class SendingRulesAdmin(admin.ModelAdmin[SendingRules]):
    """Quiet hours, caps and opt-in of each business (docs/guardrails.md)."""

    list_display = ("business", "cap_per_day", "cap_per_week", "commercial_on_holidays")


@admin.register(BusinessDay)
class BusinessDayAdmin(admin.ModelAdmin[BusinessDay]):
    """A business's own days off and moved working days."""

    list_display = ("date", "business", "is_working", "name")
    list_filter = ("business", "is_working")
    date_hierarchy = "date"
