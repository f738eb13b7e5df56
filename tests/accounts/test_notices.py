"""Notices: the owner is told once, on Today and by e-mail, until someone dismisses it."""

from __future__ import annotations

import pytest
from django.db import transaction

from kasatka.accounts.models import Notice
from kasatka.accounts.notices import notify_owners

pytestmark = pytest.mark.django_db(transaction=True)


def _notify(shop, title="Вебхук приостановлен"):
    with transaction.atomic():
        return notify_owners(shop, "webhook-paused", title, "Получатель не отвечает 3 дня.",
                             url="/settings/webhooks/")


def test_the_owner_gets_one_mail_and_a_notice_on_today(client, shop, owner, head, alice, smtp):
    owner.email = "olga@example.com"
    owner.save()
    first = _notify(shop)
    again = _notify(shop)  # the same, still open: not repeated
    assert first.pk == again.pk
    assert Notice.objects.filter(business=shop).count() == 1
    mails = smtp.messages
    assert len(mails) == 1
    assert mails[0]["To"] == "olga@example.com"
    assert "Получатель не отвечает 3 дня." in mails[0].get_payload()

    for user, sees in ((owner, True), (head, True), (alice, False)):
        client.force_login(user)
        page = client.get("/").content.decode()
        assert (f'data-notice="{first.pk}"' in page) is sees, user.username


def test_a_dismissed_notice_leaves_today_and_can_come_again(client, shop, owner):
    notice = _notify(shop)
    client.force_login(owner)
    answer = client.post(f"/notices/{notice.pk}/dismiss/")
    assert answer.status_code == 302
    notice.refresh_from_db()
    assert notice.dismissed_by == owner
    assert f'data-notice="{notice.pk}"' not in client.get("/").content.decode()
    assert _notify(shop).pk != notice.pk  # it happened again: a new notice


def test_no_owner_address_no_mail_but_the_notice_stays(client, shop, owner, smtp):
    owner.email = ""
    owner.save()
    _notify(shop)
    assert smtp.messages == []
    assert Notice.objects.filter(business=shop, dismissed_at__isnull=True).count() == 1
