"""Telling the owner: a notice on Today and an e-mail to each owner with an address."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction

from kasatka.engine.clock import now as clock_now

from .models import Business, Notice, Role, User

logger = logging.getLogger("kasatka.notices")


def notify_owners(
    business: Business, kind: str, title: str, body: str = "", url: str = ""
) -> Notice:
    """Record a notice for the business and e-mail it to its owners after the commit.

    A notice of the same kind and title still open is not repeated: the owner is told
    once, not once a minute. A failing mail server is logged; the notice stays on Today.
    """
    open_one = Notice.objects.filter(
        business=business, kind=kind, title=title, dismissed_at__isnull=True
    ).first()
    if open_one is not None:
        return open_one
    notice = Notice.objects.create(
        business=business, kind=kind, title=title[:300], body=body, url=url[:500],
        created_at=clock_now(),
    )
    transaction.on_commit(lambda: _mail(notice.pk))
    return notice


def _mail(notice_id: int) -> None:
    notice = Notice.objects.select_related("business").get(pk=notice_id)
    owners = User.objects.filter(
        business=notice.business, role=Role.OWNER, is_active=True
    ).exclude(email="")
    recipients = [o.email for o in owners]
    if not recipients:
        return
    link = f"\n\n{settings.KASATKA_BASE_URL}{notice.url}" if notice.url else ""
    message = EmailMessage(
        subject=f"Kasatka: {notice.title}",
        body=f"{notice.body}{link}",
        from_email=notice.business.email_from_address or settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    try:
        message.send()
    except OSError:
        logger.exception("could not e-mail notice %s to the owners", notice.pk)


def open_notices(business: Business, limit: int = 10) -> list[Notice]:
    return list(
        Notice.objects.filter(business=business, dismissed_at__isnull=True)
        .order_by("-created_at", "-pk")[:limit]
    )


def dismiss(notice: Notice, user: User) -> None:
    if notice.dismissed_at is None:
        notice.dismissed_at = clock_now()
        notice.dismissed_by = user
        notice.save(update_fields=["dismissed_at", "dismissed_by"])
