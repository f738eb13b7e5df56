"""Businesses (tenants) and their users; every business row points at its tenant."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo, available_timezones

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())  # reads the tz database: ~10 ms, once


def validate_time_zone(value: str) -> None:
    if value not in _time_zones():
        raise ValidationError(_("Unknown time zone: %(tz)s"), params={"tz": value})


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
