"""API keys: per business, with a scope, stored hashed, shown once, revocable."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kasatka.accounts.models import BusinessScoped, User


class Scope(models.TextChoices):
    READ = "read", _("read only")
    WRITE = "write", _("read and write")
    LEADS = "leads", _("leads only")


class ApiKey(BusinessScoped):
    """A key another system uses to call `/api/v1/` for one business.

    The key is `ksk_<prefix>_<secret>`; the prefix finds the row and the SHA-256 of the
    whole key proves it. The secret is 32 random bytes: a fast hash is enough (there is
    nothing to guess), and the plain key exists only in the answer that created it.
    """

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True)
    hashed = models.CharField(_("hash"), max_length=64)
    scope = models.CharField(_("scope"), max_length=8, choices=Scope.choices)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    created_by = models.ForeignKey(
        User, verbose_name=_("created by"), on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # Requests per minute; 0: the site's default (KASATKA_API_RATE_PER_MINUTE).
    rate_per_minute = models.PositiveIntegerField(_("requests per minute"), default=0)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} (ksk_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
