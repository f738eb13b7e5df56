"""Admin for chains and steps (templates checked on save, the chain linted), enrollments and
touches."""

from typing import Any

from django.contrib import admin, messages
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kasatka.channels.sms.preview import step_display

from .linter import ERROR, Finding, lint_chain
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
    readonly_fields = ("linter",)

    @admin.display(description=_("Linter"))
    def linter(self, chain: Chain) -> str:
        """The linter's findings, shown where the chain is edited (docs/linter.md)."""
        if chain.pk is None:
            return "—"
        findings = lint_chain(chain)
        if not findings:
            return gettext("No findings: the chain keeps to the method.")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "", '<li class="lint-{}">{}</li>',
                ((f.level, _describe(f)) for f in findings),
            ),
        )

    def save_related(
        self, request: HttpRequest, form: ModelForm[Chain],
        formsets: list[BaseInlineFormSet[Any, Chain, Any]], change: bool,
    ) -> None:
        # After the steps are saved: the chain is linted as it now stands.
        super().save_related(request, form, formsets, change)
        for finding in lint_chain(form.instance):
            level = messages.ERROR if finding.level == ERROR else messages.WARNING
            self.message_user(request, _describe(finding), level)


def _describe(finding: Finding) -> SafeString:
    label = gettext("Error") if finding.level == ERROR else gettext("Warning")
    return format_html("{}: {} [{}]", label, finding.message, finding.code)


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
