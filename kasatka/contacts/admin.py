"""Admin for contacts, addresses, the (read-only) consent and lifecycle histories, and
the suppression list."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import suppression
from .actions import normalise_email, normalise_phone
from .models import Address, AddressKind, Consent, Contact, StageChange, Suppression


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


class ActiveFilter(admin.SimpleListFilter):
    title = _("in force")
    parameter_name = "active"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("in force")), ("no", _("lifted"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "yes":
            return queryset.filter(lifted_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(lifted_at__isnull=False)
        return queryset


class SuppressionForm(forms.ModelForm[Suppression]):
    """A suppression added by hand: an address (kind and value) or a whole contact."""

    class Meta:
        model = Suppression
        fields = ("business", "kind", "value", "contact", "reason", "note")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, contact, business = data.get("kind"), data.get("contact"), data.get("business")
        value = (data.get("value") or "").strip()
        if not value and contact is None:
            raise ValidationError(_("Give an address (its kind and value) or a contact."))
        if value and contact is not None:
            raise ValidationError(_("An address or a contact, not both: add two rows."))
        if value:
            if not kind:
                self.add_error("kind", _("Say what kind of address it is."))
                return data
            try:
                if kind == AddressKind.EMAIL:
                    value = normalise_email(value)
                elif kind == AddressKind.PHONE:
                    value = normalise_phone(value, business.country if business else "RU")
            except ValidationError as exc:
                self.add_error("value", exc)
                return data
            data["value"] = value
            if business is not None and suppression.active_suppression_for(
                business.pk, kind, value
            ):
                self.add_error("value", _("This address is already on the suppression list."))
        if contact is not None:
            data["kind"] = ""
            if business is not None and contact.business_id != business.pk:
                self.add_error("contact", _("The contact belongs to another business."))
            elif suppression.active_contact_suppression(contact):
                self.add_error("contact", _("This contact is already on the suppression list."))
        return data


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin[Suppression]):
    """The suppression list: filtered by reason and whether in force, searched by address;
    rows are evidence, so they are lifted (with a reason), never edited or deleted."""

    form = SuppressionForm
    list_display = ("__str__", "reason", "in_force", "stops_sending", "created_at",
                    "created_by", "lifted_at", "lift_reason", "business")
    list_filter = (ActiveFilter, "reason", "kind", "business")
    search_fields = ("value", "note", "contact__last_name", "contact__first_name")
    raw_id_fields = ("contact",)
    actions = ("lift_selected",)
    ordering = ("-created_at", "-id")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return ("business", "kind", "value", "contact", "reason", "created_at", "created_by",
                "lifted_at", "lift_reason")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"reason": "manual", **super().get_changeform_initial_data(request)}

    @admin.display(boolean=True, description=_("in force"))
    def in_force(self, obj: Suppression) -> bool:
        return obj.is_active

    @admin.display(boolean=True, description=_("stops sending"))
    def stops_sending(self, obj: Suppression) -> bool:
        return suppression.blocks_sending(obj)

    def save_model(
        self, request: HttpRequest, obj: Suppression, form: ModelForm[Suppression], change: bool
    ) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # lifted with a reason, kept as evidence

    @admin.action(description=_("Lift the selected suppressions"))
    def lift_selected(self, request: HttpRequest, queryset: QuerySet[Suppression]) -> None:
        user: Any = request.user
        lifted = sum(
            suppression.lift(s, "lifted by staff", by=user)
            for s in queryset.filter(lifted_at__isnull=True)
        )
        self.message_user(
            request, _("%(n)s suppressions lifted.") % {"n": lifted}, messages.SUCCESS
        )
