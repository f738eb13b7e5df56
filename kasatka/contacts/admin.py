"""Admin for contacts, addresses and the (read-only) consent and lifecycle histories."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Address, Consent, Contact, StageChange


class AddressInline(admin.TabularInline[Address, Contact]):
    model = Address
    extra = 0
    fields = ("kind", "value", "state", "state_reason", "is_primary")


class ConsentInline(admin.TabularInline[Consent, Contact]):
    model = Consent
    extra = 0
    fields = ("recorded_at", "channel", "purpose", "status", "basis", "source")
    readonly_fields = fields
    ordering = ("-recorded_at", "-id")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class StageChangeInline(admin.TabularInline[StageChange, Contact]):
    """How the contact moved between stages and side types, and why: written by the
    lifecycle only (`contacts.lifecycle`), never by hand."""

    model = StageChange
    extra = 0
    fields = ("changed_at", "field", "old", "new", "cause")
    readonly_fields = fields
    ordering = ("-changed_at", "-id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin[Contact]):
    list_display = ("__str__", "business", "stage", "owner", "gender", "created_at")
    list_filter = ("business", "stage", "is_discount_lover", "is_impulsive")
    search_fields = ("last_name", "first_name", "company", "addresses__value")
    raw_id_fields = ("owner", "source")
    inlines = [AddressInline, ConsentInline, StageChangeInline]


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin[Address]):
    list_display = ("value", "kind", "state", "state_reason", "contact")
    list_filter = ("kind", "state")
    search_fields = ("value",)
    raw_id_fields = ("contact",)


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin[Consent]):
    list_display = ("contact", "channel", "purpose", "status", "basis", "recorded_at")
    list_filter = ("channel", "purpose", "status", "basis")
    raw_id_fields = ("contact",)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history is append-only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
