"""Forms of sales: the seller's visit form, the qualification card and the public lead form.

They check types and choices only; the method's rules live in `actions` and `intake`, whose
ValidationErrors the views put back on these forms' fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import Business, User
from kasatka.contacts.models import Channel, Contact, NeedsFit, Readiness

from .actions import QUALIFICATION_FIELDS
from .models import LossKind, LossReason

# What the client is asked at the visit, and the channels each answer opens: "messengers"
# is one question for the seller but three channels for the engine.
CONSENT_CHOICES: tuple[tuple[str, Any], ...] = (
    ("email", _("e-mail")),
    ("sms", _("SMS")),
    ("call", _("calls")),
    ("messengers", _("messengers")),
)
CONSENT_CHANNELS: dict[str, tuple[str, ...]] = {
    "email": (Channel.EMAIL,),
    "sms": (Channel.SMS,),
    "call": (Channel.CALL,),
    "messengers": (Channel.TELEGRAM, Channel.WHATSAPP, Channel.VIBER),
}

YES_NO = (("yes", _("yes")), ("no", _("no")))


def consent_channels(answers: Iterable[str]) -> list[str]:
    """The channels behind the client's answers, in a stable order."""
    return [channel for answer in answers for channel in CONSENT_CHANNELS.get(answer, ())]


def _yes_no(label: Any) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        label=label,
        choices=YES_NO,
        coerce=lambda value: value == "yes",
        widget=forms.RadioSelect(attrs={"class": "yes-no"}),
    )


class QualificationForm(forms.Form):
    """The qualification card (METHOD.md §4): what to know before working with a client."""

    needs_fit = forms.ChoiceField(label=_("Needs fit"), choices=NeedsFit.choices, required=False)
    readiness = forms.ChoiceField(
        label=_("How far in the decision"), choices=Readiness.choices, required=False
    )
    needs = forms.CharField(
        label=_("Needs"), required=False, help_text=_("Deadlines, volumes, tasks"),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    knows_about_us = forms.CharField(
        label=_("What they know about us"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    came_because = forms.CharField(
        label=_("Why they came to us"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    @classmethod
    def for_contact(cls, contact: Contact, data: Any = None) -> QualificationForm:
        return cls(data, initial={f: getattr(contact, f) for f in QUALIFICATION_FIELDS})

    def qualification(self) -> dict[str, str]:
        return {f: self.cleaned_data.get(f) or "" for f in QUALIFICATION_FIELDS}


class VisitForm(QualificationForm):
    """What a seller enters after a visit: two answers, then only what applies."""

    bought = _yes_no(_("Bought?"))
    amount = forms.DecimalField(
        label=_("Amount"), required=False, min_value=0, max_digits=12, decimal_places=2,
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01"}),
    )
    on_promotion = forms.BooleanField(label=_("On promotion or at a discount"), required=False)
    loss_reason = forms.TypedChoiceField(
        label=_("Why not bought"), required=False, coerce=int, empty_value=None
    )
    contacts_taken = _yes_no(_("Contacts taken?"))
    name = forms.CharField(label=_("Name"), required=False, max_length=300)
    phone = forms.CharField(
        label=_("Phone"), required=False, max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off"}),
    )
    email = forms.CharField(
        label=_("E-mail"), required=False, max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    consent = forms.MultipleChoiceField(
        label=_("The client agreed to receive"), choices=CONSENT_CHOICES, required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    seller = forms.ModelChoiceField(
        label=_("Seller"), queryset=User.objects.none(), required=False, empty_label=None
    )

    def __init__(
        self,
        data: Any = None,
        *,
        business: Business,
        user: User,
        team: bool,
        reasons: Sequence[LossReason],
        initial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(data, initial=initial)
        self.reasons = {r.pk: r for r in reasons}
        groups = [
            (kind.label, [(r.pk, r.name) for r in reasons if r.kind == kind])
            for kind in LossKind
        ]
        reason_field: Any = self.fields["loss_reason"]
        reason_field.choices = [("", "—"), *[g for g in groups if g[1]]]
        if team:
            # An owner records for the seller who served the client.
            seller_field = self.fields["seller"]
            seller_field.queryset = User.objects.filter(  # type: ignore[attr-defined]
                business=business, is_active=True
            ).order_by("first_name", "last_name", "username")
            seller_field.label_from_instance = lambda u: u.full_name  # type: ignore[attr-defined]
            seller_field.initial = user.pk
        else:
            del self.fields["seller"]
        self.user = user

    def chosen_seller(self) -> User:
        seller: User = self.cleaned_data.get("seller") or self.user
        return seller

    def chosen_reason(self) -> LossReason | None:
        pk = self.cleaned_data.get("loss_reason")
        return self.reasons.get(pk) if pk is not None else None


class LeadForm(forms.Form):
    """The public form a shop puts on its site or in a QR code: a lead leaves a contact."""

    name = forms.CharField(label=_("Your name"), max_length=300)
    phone = forms.CharField(
        label=_("Phone"), required=False, max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel"}),
    )
    email = forms.CharField(
        label=_("E-mail"), required=False, max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    consent = forms.MultipleChoiceField(
        label=_("You may write to me by"), choices=CONSENT_CHOICES, required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    # The honeypot: hidden from people by CSS, filled in by bots that fill every box.
    website = forms.CharField(
        required=False, label=_("Leave this empty"),
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )
    utm_source = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    utm_medium = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)
    utm_campaign = forms.CharField(required=False, max_length=200, widget=forms.HiddenInput)

    def is_bot(self) -> bool:
        return bool(self.cleaned_data.get("website"))

    def utm(self) -> dict[str, str]:
        return {
            key: self.cleaned_data[key]
            for key in ("utm_source", "utm_medium", "utm_campaign")
            if self.cleaned_data.get(key)
        }
