"""Business actions on webhook subscriptions: the owner's page and the API call these."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business, User
from kasatka.engine.clock import now as clock_now

from . import delivery, signing
from .events import forget_subscriptions, test_event
from .models import EventType, WebhookDelivery, WebhookSubscription

# Plain http only to this machine (a receiver under development); anything else goes
# over TLS, for the payloads carry clients' names and phones.
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

pause = delivery.pause
resume = delivery.resume
resend = delivery.resend


def check_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        return url
    raise ValidationError(
        {"url": _("The address must start with https:// (http:// only for this machine).")}
    )


def check_event_types(types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(types))
    unknown = [t for t in chosen if t not in EventType.values]
    if unknown:
        raise ValidationError(
            {"event_types": _("Unknown events: %(names)s") % {"names": ", ".join(unknown)}}
        )
    if not chosen:
        raise ValidationError({"event_types": _("Choose at least one event.")})
    return chosen


def _changed(sub: WebhookSubscription) -> None:
    # This process sees the change at once, the others within CACHE_SECONDS.
    forget_subscriptions()
    transaction.on_commit(forget_subscriptions)


def create_subscription(
    business: Business,
    url: str,
    event_types: Iterable[str],
    name: str = "",
    by: User | None = None,
) -> WebhookSubscription:
    """A new receiver with its own signing secret (shown to the owner on its page)."""
    sub = WebhookSubscription(
        business=business, name=name.strip()[:100], url=check_url(url),
        event_types=check_event_types(event_types), created_by=by, created_at=clock_now(),
    )
    sub.secret = signing.new_secret()
    sub.save()
    _changed(sub)
    return sub


def update_subscription(
    sub: WebhookSubscription,
    *,
    url: str,
    event_types: Iterable[str],
    name: str = "",
    is_active: bool = True,
) -> WebhookSubscription:
    """Switched off, its waiting deliveries are held; switched on again (and not paused),
    they are sent."""
    was_active = sub.is_active
    sub.url = check_url(url)
    sub.event_types = check_event_types(event_types)
    sub.name = name.strip()[:100]
    sub.is_active = is_active
    with transaction.atomic():
        sub.save(update_fields=["url", "event_types", "name", "is_active", "updated_at"])
        if was_active and not is_active:
            delivery.hold_pending(sub)
        elif is_active and not was_active and sub.paused_at is None:
            delivery.release_held(sub)
    _changed(sub)
    return sub


def delete_subscription(sub: WebhookSubscription) -> None:
    """The subscription, its deliveries and their log go; the events stay for the others."""
    sub.delete()
    _changed(sub)


def rotate_secret(sub: WebhookSubscription) -> str:
    """A new signing secret: from now on every attempt is signed with it."""
    sub.secret = signing.new_secret()
    sub.save(update_fields=["secret_encrypted", "updated_at"])
    return sub.secret


def send_test(sub: WebhookSubscription) -> WebhookDelivery:
    """A `webhook.test` event to this subscription alone, queued like any other."""
    if sub.paused_at is not None:
        raise ValidationError(_("The subscription is paused; resume it first."))
    with transaction.atomic():
        test_event(sub)
        return WebhookDelivery.objects.filter(subscription=sub).latest("pk")
