"""Admin for printed letters."""

from django.contrib import admin

from .models import Letter


@admin.register(Letter)
class LetterAdmin(admin.ModelAdmin[Letter]):
    list_display = ("recipient", "contact", "due_date", "status", "printed_at", "posted_at")
    list_filter = ("status", "business")
    raw_id_fields = ("touch", "contact", "posted_by")
