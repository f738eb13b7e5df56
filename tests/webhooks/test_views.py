"""The owner's pages: add a webhook, see its secret, test it, read the log, re-send,
pause and resume, remove; nobody else's role opens them."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from kasatka.contacts.actions import create_contact
from kasatka.webhooks import actions
from kasatka.webhooks.delivery import deliver_due
from kasatka.webhooks.models import (
    DeliveryStatus,
    EventType,
    WebhookDelivery,
    WebhookSubscription,
)

pytestmark = pytest.mark.django_db


def test_the_owner_adds_a_webhook_and_sees_its_secret(client, shop, owner, receiver):
    client.force_login(owner)
    response = client.post(reverse("webhooks:list"), {
        "name": "1С", "url": receiver.url,
        "event_types": [EventType.CONTACT_CREATED, EventType.DEAL_STAGE_CHANGED],
    })
    sub = WebhookSubscription.objects.get(business=shop)
    assert response.status_code == 302 and response.url == reverse("webhooks:detail",
                                                                   args=[sub.pk])
    assert sub.created_by == owner and sub.event_types == ["contact.created",
                                                            "deal.stage_changed"]
    page = client.get(response.url)
    assert page.status_code == 200
    [shown] = re.findall(r"<code class=\"wrap\" data-secret>([^<]+)</code>",
                         page.content.decode())
    assert shown == sub.secret and shown.startswith("whsec_")
    assert "whsec_" not in sub.secret_encrypted  # encrypted at rest
    listing = client.get(reverse("webhooks:list"))
    assert f'data-subscription="{sub.pk}"' in listing.content.decode()


def test_a_plain_http_address_elsewhere_is_refused(client, shop, owner):
    client.force_login(owner)
    response = client.post(reverse("webhooks:list"), {
        "url": "http://example.ru/hooks", "event_types": [EventType.CONTACT_CREATED],
    })
    assert response.status_code == 400
    assert not WebhookSubscription.objects.exists()
    assert 'data-field="url"' in response.content.decode()


def test_the_test_button_sends_a_signed_test_event(client, shop, owner, clock, receiver):
    sub = actions.create_subscription(shop, receiver.url, [EventType.CONTACT_CREATED])
    receiver.secret = sub.secret
    client.force_login(owner)
    response = client.post(reverse("webhooks:test", args=[sub.pk]))
    assert response.status_code == 302
    deliver_due(clock.now())
    [request] = receiver.accepted()
    assert request.signature_ok and request.json["type"] == "webhook.test"
    page = client.get(reverse("webhooks:detail", args=[sub.pk])).content.decode()
    delivery = WebhookDelivery.objects.get()
    assert f'data-delivery="{delivery.pk}" data-status="delivered"' in page


def test_the_log_shows_attempts_and_a_failed_delivery_is_sent_again(
    client, shop, owner, clock, receiver
):
    receiver.answer = lambda n, msg_id: 500 if n == 1 else 200
    sub = actions.create_subscription(shop, receiver.url, [EventType.CONTACT_CREATED])
    receiver.secret = sub.secret
    create_contact(shop, first_name="Анна")
    deliver_due(clock.now())
    delivery = WebhookDelivery.objects.get()
    client.force_login(owner)

    page = client.get(reverse("webhooks:delivery", args=[delivery.pk])).content.decode()
    assert 'data-code="500"' in page and "not now" in page  # the answer's excerpt
    response = client.post(reverse("webhooks:resend", args=[delivery.pk]))
    assert response.status_code == 302
    deliver_due(clock.now())  # due now, not at its backoff
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    page = client.get(reverse("webhooks:delivery", args=[delivery.pk])).content.decode()
    assert 'id="resend"' not in page  # accepted: never sent again
    client.post(reverse("webhooks:resend", args=[delivery.pk]))
    assert len(receiver.requests) == 2


def test_pause_resume_edit_and_remove(client, shop, owner, clock, receiver):
    sub = actions.create_subscription(shop, receiver.url, [EventType.CONTACT_CREATED])
    client.force_login(owner)
    client.post(reverse("webhooks:pause", args=[sub.pk]))
    sub.refresh_from_db()
    assert sub.paused_at is not None
    assert 'id="paused"' in client.get(reverse("webhooks:detail", args=[sub.pk])).content.decode()
    create_contact(shop, first_name="Анна")
    client.post(reverse("webhooks:resume", args=[sub.pk]))
    sub.refresh_from_db()
    assert sub.paused_at is None
    assert WebhookDelivery.objects.get().status == DeliveryStatus.PENDING

    old_secret = sub.secret
    client.post(reverse("webhooks:rotate_secret", args=[sub.pk]))
    sub.refresh_from_db()
    assert sub.secret != old_secret

    response = client.post(reverse("webhooks:detail", args=[sub.pk]), {
        "name": "Сайт", "url": receiver.url, "event_types": [EventType.VISIT_RECORDED],
    })
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.name == "Сайт" and sub.event_types == ["visit.recorded"] and not sub.is_active

    client.post(reverse("webhooks:delete", args=[sub.pk]))
    assert not WebhookSubscription.objects.exists() and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize("role", ["head", "alice", "marketer"])
def test_only_the_owner_opens_the_pages(client, shop, role, request, receiver):
    sub = actions.create_subscription(shop, receiver.url, [EventType.CONTACT_CREATED])
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("webhooks:list")).status_code == 403
    assert client.get(reverse("webhooks:detail", args=[sub.pk])).status_code == 403
    assert client.post(reverse("webhooks:test", args=[sub.pk])).status_code == 403


def test_another_business_s_webhook_is_not_found(client, other_shop, owner, receiver, clock):
    theirs = actions.create_subscription(other_shop, receiver.url, [EventType.CONTACT_CREATED])
    delivery = actions.send_test(theirs)
    client.force_login(owner)
    assert client.get(reverse("webhooks:detail", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("webhooks:pause", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("webhooks:delivery", args=[delivery.pk])).status_code == 404
    assert client.post(reverse("webhooks:resend", args=[delivery.pk])).status_code == 404
    assert client.post(reverse("webhooks:delete", args=[theirs.pk])).status_code == 404
