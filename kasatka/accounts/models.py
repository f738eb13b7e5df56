"""Businesses (tenants) and their users; every business row points at its tenant."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the tz database: ~10 ms, once


def validate_time_zone(value: str) -> None:
    if value not in _time_zones():
        raise ValidationError(_("Unknown time zone: %(tz)s"), params={"tz": value})


def validate_weekdays(value: str) -> None:
    if not value or any(c not in "1234567" for c in value) or len(set(value)) != len(value):
        raise ValidationError(
            _("Working days are ISO day numbers, 1 (Monday) to 7 (Sunday), each once.")
        )


def default_paper_age() -> int:
    """KASATKA_PAPER_FROM_AGE: the age from which the method sends paper (default 50)."""
    from django.conf import settings

    return int(settings.KASATKA_PAPER_FROM_AGE)


class Business(models.Model):
    """A tenant: one shop, studio or company with its own contacts and chains."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/Moscow", validators=[validate_time_zone]
    )
    country = models.CharField(
        _("country"), max_length=2, default="RU", help_text=_("ISO 3166 code; phone region")
    )
    language = models.CharField(_("language"), max_length=8, default="ru")
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    website = models.URLField(_("website"), blank=True)
    postal_address = models.CharField(_("postal address"), max_length=300, blank=True)
    paper_from_age = models.PositiveSmallIntegerField(
        _("printed letters from age"),
        null=True,
        blank=True,
        default=default_paper_age,
        help_text=_(
            "Contacts of this age or older get a printed letter where a step allows one "
            "(the method: 50+); empty: never prefer paper"
        ),
    )
    working_weekdays = models.CharField(
        _("working days of the week"), max_length=7, default="12345",
        validators=[validate_weekdays],
        help_text=_("ISO numbers of the days the business works: 1 Monday … 7 Sunday"),
    )
    holidays_country = models.CharField(
        _("public holidays of"), max_length=2, blank=True, default="RU",
        help_text=_("ISO 3166 code whose public holidays are days off; empty: none"),
    )
    email_from_name = models.CharField(_("sender name"), max_length=100, blank=True)
    email_from_address = models.EmailField(
        _("sender e-mail"), blank=True, help_text=_("Empty: the server's default sender")
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("business")
        verbose_name_plural = _("businesses")

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


class Role(models.TextChoices):
    OWNER = "owner", _("owner")
    HEAD_OF_SALES = "head_of_sales", _("head of sales")
    SELLER = "seller", _("seller")
    MARKETER = "marketer", _("marketer")


class User(AbstractUser):
    """A person working in a business; superusers may have no business."""

    business = models.ForeignKey(
        Business,
        verbose_name=_("business"),
        on_delete=models.CASCADE,
        related_name="users",
        null=True,
        blank=True,
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.SELLER)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    patronymic = models.CharField(_("patronymic"), max_length=100, blank=True)
    language = models.CharField(
        _("language"), max_length=8, blank=True,
        help_text=_("The language of the user's screens; empty: the browser's"),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.username


class BusinessScoped(models.Model):
    """Abstract base of every row that belongs to one business."""

    business = models.ForeignKey(
        Business, verbose_name=_("business"), on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        abstract = True


class BusinessDay(BusinessScoped):
    """A date that differs from the usual calendar: a day off of the business's own, or a
    working day the government moved onto a weekend."""

    date = models.DateField(_("date"))
    is_working = models.BooleanField(
        _("working day"), default=False,
        help_text=_("Ticked: a working day (a moved Saturday); unticked: a day off"),
    )
    name = models.CharField(_("name"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("calendar exception")
        verbose_name_plural = _("calendar exceptions")
        constraints = [
            models.UniqueConstraint(fields=["business", "date"], name="business_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date}: {self.name}"


class AccountHandoff(models.TextChoices):
    KEEP_SELLER = "keep", _("the seller who sold keeps the client")
    ACCOUNT_MANAGER = "manager", _("the account manager takes the client")


class MethodSettings(models.Model):
    """The method's figures for one business (METHOD.md): each a setting with its default.

    `method_settings(business)` gives them, created with the defaults on first use.
    """

    business = models.OneToOneField(
        Business, verbose_name=_("business"), on_delete=models.CASCADE, related_name="+"
    )
    # §2 touches
    warming_touches = models.PositiveSmallIntegerField(
        _("touches of a warming chain"), default=7,
        help_text=_("The method: most sales come after the 7th touch; the chain linter warns "
                    "about a shorter warming chain"),
    )
    # §3 lead conversion
    lc_window_days = models.PositiveSmallIntegerField(
        _("lead conversion window, days"), default=30,
        help_text=_("The hottest days after the contact was taken (the method: 30)"),
    )
    lc_touches_per_week = models.PositiveSmallIntegerField(
        _("lead conversion touches a week"), default=3,
        help_text=_("How often a new lead is touched in the window (the method: 2–3)"),
    )
    winback_delay_days = models.PositiveSmallIntegerField(
        _("win-back after a competitor's sale, days"), default=90,
    )
    account_handoff = models.CharField(
        _("after the first purchase"), max_length=10, choices=AccountHandoff.choices,
        default=AccountHandoff.KEEP_SELLER,
    )
    account_manager = models.ForeignKey(
        "accounts.User", verbose_name=_("account manager"), on_delete=models.SET_NULL,
        null=True, blank=True, related_name="+",
    )
    # §4 lifecycle
    regular_purchases = models.PositiveSmallIntegerField(
        _("purchases that make a regular client"), default=3,
    )
    regular_period_days = models.PositiveIntegerField(
        _("…within days"), default=365,
    )
    discount_lover_share = models.DecimalField(
        _("discount lover: share of purchases on promotion"), max_digits=3, decimal_places=2,
        default=Decimal("0.50"),
    )
    impulsive_hours = models.PositiveSmallIntegerField(
        _("impulsive: bought within hours of the first contact"), default=24,
    )
    # §6 lapse and win-back
    lapse_factor = models.DecimalField(
        _("lapsed after the client's usual gap times"), max_digits=4, decimal_places=2,
        default=Decimal("2.00"),
    )
    lapse_period_days = models.PositiveIntegerField(
        _("lapsed after days (the business's own period)"), null=True, blank=True,
        help_text=_("E.g. 540 (18 months) for furniture, 3 for a coffee shop; empty: each "
                    "client's own rhythm"),
    )
    lapse_min_purchases = models.PositiveSmallIntegerField(
        _("purchases before a client can lapse"), default=2,
    )
    # §5 nudges for stuck deals
    nudge_max = models.PositiveSmallIntegerField(
        _("nudges before a call"), default=3,
        help_text=_("Unanswered nudges in one stage before the seller gets a call task"),
    )
    nudge_interval_days = models.PositiveSmallIntegerField(
        _("business days between the first nudges"), default=2,
    )
    nudge_interval_growth = models.DecimalField(
        _("each next interval times"), max_digits=3, decimal_places=1, default=Decimal("2.0"),
        help_text=_("2: the gaps after the 1st, 2nd and 3rd nudges are 2, 4 and 8 days"),
    )
    nudge_auto_throw_days = models.PositiveSmallIntegerField(
        _("throw a proposed nudge automatically after business days"), null=True, blank=True,
        help_text=_("Empty: the seller throws every nudge"),
    )
    nudge_conversion = models.DecimalField(
        _("nudge to order conversion until measured"), max_digits=3, decimal_places=2,
        default=Decimal("0.30"), help_text=_("The method: 30 orders from 100 nudges"),
    )
    nudge_min_sample = models.PositiveSmallIntegerField(
        _("settled nudges before the business's own conversion is used"), default=30,
    )
    nudge_settle_days = models.PositiveSmallIntegerField(
        _("a nudge counts towards an order placed within days"), default=30,
    )
    nudge_no_winback = models.BooleanField(
        _("win back a client who said no to a deal"), default=False,
        help_text=_("The client goes into the win-back chain after the win-back delay"),
    )

    class Meta:
        verbose_name = _("method settings")
        verbose_name_plural = _("method settings")

    def __str__(self) -> str:
        return str(_("Method settings"))


# Local hours a channel may deliver in (issue 7). Channels not listed (e-mail, letters)
# deliver at any time. Calls also keep to the business's working days.
DEFAULT_WINDOWS: dict[str, list[str]] = {
    "sms": ["09:00", "21:00"],
    "telegram": ["09:00", "21:00"],
    "whatsapp": ["09:00", "21:00"],
    "viber": ["09:00", "21:00"],
    "vk": ["09:00", "21:00"],
    "call": ["10:00", "19:00"],
}


def default_windows() -> dict[str, list[str]]:
    return {channel: list(hours) for channel, hours in DEFAULT_WINDOWS.items()}


def validate_windows(value: Any) -> None:
    """{"sms": ["09:00", "21:00"], …}: a channel's local window, start before end."""
    from datetime import time

    from kasatka.contacts.models import Channel

    if not isinstance(value, dict):
        raise ValidationError(_("Windows must be a JSON object of channel: [from, to]."))
    for channel, hours in value.items():
        if channel not in Channel.values:
            raise ValidationError(_("Unknown channel: %(names)s"), params={"names": channel})
        try:
            start, end = (time.fromisoformat(h) for h in hours)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                _("%(channel)s: write the window as [\"09:00\", \"21:00\"]."),
                params={"channel": channel},
            ) from exc
        if not start < end:
            raise ValidationError(
                _("%(channel)s: the window must start before it ends."),
                params={"channel": channel},
            )


class SendingRules(models.Model):
    """The guardrails of one business (issue 7): quiet hours, caps, opt-in.

    `sending_rules(business)` gives them, created with the defaults on first use.
    """

    business = models.OneToOneField(
        Business, verbose_name=_("business"), on_delete=models.CASCADE, related_name="+"
    )
    windows = models.JSONField(
        _("delivery windows, the contact's local time"), default=default_windows,
        validators=[validate_windows], blank=True,
        help_text=_('Per channel, e.g. {"sms": ["09:00", "21:00"]}; a channel not listed '
                    "(e-mail, letters) may deliver at any time"),
    )
    calls_on_working_days_only = models.BooleanField(
        _("calls on working days only"), default=True,
    )
    commercial_on_holidays = models.BooleanField(
        _("commercial touches on public holidays"), default=False,
        help_text=_("Unticked: offers wait for the next ordinary day in the contact's country"),
    )
    spread_minutes = models.PositiveSmallIntegerField(
        _("spread re-timed touches over minutes"), default=30,
        help_text=_("So that thousands held overnight do not all fire at 09:00:00"),
    )
    cap_per_day = models.PositiveSmallIntegerField(
        _("commercial touches a day, all channels"), default=1,
    )
    cap_per_week = models.PositiveSmallIntegerField(
        _("commercial touches a week, all channels"), default=3,
    )
    cap_per_channel_per_day = models.PositiveSmallIntegerField(
        _("commercial touches a day on one channel"), default=1,
    )
    cap_per_channel_per_week = models.PositiveSmallIntegerField(
        _("commercial touches a week on one channel"), default=3,
    )
    max_postpone_days = models.PositiveSmallIntegerField(
        _("skip a touch postponed by more than days"), default=14,
        help_text=_("A touch the caps would push further than this is skipped, with the reason"),
    )
    double_opt_in = models.BooleanField(
        _("double opt-in for e-mail"), default=False,
        help_text=_("E-mail consent from a form counts once the contact confirms it by a link"),
    )

    class Meta:
        verbose_name = _("sending rules")
        verbose_name_plural = _("sending rules")

    def __str__(self) -> str:
        return str(_("Sending rules"))


def sending_rules(business: Business | int) -> SendingRules:
    """The business's guardrails, created with the defaults on first use."""
    business_id = business if isinstance(business, int) else business.pk
    rules, _created = SendingRules.objects.get_or_create(business_id=business_id)
    return rules


def method_settings(business: Business | int) -> MethodSettings:
    """The business's method settings, created with the method's defaults on first use."""
    business_id = business if isinstance(business, int) else business.pk
    settings_row, _created = MethodSettings.objects.get_or_create(business_id=business_id)
    return settings_row


class Notice(BusinessScoped):
    """Something the owner must know about and nobody asked for: a webhook subscription
    paused after days of failures, an import that ended. Shown on Today to those who
    manage the settings, and e-mailed to the owners, until someone dismisses it."""

    kind = models.SlugField(_("kind"), max_length=60)
    title = models.CharField(_("title"), max_length=300)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    dismissed_at = models.DateTimeField(_("dismissed"), null=True, blank=True)
    dismissed_by = models.ForeignKey(
        User, verbose_name=_("dismissed by"), on_delete=models.SET_NULL, null=True,
        blank=True, related_name="+",
    )

    class Meta:
        verbose_name = _("notice")
        verbose_name_plural = _("notices")
        indexes = [
            models.Index(
                fields=["business", "-created_at"], name="notice_open",
                condition=models.Q(dismissed_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return self.title
