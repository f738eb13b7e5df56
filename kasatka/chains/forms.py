"""Forms of the chain editor: the chain's own fields and its steps as a formset.

A step form checks what the model checks (`Step.clean`: a reason, templates that render,
known channels) by building the unsaved step and cleaning it, so the rule stays in one
place. The same forms give the live linter and preview what is being typed, read leniently
(`typed_steps`): a half-typed step is still linted, never refused.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kasatka.contacts.models import Channel

from .actions import StepData
from .models import Chain, DelayFrom, Step

# Every channel may appear once in a step's list of preferences.
CHANNEL_SLOTS = len(Channel.choices)
MAX_DELAY_DAYS = 3650


class ChainForm(forms.ModelForm[Chain]):
    class Meta:
        model = Chain
        fields = ("name", "kind", "exit_on_purchase", "exit_on_reply", "enrol_on_stage")


class ChannelsWidget(forms.MultiWidget):
    """One select per place in the order of preference: first choice, then the next…"""

    template_name = "chains/channels_widget.html"

    def __init__(self) -> None:
        choices = [("", "—"), *Channel.choices]
        super().__init__([forms.Select(choices=choices) for _slot in range(CHANNEL_SLOTS)])

    def decompress(self, value: Any) -> list[Any]:
        return list(value) if isinstance(value, list | tuple) else []

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        for n, sub in enumerate(context["widget"]["subwidgets"], start=1):
            sub["attrs"]["aria-label"] = gettext("Channel, choice %(n)s") % {"n": n}
        return context


class ChannelsField(forms.MultiValueField):
    """The channels in order of preference; empty places are dropped."""

    widget = ChannelsWidget

    def __init__(self, **kwargs: Any) -> None:
        fields = [
            forms.ChoiceField(choices=Channel.choices, required=False)
            for _slot in range(CHANNEL_SLOTS)
        ]
        super().__init__(fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list: list[Any]) -> list[str]:
        return [str(c) for c in data_list if c]


class OptionsField(forms.JSONField):
    """JSON options, shown empty rather than as "null" or "{}" when there are none."""

    def prepare_value(self, value: Any) -> Any:
        if value in (None, "", {}):
            return ""
        return super().prepare_value(value)


class StepForm(forms.Form):
    id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    delay_days = forms.IntegerField(
        label=_("Days"), min_value=0, max_value=MAX_DELAY_DAYS, required=False, initial=0
    )
    delay_hours = forms.IntegerField(
        label=_("Hours"), min_value=0, max_value=23, required=False, initial=0
    )
    # Shown only for a step saved with minutes (the admin allows them), so none are lost.
    delay_minutes = forms.IntegerField(
        label=_("Minutes"), min_value=0, max_value=59, required=False
    )
    delay_from = forms.ChoiceField(
        label=_("Counted from"), choices=DelayFrom.choices, initial=DelayFrom.PREVIOUS
    )
    channels = ChannelsField(
        label=_("Channels, in order of preference"),
        help_text=_("The first one the contact can be reached on is used."),
    )
    is_commercial = forms.BooleanField(
        label=_("Commercial"), required=False, initial=True,
        help_text=_("Offers need commercial consent; useful news is informational."),
    )
    reason = forms.CharField(
        label=_("Reason: what is new for the client"), max_length=300, required=False
    )
    subject_template = forms.CharField(label=_("Subject"), max_length=300, required=False)
    body_template = forms.CharField(
        label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 6})
    )
    options = OptionsField(
        label=_("Buttons and channel options (JSON)"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_('E.g. {"buttons": [{"text": "Yes", "reply": "yes"}]}'),
    )

    # The model's field → this form's field, for the model's errors.
    FIELD_OF = {"delay": "delay_days", "delay_from": "delay_from", "channels": "channels",
                "reason": "reason", "subject_template": "subject_template",
                "body_template": "body_template", "options": "options"}

    @classmethod
    def initial_for(cls, step: Step) -> dict[str, Any]:
        total_minutes = int(step.delay.total_seconds() // 60)
        return {
            "id": step.pk,
            "delay_days": total_minutes // (24 * 60),
            "delay_hours": total_minutes // 60 % 24,
            "delay_minutes": total_minutes % 60,
            "delay_from": step.delay_from,
            "channels": list(step.channels or []),
            "is_commercial": step.is_commercial,
            "reason": step.reason,
            "subject_template": step.subject_template,
            "body_template": step.body_template,
            "options": step.options or None,
            "ORDER": step.position,
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        # The model's own checks, on the unsaved step: one place for the rule.
        data = self.step_data(0)
        step = Step(
            delay=data.delay, delay_from=data.delay_from, channels=data.channels,
            is_commercial=data.is_commercial, reason=data.reason,
            subject_template=data.subject_template, body_template=data.body_template,
            options=data.options,
        )
        try:
            step.full_clean(exclude=["chain", "position"], validate_unique=False,
                            validate_constraints=False)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                if len(errors) > 1 and name in self.FIELD_OF:
                    # "This field cannot be blank" says less than the model's own message.
                    messages = getattr(Step._meta.get_field(name), "error_messages", {})
                    blank = str(messages.get("blank", ""))
                    errors = [e for e in errors if e != blank] or errors
                self.add_error(self.FIELD_OF.get(name), errors)
        return cleaned

    def step_data(self, position: int) -> StepData:
        """The cleaned step (call after validation)."""
        c = self.cleaned_data
        options = c.get("options")
        return StepData(
            position=position,
            delay=timedelta(
                days=c.get("delay_days") or 0,
                hours=c.get("delay_hours") or 0,
                minutes=c.get("delay_minutes") or 0,
            ),
            delay_from=c.get("delay_from") or DelayFrom.PREVIOUS,
            channels=list(c.get("channels") or []),
            is_commercial=bool(c.get("is_commercial")),
            reason=(c.get("reason") or "").strip(),
            subject_template=c.get("subject_template") or "",
            body_template=c.get("body_template") or "",
            options=options if options is not None else {},
            id=c.get("id"),
        )

    def typed_data(self, position: int) -> StepData:
        """What is typed, however incomplete: for the live linter and preview."""
        channels = self["channels"].value()
        options = _json(self["options"].value())
        return StepData(
            position=position,
            delay=timedelta(
                days=_number(self["delay_days"].value(), MAX_DELAY_DAYS),
                hours=_number(self["delay_hours"].value(), 23),
                minutes=_number(self["delay_minutes"].value(), 59),
            ),
            delay_from=str(self["delay_from"].value() or DelayFrom.PREVIOUS),
            channels=[str(c) for c in channels if c] if isinstance(channels, list) else [],
            is_commercial=bool(self["is_commercial"].value()),
            reason=str(self["reason"].value() or "").strip(),
            subject_template=str(self["subject_template"].value() or ""),
            body_template=str(self["body_template"].value() or ""),
            options=options if isinstance(options, dict) else {},
            id=_number(self["id"].value(), 2**31) or None,
        )


def _number(value: Any, most: int) -> int:
    try:
        return min(max(int(str(value).strip()), 0), most)
    except ValueError:
        return 0


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value) if value.strip() else None
    except ValueError:
        return None


class BaseStepFormSet(forms.BaseFormSet[StepForm]):
    def kept_forms(self) -> list[StepForm]:
        """The step forms in their order (the ORDER numbers, then as sent), without the
        removed ones and the added ones left blank: what is saved, linted and previewed."""
        kept: list[tuple[int, int, StepForm]] = []
        for index, form in enumerate(self.forms):
            if form["DELETE"].value():
                continue
            added = index >= self.initial_form_count()
            if added and (not self.is_bound or not form.has_changed()):
                continue
            order = _number(form["ORDER"].value(), 32767) or 32767
            kept.append((order, index, form))
        return [form for _order, _index, form in sorted(kept, key=lambda k: (k[0], k[1]))]

    def typed_steps(self) -> list[tuple[StepForm, StepData]]:
        return [(form, form.typed_data(n)) for n, form in enumerate(self.kept_forms(), 1)]

    def cleaned_steps(self) -> list[StepData]:
        return [form.step_data(n) for n, form in enumerate(self.kept_forms(), 1)]


StepFormSet = forms.formset_factory(
    StepForm, formset=BaseStepFormSet, extra=0, can_order=True, can_delete=True,
    max_num=100, validate_max=True,
)


def step_formset(steps: list[Step], data: Any = None) -> BaseStepFormSet:
    """The formset of a chain's steps; a new chain starts with one step to fill in."""
    initial = [StepForm.initial_for(s) for s in steps] or [FIRST_STEP]
    formset = StepFormSet(data, prefix="steps", initial=initial)
    assert isinstance(formset, BaseStepFormSet)
    return formset


FIRST_STEP: dict[str, Any] = {
    "delay_days": 0, "delay_hours": 0, "delay_from": DelayFrom.PREVIOUS,
    "is_commercial": True, "channels": [], "ORDER": 1,
}
