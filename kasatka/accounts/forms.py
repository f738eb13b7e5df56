"""The settings pages' forms: they check what was typed; the actions write it."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import available_timezones

import holidays
import phonenumbers
from django import forms
from django.contrib.auth.forms import SetPasswordForm, UserCreationForm, UsernameField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.dates import WEEKDAYS
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from kasatka.channels.models import ProviderAccount
from kasatka.contacts.models import Channel
from kasatka.deals.models import DealStage, Pipeline
from kasatka.sales.models import LeadSource, LossReason

from .actions import BUSINESS_FIELDS, METHOD_FIELDS, manageable_roles
from .models import (
    Business,
    BusinessDay,
    MethodSettings,
    Role,
    SendingRules,
    User,
)


class Capitalised:
    """Labels start with a capital, as the model's own fields do (the msgids are the
    models' lower-case verbose names, already translated)."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if field.label:
                field.label = capfirst(field.label)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%H:%M")


Groups = tuple[tuple[StrOrPromise, tuple[str, ...]], ...]
FieldGroups = list[tuple[StrOrPromise, list[forms.BoundField]]]


def grouped(form: forms.BaseForm, groups: Groups) -> FieldGroups:
    """The form's fields in titled groups, for fieldsets."""
    return [(title, [form[name] for name in names]) for title, names in groups]


# --- the business ----------------------------------------------------------------------------

_ZONE_AREAS = ("Africa/", "America/", "Antarctica/", "Asia/", "Atlantic/", "Australia/",
               "Europe/", "Indian/", "Pacific/")


@functools.cache
def zone_choices() -> list[tuple[str, str]]:
    """The tz database's place names (Europe/Moscow), not its aliases (W-SU, Etc/GMT-3)."""
    zones = sorted(z for z in available_timezones() if z.startswith(_ZONE_AREAS))
    return [("UTC", "UTC"), *((z, z.replace("_", " ")) for z in zones)]


@functools.cache
def holiday_countries() -> list[tuple[str, StrOrPromise]]:
    codes = sorted(c for c in holidays.list_supported_countries() if len(c) == 2)
    return [("", _("none: only the working days of the week")), *((c, c) for c in codes)]


def weekday_choices() -> list[tuple[str, Any]]:
    return [(str(day), WEEKDAYS[day - 1]) for day in range(1, 8)]  # ISO: 1 is Monday


class BusinessForm(Capitalised, forms.ModelForm[Business]):
    time_zone = forms.ChoiceField(
        label=_("time zone"), choices=zone_choices,
        help_text=_("The business's own clock: days, working hours and reports follow it"),
    )
    holidays_country = forms.ChoiceField(
        label=_("public holidays of"), choices=holiday_countries, required=False,
        help_text=_("ISO 3166 code whose public holidays are days off; empty: none"),
    )
    website = forms.URLField(label=_("website"), required=False, assume_scheme="https")
    working_weekdays = forms.MultipleChoiceField(
        label=_("working days of the week"), choices=weekday_choices,
        widget=forms.CheckboxSelectMultiple,
    )

    GROUPS: Groups = (
        (_("Name and place"), ("name", "time_zone", "country", "holidays_country")),
        (_("Working days"), ("working_weekdays",)),
        (_("How clients reach the business"), ("phone", "email", "website", "postal_address")),
        (_("Letters"), ("email_from_name", "email_from_address", "paper_from_age")),
    )

    class Meta:
        model = Business
        fields = BUSINESS_FIELDS
        widgets = {"paper_from_age": forms.NumberInput(attrs={"min": 0, "max": 120})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["working_weekdays"] = list(self.instance.working_weekdays or "")
        zone = self.instance.time_zone
        field = self.fields["time_zone"]
        assert isinstance(field, forms.ChoiceField)
        if zone and zone not in dict(zone_choices()):
            field.choices = [(zone, zone), *zone_choices()]  # an alias set in the admin
        self.fields["paper_from_age"].validators.append(MaxValueValidator(120))

    def groups(self) -> FieldGroups:
        return grouped(self, self.GROUPS)

    def clean_country(self) -> str:
        code = str(self.cleaned_data["country"]).strip().upper()
        if code not in phonenumbers.SUPPORTED_REGIONS:
            raise forms.ValidationError(_("Enter a two-letter country code, e.g. RU."))
        return code

    def clean_working_weekdays(self) -> str:
        return "".join(sorted(self.cleaned_data["working_weekdays"]))


class BusinessDayForm(Capitalised, forms.ModelForm[BusinessDay]):
    class Meta:
        model = BusinessDay
        fields = ("date", "is_working", "name")
        widgets = {"date": DateInput()}


class SendingRulesForm(Capitalised, forms.ModelForm[SendingRules]):
    """The guardrails, with each channel's delivery window as two times of day."""

    GROUPS: Groups = (
        (_("Days"), ("calls_on_working_days_only", "commercial_on_holidays", "spread_minutes")),
        (_("How often"), ("cap_per_day", "cap_per_week", "cap_per_channel_per_day",
                          "cap_per_channel_per_week", "max_postpone_days")),
        (_("Consent"), ("double_opt_in",)),
    )

    class Meta:
        model = SendingRules
        fields = (
            "calls_on_working_days_only", "commercial_on_holidays", "spread_minutes",
            "cap_per_day", "cap_per_week", "cap_per_channel_per_day",
            "cap_per_channel_per_week", "max_postpone_days", "double_opt_in",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        windows = self.instance.windows if isinstance(self.instance.windows, dict) else {}
        for code in Channel.values:
            hours = windows.get(code) or ["", ""]
            self.fields[f"window_{code}_from"] = forms.TimeField(
                label=capfirst(_("opens at")), required=False,
                widget=TimeInput(), initial=hours[0],
            )
            self.fields[f"window_{code}_to"] = forms.TimeField(
                label=capfirst(_("closes at")), required=False,
                widget=TimeInput(), initial=hours[1],
            )

    def groups(self) -> FieldGroups:
        return grouped(self, self.GROUPS)

    def window_rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [
            (str(label), self[f"window_{code}_from"], self[f"window_{code}_to"])
            for code, label in Channel.choices
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        windows: dict[str, list[str]] = {}
        for code, _label in Channel.choices:
            start, end = data.get(f"window_{code}_from"), data.get(f"window_{code}_to")
            if start is None and end is None:
                continue  # no window: the channel may deliver at any time
            if start is None or end is None:
                self.add_error(f"window_{code}_to" if start else f"window_{code}_from",
                               _("Give both times, or neither for any time of day."))
            elif not start < end:
                self.add_error(f"window_{code}_to", _("The window must end after it starts."))
            else:
                windows[code] = [start.strftime("%H:%M"), end.strftime("%H:%M")]
        data["windows"] = windows
        return data

    def values(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in (*self.Meta.fields, "windows")}


# --- the method's figures --------------------------------------------------------------------

METHOD_GROUPS: Groups = (
    (_("Touches and new leads"), (
        "warming_touches", "lc_window_days", "lc_touches_per_week", "winback_delay_days",
    )),
    (_("After the first purchase"), ("account_handoff", "account_manager")),
    (_("Kinds of clients"), (
        "regular_purchases", "regular_period_days", "discount_lover_share", "impulsive_hours",
    )),
    (_("Lapsed clients"), ("lapse_factor", "lapse_period_days", "lapse_min_purchases")),
    (_("Nudges for stuck deals"), (
        "nudge_max", "nudge_interval_days", "nudge_interval_growth", "nudge_auto_throw_days",
        "nudge_conversion", "nudge_min_sample", "nudge_settle_days", "nudge_no_winback",
    )),
)


def _full_name(user: User) -> str:
    return user.full_name


class MethodSettingsForm(Capitalised, forms.ModelForm[MethodSettings]):
    class Meta:
        model = MethodSettings
        fields = METHOD_FIELDS

    def __init__(self, *args: Any, business: Business, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.fields["account_manager"]
        assert isinstance(manager, forms.ModelChoiceField)
        manager.queryset = User.objects.filter(business=business, is_active=True).order_by(
            "first_name", "last_name", "username"
        )
        manager.label_from_instance = _full_name  # type: ignore[method-assign,assignment]
        for name in ("discount_lover_share", "nudge_conversion"):
            self.fields[name].validators += [
                MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))
            ]
            self.fields[name].help_text = self.fields[name].help_text or _(
                "A share from 0 to 1: 0.5 is a half"
            )
        for name in ("lapse_factor", "nudge_interval_growth"):
            self.fields[name].validators.append(MinValueValidator(Decimal(1)))
        for name in ("warming_touches", "lc_touches_per_week", "regular_purchases", "nudge_max",
                     "lc_window_days", "regular_period_days", "lapse_min_purchases"):
            self.fields[name].validators.append(MinValueValidator(1))

    def groups(self) -> FieldGroups:
        return grouped(self, METHOD_GROUPS)


# --- loss reasons, pipelines, stages ---------------------------------------------------------


class LossReasonForm(Capitalised, forms.ModelForm[LossReason]):
    class Meta:
        model = LossReason
        fields = ("name", "kind")


class LossReasonEditForm(Capitalised, forms.ModelForm[LossReason]):
    class Meta:
        model = LossReason
        fields = ("name", "kind", "is_active")
        help_texts = {"is_active": _("Unticked: sellers no longer pick it; old visits keep it")}


class PipelineForm(Capitalised, forms.ModelForm[Pipeline]):
    class Meta:
        model = Pipeline
        fields = ("name",)


class PipelineEditForm(Capitalised, forms.ModelForm[Pipeline]):
    class Meta:
        model = Pipeline
        fields = ("name", "is_active")


class StageForm(Capitalised, forms.ModelForm[DealStage]):
    class Meta:
        model = DealStage
        fields = ("name", "waits_for_client", "wait_days", "next_step")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["wait_days"].validators.append(MinValueValidator(1))


# --- provider accounts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One option or secret a provider reads (see docs/channels/)."""

    name: str
    label: StrOrPromise
    kind: str = "text"  # text, long (a textarea), int, float, bool
    help: StrOrPromise | str = ""


_API_URL = Setting("api_url", _("API address"), help=_(
    "A proxy or a test server; empty: the provider's own address"
))
_SENDER = Setting("sender", _("sender name"), help=_(
    "A sender name the provider approved; empty: the provider's default"
))

# What each provider reads from its account: options (shown) and secrets (never shown).
PROVIDER_SETTINGS: dict[str, tuple[tuple[Setting, ...], tuple[Setting, ...]]] = {
    "smsru": ((_SENDER, _API_URL), (Setting("api_id", _("API key")),)),
    "smsc": (
        (_SENDER, _API_URL),
        (Setting("login", _("login")), Setting("password", _("password")),
         Setting("apikey", _("API key"), help=_("Used instead of the login and password"))),
    ),
    "twilio": (
        (Setting("from", _("sending number")),
         Setting("messaging_service_sid", _("messaging service SID"), help=_(
             "Send through a messaging service instead of one number")),
         _API_URL),
        (Setting("account_sid", _("account SID")),
         Setting("auth_token", _("auth token"), help=_("Also checks the webhooks' signatures"))),
    ),
    "telegram": (
        (Setting("bot_username", _("bot username"), help=_("Without @, e.g. kedr_mebel_bot")),
         _API_URL,
         Setting("welcome_text", _("words after binding"), "long",
                 _("Empty: Kasatka's own words in the business's language")),
         Setting("invalid_link_text", _("words for a link that does not check out"), "long"),
         Setting("stopped_text", _("words after /stop"), "long"),
         Setting("no_link_text", _("words for Start without a personal link"), "long")),
        (Setting("bot_token", _("bot token"), help=_("BotFather's token, 123456789:AA…")),
         Setting("webhook_secret", _("webhook secret"), help=_(
             "Empty: derived from the site's secret key"))),
    ),
    "whatsapp": (
        (Setting("phone_number_id", _("phone number ID")),
         Setting("api_version", _("API version"), help=_("Empty: v21.0")),
         Setting("language", _("templates' language"), help=_("Empty: ru"))),
        (Setting("access_token", _("access token")),
         Setting("app_secret", _("app secret"), help=_("Signs the webhooks")),
         Setting("verify_token", _("verify token"))),
    ),
    "viber": (
        (Setting("sender_name", _("sender name"), help=_(
             "Up to 28 characters; empty: the business's name")),
         Setting("chat_uri", _("bot URI"), help=_("For the contacts' links")),
         Setting("min_api_version", _("minimal API version"), "int")),
        (Setting("auth_token", _("auth token")),),
    ),
    "vk": (
        (Setting("group_id", _("community ID")),
         Setting("screen_name", _("community short name"), help=_("For the contacts' links")),
         Setting("api_version", _("API version"), help=_("Empty: 5.199"))),
        (Setting("access_token", _("access token")),
         Setting("callback_secret", _("callback secret key")),
         Setting("confirmation", _("confirmation string"))),
    ),
    "imap": (
        (Setting("host", _("server")), Setting("port", _("port"), "int", _(
             "Empty: 993, or 143 without SSL")),
         Setting("username", _("login")), Setting("folder", _("folder"), help=_("Empty: INBOX")),
         Setting("move_to", _("move read messages to")),
         Setting("ssl", _("SSL"), "bool"), Setting("starttls", _("STARTTLS"), "bool"),
         Setting("cafile", _("CA bundle file")),
         Setting("timeout", _("timeout, seconds"), "float")),
        (Setting("password", _("password")),),
    ),
    "inbound": ((Setting("address", _("reply address"), help=_(
        "Mail to this address is taken as replies")),), ()),
}

_BOOL_CHOICES = [("", _("default")), ("true", _("yes")), ("false", _("no"))]


def provider_settings(provider: str) -> tuple[tuple[Setting, ...], tuple[Setting, ...]]:
    return PROVIDER_SETTINGS.get(provider, ((), ()))


class ProviderChoiceForm(Capitalised, forms.Form):
    provider = forms.ChoiceField(label=_("provider"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from kasatka.channels.registry import PROVIDERS

        super().__init__(*args, **kwargs)
        labels = dict(Channel.choices)
        field = self.fields["provider"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (code, f"{labels.get(cls.code, cls.code)}: {code}")
            for code, cls in sorted(PROVIDERS.items(), key=lambda item: (item[1].code, item[0]))
        ]


class NeverShownTextarea(forms.Textarea):
    """A textarea for secrets: what was typed is never sent back, not even with an error."""

    def format_value(self, value: Any) -> str | None:
        return None


def _option_field(setting: Setting) -> forms.Field:
    common: dict[str, Any] = {
        "label": capfirst(setting.label), "help_text": setting.help, "required": False,
    }
    if setting.kind == "int":
        return forms.IntegerField(min_value=0, **common)
    if setting.kind == "float":
        return forms.FloatField(min_value=0, **common)
    if setting.kind == "bool":
        return forms.ChoiceField(choices=_BOOL_CHOICES, **common)
    if setting.kind == "long":
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), **common)
    return forms.CharField(max_length=500, **common)


def _option_initial(setting: Setting, value: Any) -> Any:
    if setting.kind == "bool" and value is not None:
        return "true" if value else "false"
    return value


def _option_value(setting: Setting, value: Any) -> Any:
    """The JSON value of an option as typed; None leaves the option out."""
    if value is None or value == "":
        return None
    if setting.kind == "bool":
        return value == "true"
    return value


class ProviderAccountForm(Capitalised, forms.ModelForm[ProviderAccount]):
    """An account's fields, its provider's options one by one, and, for a user who may
    set them, a field per secret that never shows what is stored: empty keeps it."""

    extra_options = forms.CharField(
        label=_("other options (JSON)"), required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_('Options not listed above, e.g. {"api_url": "https://…"}'),
    )

    class Meta:
        model = ProviderAccount
        fields = ("name", "is_active", "rate_per_second")

    def __init__(self, *args: Any, may_set_secrets: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.may_set_secrets = may_set_secrets
        options_spec, secrets_spec = provider_settings(self.instance.provider)
        self.option_settings = options_spec
        self.secret_settings = secrets_spec
        stored = dict(self.instance.options or {})
        known = {s.name for s in options_spec}
        for setting in options_spec:
            self.fields[f"option_{setting.name}"] = field = _option_field(setting)
            field.initial = _option_initial(setting, stored.get(setting.name))
        extras = {k: v for k, v in stored.items() if k not in known}
        self.fields["extra_options"].initial = (
            json.dumps(extras, ensure_ascii=False) if extras else ""
        )
        rate = self.fields["rate_per_second"]
        assert isinstance(rate, forms.FloatField)
        rate.validators.append(MinValueValidator(0.01))
        rate.widget.attrs.update(min="0.01", step="any")

        try:
            self.stored_secrets = self.instance.masked_secrets()
            self.secrets_unreadable = False
        except ValueError:
            self.stored_secrets, self.secrets_unreadable = {}, True
        if not may_set_secrets:
            return
        secret_names = {s.name for s in secrets_spec}
        for setting in secrets_spec:
            masked = self.stored_secrets.get(setting.name)
            state = (_("Stored: %(masked)s. Empty: keep it.") % {"masked": masked or _("set")}
                     if setting.name in self.stored_secrets else _("Not set."))
            # Django's field template marks help text safe: the mask ends with the
            # secret's own characters, so it is escaped here.
            help_text = format_html("{} {}", setting.help, state) if setting.help else (
                format_html("{}", state)
            )
            self.fields[f"secret_{setting.name}"] = forms.CharField(
                label=capfirst(setting.label), required=False, strip=True, help_text=help_text,
                widget=forms.PasswordInput(
                    render_value=False, attrs={"autocomplete": "new-password"}
                ),
            )
            if setting.name in self.stored_secrets:
                self.fields[f"clear_{setting.name}"] = forms.BooleanField(
                    label=_("Remove the stored %(name)s") % {"name": setting.label},
                    required=False,
                )
        self.fields["extra_secrets"] = forms.JSONField(
            label=capfirst(_("other secrets (JSON)")), required=False,
            widget=NeverShownTextarea(attrs={"rows": 2, "autocomplete": "off"}),
            help_text=_('Secrets not listed above, e.g. {"token": "…"}; never shown back'),
        )
        self.other_stored = {
            k: v for k, v in self.stored_secrets.items() if k not in secret_names
        }

    def clean_extra_options(self) -> dict[str, Any]:
        text = str(self.cleaned_data.get("extra_options") or "").strip()
        try:
            value = json.loads(text) if text else {}
        except ValueError:
            value = None
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Write a JSON object, e.g. {"name": "value"}.'))
        return value

    def clean_extra_secrets(self) -> dict[str, str]:
        value = self.cleaned_data.get("extra_secrets") or {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise forms.ValidationError(_('Write a JSON object of texts, e.g. {"name": "…"}.'))
        return {str(k): v for k, v in value.items()}

    def account_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.Meta.fields]

    def option_fields(self) -> list[forms.BoundField]:
        return [self[f"option_{s.name}"] for s in self.option_settings] + [self["extra_options"]]

    def extra_secret_fields(self) -> list[forms.BoundField]:
        return [self["extra_secrets"]] if "extra_secrets" in self.fields else []

    def secret_fields(self) -> list[tuple[forms.BoundField, forms.BoundField | None]]:
        if not self.may_set_secrets:
            return []
        return [
            (self[f"secret_{s.name}"],
             self[f"clear_{s.name}"] if f"clear_{s.name}" in self.fields else None)
            for s in self.secret_settings
        ]

    def masked_rows(self) -> list[tuple[str, str]]:
        """What a user who may not set secrets sees: each secret's name and mask."""
        rows = [(str(s.label), self.stored_secrets.get(s.name, "")) for s in self.secret_settings]
        names = {s.name for s in self.secret_settings}
        rows += [(k, v) for k, v in self.stored_secrets.items() if k not in names]
        return rows

    def options(self) -> dict[str, Any]:
        merged: dict[str, Any] = dict(self.cleaned_data.get("extra_options") or {})
        for setting in self.option_settings:
            value = _option_value(setting, self.cleaned_data.get(f"option_{setting.name}"))
            if value is None:
                merged.pop(setting.name, None)
            else:
                merged[setting.name] = value
        return merged

    def values(self) -> dict[str, Any]:
        return {
            "name": self.cleaned_data["name"],
            "is_active": self.cleaned_data["is_active"],
            "rate_per_second": self.cleaned_data["rate_per_second"],
            "options": self.options(),
        }

    def secret_changes(self) -> dict[str, str | None] | None:
        """None for a user who may not set secrets; else the new values, None to remove."""
        if not self.may_set_secrets:
            return None
        changes: dict[str, str | None] = dict(self.cleaned_data.get("extra_secrets") or {})
        for setting in self.secret_settings:
            if self.cleaned_data.get(f"clear_{setting.name}"):
                changes[setting.name] = None
            elif value := self.cleaned_data.get(f"secret_{setting.name}"):
                changes[setting.name] = value
        return changes


# --- users -----------------------------------------------------------------------------------


def _role_choices(actor: User) -> list[tuple[str, Any]]:
    allowed = manageable_roles(actor)
    return [(value, label) for value, label in Role.choices if value in allowed]


class UserCreateForm(Capitalised, UserCreationForm[User]):
    class Meta:
        model = User
        field_classes = {"username": UsernameField}
        fields = ("username", "first_name", "last_name", "email", "role")

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        assert isinstance(role, forms.ChoiceField)
        role.choices = _role_choices(actor)
        role.initial = Role.SELLER


class UserEditForm(Capitalised, forms.ModelForm[User]):
    class Meta:
        model = User
        fields = ("first_name", "last_name", "email", "role", "is_active")
        help_texts = {"is_active": _("Unticked: the user can no longer sign in; nothing of "
                                     "theirs is deleted")}

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.fields["role"]
        assert isinstance(role, forms.ChoiceField)
        role.choices = _role_choices(actor)


class UserPasswordForm(Capitalised, SetPasswordForm):  # type: ignore[type-arg]
    """A new password a manager gives a user, checked by Django's validators."""


# --- lead sources ----------------------------------------------------------------------------


class LeadSourceForm(Capitalised, forms.ModelForm[LeadSource]):
    class Meta:
        model = LeadSource
        fields = ("name", "channel", "utm_source", "utm_medium", "utm_campaign")


class LeadSourceCostForm(Capitalised, forms.Form):
    period_start = forms.DateField(label=_("first day"), widget=DateInput())
    period_end = forms.DateField(label=_("last day"), widget=DateInput())
    amount = forms.DecimalField(
        label=_("cost"), max_digits=12, decimal_places=2, min_value=Decimal(0)
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", _("The period ends before it starts."))
        return data
