"""The owner's form for a capture form; the rules are in `actions.save_form`."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from kasatka.sales.forms import CONSENT_CHOICES

from .models import CaptureForm


class CaptureFormForm(forms.ModelForm):  # type: ignore[type-arg]
    channels = forms.MultipleChoiceField(
        label=_("Channels the lead may agree to"), choices=CONSENT_CHOICES, required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    thank_you_url = forms.URLField(
        label=_("thank-you page"), required=False, assume_scheme="https", max_length=200,
        help_text=_("Where a plain form post is sent after success; empty: Kasatka's own page"),
    )

    class Meta:
        model = CaptureForm
        fields = ["name", "default_source", "consent_text", "allowed_origins", "thank_you_url",
                  "is_active"]
        widgets = {
            "consent_text": forms.Textarea(attrs={"rows": 4}),
            "allowed_origins": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["channels"] = self.instance.channel_keys

    def clean_allowed_origins(self) -> str:
        """Origins only (scheme://host[:port]), one a line: what a browser sends as Origin."""
        lines: list[str] = []
        check = URLValidator(schemes=["http", "https"])
        for raw in str(self.cleaned_data.get("allowed_origins") or "").split():
            origin = raw.strip().rstrip("/")
            try:
                check(origin)
            except ValidationError as exc:
                raise ValidationError(
                    _("“%(origin)s” is not a site address."), params={"origin": raw}
                ) from exc
            if origin.count("/") != 2:
                raise ValidationError(
                    _("“%(origin)s”: the site only, without a path."), params={"origin": raw}
                )
            lines.append(origin.lower())
        return "\n".join(dict.fromkeys(lines))
