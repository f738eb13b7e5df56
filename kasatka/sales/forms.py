"""Forms of sales: the seller's visit form, the qualification card and the public lead form.

They check types and choices only; the method's rules live in `actions` and `intake`, whose
ValidationErrors the views put back on these forms' fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import phonenumbers
from django import forms
from django.urls import reverse
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


# How people of a country write a phone number as they type it. Russia and Kazakhstan
# (+7) write "+7 (916) 123-45-67"; elsewhere the mask comes from the shape of the country's
# example mobile number in phonenumbers' metadata.
PHONE_MASKS = {7: "+7 (___) ___-__-__"}


def phone_mask(region: str) -> str:
    """The typing mask of phone numbers of a country ("_" is a digit); "" when unknown."""
    code = phonenumbers.country_code_for_region(region)
    if not code:
        return ""
    if code in PHONE_MASKS:
        return PHONE_MASKS[code]
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return ""
    prefix = f"+{code} "
    shown = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    if not shown.startswith(prefix):
        return ""
    return prefix + re.sub(r"\d", "_", shown[len(prefix):])


def trunk_prefix(region: str) -> str:
    """The digit people dial before a national number at home ("8" in Russia), or ""."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    prefix = (metadata.national_prefix or "") if metadata is not None else ""
    return prefix if len(prefix) == 1 else ""  # the mask knows a one-digit prefix only


class AmountField(forms.DecimalField):
    """An amount typed the way a Russian seller writes it: "15 000", "1 250,50"."""

    # django-stubs derive DecimalField from IntegerField, hence the ignore.
    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        if isinstance(value, str):
            value = re.sub(r"\s", "", value).replace(",", ".")  # \s: also the no-break spaces
        result: Decimal | None = super().to_python(value)
        return result


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
    # A text box, not type=number: the phone shows its decimal keypad all the same, and a
    # number box would refuse "15 000" or a decimal comma in the browser, silently.
    amount = AmountField(
        label=_("Amount"), required=False, min_value=0, max_digits=12, decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )
    on_promotion = forms.BooleanField(label=_("On promotion"), required=False)
    loss_reason = forms.TypedChoiceField(
        label=_("Why not bought"), required=False, coerce=int, empty_value=None
    )
    contacts_taken = _yes_no(_("Contacts taken?"))
    # The client's name, phone and e-mail, not the seller's: the browser must not offer
    # the seller's own details (autocomplete off).
    name = forms.CharField(
        label=_("Name"), required=False, max_length=300,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "words"}),
    )
    phone = forms.CharField(
        label=_("Phone"), required=False, max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off"}),
    )
    email = forms.CharField(
        label=_("E-mail"), required=False, max_length=254,
        widget=forms.EmailInput(
            attrs={"inputmode": "email", "autocomplete": "off", "autocapitalize": "none",
                   "spellcheck": "false"}
        ),
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
        self._watch_for_duplicates(business.country)
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

    def _watch_for_duplicates(self, region: str) -> None:
        """The phone is masked as the business's country writes it, and the phone and e-mail
        ask, while typed, whether the business already has this client (visit.js, htmx)."""
        phone = self.fields["phone"].widget
        mask = phone_mask(region)
        if mask:
            phone.attrs.update(
                {"data-mask": mask, "data-trunk": trunk_prefix(region), "placeholder": mask}
            )
        for name in ("phone", "email"):
            self.fields[name].widget.attrs.update(
                {
                    "hx-get": reverse("web:contact_duplicates"),
                    "hx-trigger": "keyup changed delay:300ms, change",
                    "hx-target": "#duplicates",
                    "hx-include": "#id_phone, #id_email",
                    "hx-sync": "closest form:replace",
                }
            )

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
