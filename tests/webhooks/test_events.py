"""Each event type is emitted by the action that makes it happen, with its payload, in
the action's transaction; a business without subscribers gets no rows at all."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import transaction
from django.test.utils import CaptureQueriesContext

from kasatka.chains.actions import enroll
from kasatka.channels.base import InboundEvent, StatusEvent
from kasatka.channels.inbound import apply_events
from kasatka.channels.models import ProviderAccount
from kasatka.contacts.actions import create_contact, withdraw_consent
from kasatka.contacts.models import ConsentBasis
from kasatka.deals.actions import create_deal, lose_deal, move_deal
from kasatka.deals.library import ensure_default_pipeline
from kasatka.engine.worker import EngineConfig, Worker
from kasatka.sales.actions import active_loss_reasons, ensure_default_loss_reasons, record_visit
from kasatka.webhooks import actions
from kasatka.webhooks.delivery import deliver_due
from kasatka.webhooks.events import wants
from kasatka.webhooks.models import EventType, WebhookDelivery, WebhookEvent
from tests import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything(shop, owner, receiver):
    sub = actions.create_subscription(shop, receiver.url, EventType.values, by=owner)
    receiver.secret = sub.secret
    return sub


def events(kind: str) -> list[dict]:
    return [json.loads(e.body) for e in WebhookEvent.objects.filter(type=kind).order_by("pk")]


def run_engine(clock) -> None:
    Worker(EngineConfig(batch_size=50), clock=clock, worker_id="w-test").run_batch()


def test_a_new_contact_is_announced_with_its_phones_and_emails(shop, alice, everything, clock):
    anna = create_contact(
        shop, first_name="Анна", last_name="Иванова", owner=alice,
        phones=["8 (916) 123-45-67"], emails=["Anna@Example.com"],
    )
    [event] = events(EventType.CONTACT_CREATED)
    assert event["type"] == "contact.created" and event["business"] == shop.pk
    assert event["id"].startswith("msg_") and event["created_at"] == "2026-03-02T07:00:00Z"
    contact = event["data"]["contact"]
    assert contact["id"] == anna.pk and contact["name"] == "Иванова Анна"
    assert contact["phones"] == ["+79161234567"] and contact["emails"] == ["Anna@example.com"]
    assert contact["owner"] == alice.pk


def test_a_visit_is_announced_with_its_contact(shop, alice, everything, clock):
    ensure_default_loss_reasons(shop)
    anna = builders.contact(shop, owner=alice)
    visit = record_visit(
        anna, business_id=shop.pk, bought=False, contacts_taken=True, seller=alice,
        loss_reason=active_loss_reasons(shop)[0], note="смотрела диваны",
    )
    [event] = events(EventType.VISIT_RECORDED)
    data = event["data"]
    assert data["visit"]["id"] == visit.pk and data["visit"]["bought"] is False
    assert data["visit"]["visit_type"] == visit.visit_type and data["visit"]["seller"] == alice.pk
    assert data["visit"]["note"] == "смотрела диваны"
    assert data["contact"]["id"] == anna.pk and data["contact"]["emails"] == ["anna@example.com"]


def test_a_purchase_visit_carries_its_amount(shop, alice, everything, clock):
    anna = builders.contact(shop, owner=alice)
    record_visit(anna, business_id=shop.pk, bought=True, contacts_taken=True, seller=alice,
                 amount=Decimal("75000.00"))
    [event] = events(EventType.VISIT_RECORDED)
    assert event["data"]["visit"]["amount"] == "75000.00"


def test_a_deal_moving_and_closing_is_announced(shop, alice, everything, clock):
    ensure_default_loss_reasons(shop)
    stages = list(ensure_default_pipeline(shop).stages.order_by("position"))
    anna = builders.contact(shop, owner=alice)
    deal = create_deal(anna, "Кухня «Лофт»", 120000, stage=stages[0], seller=alice)
    assert events(EventType.DEAL_STAGE_CHANGED) == []  # opening is not a change of stage
    move_deal(deal, stages[2], by=alice, reason="прислали смету")
    lose_deal(deal, active_loss_reasons(shop)[0], by=alice)
    moved, lost = (e["data"] for e in events(EventType.DEAL_STAGE_CHANGED))
    assert moved["deal"]["id"] == deal.pk and moved["deal"]["amount"] == "120000"
    assert moved["from_stage"] == {"id": stages[0].pk, "name": stages[0].name}
    assert moved["to_stage"] == {"id": stages[2].pk, "name": stages[2].name}
    assert moved["status"] == "open" and moved["reason"] == "прислали смету"
    assert lost["status"] == "lost" and lost["to_stage"]["id"] == stages[2].pk


def test_a_withdrawn_consent_is_announced(shop, everything, clock):
    anna = builders.contact(shop)
    WebhookEvent.objects.all().delete()
    withdraw_consent(anna, "email", ConsentBasis.UNSUBSCRIBE, "touch t1-1")
    [event] = events(EventType.CONSENT_CHANGED)
    assert event["data"]["contact"] == {"id": anna.pk}
    consent = event["data"]["consent"]
    assert consent["channel"] == "email" and consent["status"] == "withdrawn"
    assert consent["purpose"] == "commercial" and consent["basis"] == "unsubscribe"


def test_the_engine_announces_touches_sent_and_failed_in_one_go(
    shop, everything, clock, smtp, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    smtp.reject["boris@example.com"] = "550 5.1.1 No such user"
    chain = builders.chain(shop)
    anna = builders.contact(shop, email="anna@example.com")
    boris = builders.contact(shop, email="boris@example.com", first_name="Борис",
                             patronymic="Петрович", last_name="Смирнов")
    enroll(anna, chain)
    enroll(boris, chain)
    with CaptureQueriesContext(transaction.get_connection()) as queries:
        run_engine(clock)
    [sent] = events(EventType.TOUCH_SENT)
    [failed] = events(EventType.TOUCH_FAILED)
    assert sent["data"]["contact"] == {"id": anna.pk, "name": "Иванова Анна Сергеевна"}
    assert sent["data"]["touch"]["channel"] == "email"
    assert sent["data"]["touch"]["status"] == "sent"
    assert sent["data"]["touch"]["to"] == "anna@example.com"
    assert failed["data"]["contact"]["id"] == boris.pk
    assert failed["data"]["touch"]["status"] == "bounced"
    assert "550" in failed["data"]["touch"]["error"]
    # The batch's events: one query for the subscribers and one insert of each kind.
    webhook_queries = [q["sql"] for q in queries.captured_queries if "webhooks_" in q["sql"]]
    assert len(webhook_queries) == 3


@pytest.mark.parametrize("contacts", [2, 12])
def test_the_engine_without_subscribers_asks_once_per_batch(
    shop, other_shop, clock, smtp, settings, receiver, contacts
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    actions.create_subscription(other_shop, receiver.url, EventType.values)
    chain = builders.chain(shop)
    for i in range(contacts):
        enroll(builders.contact(shop, email=f"c{i}@example.com"), chain)
    with CaptureQueriesContext(transaction.get_connection()) as queries:
        run_engine(clock)
    assert len(smtp.messages) == contacts
    webhook_queries = [q["sql"] for q in queries.captured_queries if "webhooks_" in q["sql"]]
    assert len(webhook_queries) == 1 and webhook_queries[0].startswith("SELECT")
    assert not WebhookEvent.objects.exists()


def test_a_provider_status_and_a_reply_are_announced(shop, everything, clock, smtp, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    anna = builders.contact(shop)
    enroll(anna, builders.chain(shop))
    run_engine(clock)
    touch = anna.touches.get()
    touch.provider_message_id = "prov-1"
    touch.save()
    account = ProviderAccount.objects.create(business=shop, channel="email", provider="smtp")

    apply_events(account, [StatusEvent("prov-1", "delivered")])
    apply_events(account, [InboundEvent(sender="anna@example.com", text="Интересно, а цена?",
                                        provider_message_id="in-1")])

    [delivered] = events(EventType.TOUCH_DELIVERED)
    assert delivered["data"]["touch"]["id"] == touch.pk
    assert delivered["data"]["touch"]["status"] == "delivered"
    assert delivered["data"]["contact"]["id"] == anna.pk
    [reply] = events(EventType.REPLY_RECEIVED)
    assert reply["data"]["reply"]["text"] == "Интересно, а цена?"
    assert reply["data"]["reply"]["touch"] == touch.pk
    assert reply["data"]["contact"]["id"] == anna.pk


def test_an_event_reaches_only_the_subscriptions_that_want_it(shop, other_shop, owner, clock,
                                                               receiver):
    deals_only = actions.create_subscription(shop, receiver.url, [EventType.DEAL_STAGE_CHANGED])
    contacts = actions.create_subscription(shop, receiver.url, [EventType.CONTACT_CREATED])
    elsewhere = actions.create_subscription(other_shop, receiver.url, EventType.values)
    create_contact(shop, first_name="Анна")
    assert list(WebhookDelivery.objects.values_list("subscription", flat=True)) == [contacts.pk]
    assert not WebhookDelivery.objects.filter(subscription__in=[deals_only, elsewhere]).exists()


def test_without_subscribers_nothing_is_written_and_nothing_is_asked(shop, other_shop, clock,
                                                                     receiver):
    actions.create_subscription(other_shop, receiver.url, EventType.values)
    assert wants(other_shop.pk, EventType.CONTACT_CREATED)  # the cache is fresh
    with CaptureQueriesContext(transaction.get_connection()) as queries:
        create_contact(shop, first_name="Анна", phones=["+79161234567"])
    assert not [q for q in queries.captured_queries if "webhooks_" in q["sql"]]
    assert not WebhookEvent.objects.exists() and not WebhookDelivery.objects.exists()


def test_a_rolled_back_action_sends_nothing(shop, everything, clock, receiver):
    with transaction.atomic():
        create_contact(shop, first_name="Анна")
        assert WebhookEvent.objects.count() == 1
        transaction.set_rollback(True)
    assert not WebhookEvent.objects.exists()
    assert deliver_due(clock.now()) == 0 and receiver.requests == []


def test_a_paused_subscription_keeps_new_events_held(shop, everything, clock, receiver):
    actions.pause(everything, "на ремонте")
    create_contact(shop, first_name="Анна")
    assert deliver_due(clock.now()) == 0
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["held"]
    actions.resume(everything)
    deliver_due(clock.now())
    assert [r.json["type"] for r in receiver.accepted()] == ["contact.created"]


def test_an_inactive_subscription_gets_nothing_and_holds_what_waited(
    shop, everything, clock, receiver
):
    create_contact(shop, first_name="Анна")  # queued while active
    actions.update_subscription(everything, url=everything.url, event_types=EventType.values,
                                is_active=False)
    create_contact(shop, first_name="Борис")
    assert WebhookEvent.objects.count() == 1
    assert deliver_due(clock.now()) == 0
    assert list(WebhookDelivery.objects.values_list("status", flat=True)) == ["held"]
    actions.update_subscription(everything, url=everything.url, event_types=EventType.values,
                                is_active=True)
    deliver_due(clock.now())
    assert [r.json["data"]["contact"]["first_name"] for r in receiver.accepted()] == ["Анна"]


@pytest.mark.django_db(transaction=True)  # the import runs as a background task
def test_contacts_made_by_an_import_are_announced_once_each(
    shop, owner, everything, clock, settings, tmp_path
):
    from io import BytesIO

    from kasatka.contacts.models import Contact
    from kasatka.engine.background import run_ready_tasks
    from kasatka.imports import actions as imports

    settings.KASATKA_IMPORTS = {**settings.KASATKA_IMPORTS, "DIR": tmp_path}
    create_contact(shop, first_name="Анна", phones=["+79161234567"])  # known: merged, not new
    before = len(events(EventType.CONTACT_CREATED))
    text = ("Фамилия;Имя;Телефон;E-mail\n"
            "Иванова;Анна;8 (916) 123-45-67;anna@example.com\n"
            "Петров;Пётр;+7 916 765-43-21;petr@example.com\n"
            "Сидорова;Ольга;8 903 111 22 33;\n")
    job = imports.create_job(shop, "contacts", BytesIO(text.encode("cp1251")), by=owner,
                             file_name="clients.csv")
    imports.set_mapping(job, job.mapping)
    imports.start_import(job)
    run_ready_tasks()
    announced = events(EventType.CONTACT_CREATED)[before:]
    made = {c.pk: c for c in Contact.objects.filter(business=shop, last_name__in=["Петров",
                                                                                "Сидорова"])}
    assert len(made) == 2
    assert sorted(e["data"]["contact"]["id"] for e in announced) == sorted(made)
    petr = next(e["data"]["contact"] for e in announced if e["data"]["contact"]["id"] in made
                and made[e["data"]["contact"]["id"]].last_name == "Петров")
    assert petr["phones"] == ["+79167654321"] and petr["emails"] == ["petr@example.com"]
    assert petr["name"] == "Петров Пётр"
