"""System checks of the channels' configuration (`kasatka check --deploy` shows them)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.security, deploy=True)
def check_links_and_secrets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    if not settings.KASATKA_BASE_URL.startswith("https://"):
        found.append(Warning(
            "KASATKA_BASE_URL is not https: mail providers ignore one-click unsubscribe "
            "(RFC 8058) on plain http links.",
            id="kasatka.W001",
        ))
    if settings.SECRET_KEY.startswith("insecure-kasatka-dev-key"):
        found.append(Warning(
            "KASATKA_SECRET_KEY is the development key: anyone could forge unsubscribe links.",
            id="kasatka.W002",
        ))
    if settings.EMAIL_BACKEND.endswith("smtp.EmailBackend") and not settings.EMAIL_HOST:
        found.append(Warning("KASATKA_SMTP_HOST is empty: e-mail cannot be sent.",
                             id="kasatka.W003"))
    return found
