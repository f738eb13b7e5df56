"""Admin for chains and steps (templates checked on save), enrollments and touches."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from kasatka.channels.sms.preview import step_display

from .models import Chain, Enrollment, Step, Touch


class StepInline(admin.StackedInline[Step, Chain]):
    model = Step
    extra = 0
    fields = (
        ("position", "delay", "delay_from"),
        ("channels", "is_commercial"),
        "reason",
        "subject_template",
        "body_template",
        "sms",
    )
    readonly_fields = ("sms",)

    @admin.display(description=_("SMS"))
    def sms(self, step: Step) -> str:
        """Encoding, length, number of messages and sender, seen before anything is sent."""
        if step.pk is None:
            return "—"
        return step_display(step)


@admin.register(Chain)
class ChainAdmin(admin.ModelAdmin[Chain]):
    list_display = ("name", "business", "kind", "is_active", "exit_on_purchase")
    list_filter = ("business", "kind", "is_active")
    inlines = [StepInline]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin[Enrollment]):
    list_display = ("contact", "chain", "state", "step", "next_touch_at", "lease_owner")
    list_filter = ("state", "chain")
    raw_id_fields = ("contact", "chain", "step")


@admin.register(Touch)
class TouchAdmin(admin.ModelAdmin[Touch]):
    list_display = ("idempotency_key", "contact", "channel", "to", "status", "attempts", "sent_at")
    list_filter = ("status", "channel", "is_commercial")
    search_fields = ("idempotency_key", "to", "provider_message_id")
    raw_id_fields = ("enrollment", "step", "contact", "address")
