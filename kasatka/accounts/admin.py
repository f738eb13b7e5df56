"""Admin for businesses and users."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import Business, User


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
