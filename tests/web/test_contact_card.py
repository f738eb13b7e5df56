"""The contact card: who may see it, the Telegram link and QR code, and the timeline."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from kasatka.chains.actions import enroll
from kasatka.channels.binding import make_bind_token
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.channels.models import InboundMessage, ProviderAccount
from kasatka.contacts.actions import withdraw_consent
from kasatka.contacts.models import ConsentBasis
from kasatka.contacts.timeline import timeline
from kasatka.engine.worker import EngineConfig, Worker
from kasatka.sales.models import Purchase, Visit
from tests import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def anna(shop, alice):
    return builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)


@pytest.fixture
def telegram_bot(shop):
    account = ProviderAccount(business=shop, channel="telegram", provider="telegram",
                              options={"bot_username": "@kedr_mebel_bot"})
    account.set_secrets({"bot_token": "1:x"})
    account.save()
    return account


def test_the_card_shows_the_contact_with_addresses_and_consents(client, alice, anna):
    withdraw_consent(anna, "call", ConsentBasis.VERBAL, "просила не звонить")
    client.force_login(alice)
    response = client.get(f"/contacts/{anna.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Иванова Анна Сергеевна" in page
    assert "anna@example.com" in page and "+79161234567" in page
    consents = {(c.channel, c.purpose): c.status for c in response.context["consents"]}
    assert consents == {("call", "commercial"): "withdrawn", ("email", "commercial"): "granted"}
    assert "t.me/" not in page and "<svg" not in page  # no bot: no link


def test_the_card_offers_the_telegram_link_and_its_qr_code(client, alice, anna, telegram_bot):
    client.force_login(alice)
    page = client.get(f"/contacts/{anna.pk}/").content.decode()
    link = f"https://t.me/kedr_mebel_bot?start={make_bind_token(anna.business_id, anna.pk)}"
    assert f'href="{link}"' in page
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert 'class="segno"' in svg and "<path" in svg


def test_an_inactive_bot_offers_no_link(client, alice, anna, telegram_bot):
    telegram_bot.is_active = False
    telegram_bot.save()
    client.force_login(alice)
    assert "t.me/" not in client.get(f"/contacts/{anna.pk}/").content.decode()


def test_the_card_needs_a_login(client, anna):
    response = client.get(f"/contacts/{anna.pk}/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_a_seller_of_another_business_gets_404(client, charlie, anna):
    client.force_login(charlie)
    assert client.get(f"/contacts/{anna.pk}/").status_code == 404


def test_another_seller_of_the_shop_gets_404_and_the_owner_sees_it(client, bob, owner, anna):
    client.force_login(bob)
    assert client.get(f"/contacts/{anna.pk}/").status_code == 404
    client.force_login(owner)
    assert client.get(f"/contacts/{anna.pk}/").status_code == 200


# --- the timeline ---------------------------------------------------------------------------
@pytest.fixture
def history(shop, alice, anna, clock):
    """A week of Anna's life with the shop, one event of each kind a day apart."""
    start = clock.now()
    # Day 0: the consents builders.contact recorded (at the real time: moved to day 0).
    anna.consents.update(recorded_at=start)
    # Day 1: a call touch and its task, closed on day 2.
    clock.advance(timedelta(days=1))
    chain = builders.chain(shop, [{"channels": ["call"], "reason": "Спросить про замер",
                                   "body_template": "Спросите про замер."}])
    enroll(anna, chain, clock.now())
    Worker(EngineConfig.from_settings(), clock=clock).run(once=True)
    task = CallTask.objects.get(contact=anna)
    CallTask.objects.filter(pk=task.pk).update(
        outcome=CallOutcome.REACHED, note="Замер в четверг", closed_at=start + timedelta(days=2)
    )
    # Day 3: she writes; day 4: a visit; day 5: a purchase.
    InboundMessage.objects.create(
        business=shop, contact=anna, channel="sms", sender="+79161234567",
        text="Жду замерщика", received_at=start + timedelta(days=3),
    )
    Visit.objects.create(business=shop, contact=anna, seller=alice, bought=False,
                         contacts_taken=True, occurred_at=start + timedelta(days=4),
                         note="Смотрела угловые")
    Purchase.objects.create(business=shop, contact=anna, seller=alice, amount=Decimal("84500"),
                            purchased_at=start + timedelta(days=5), note="Кухня «Ольха»")
    return start


def test_the_timeline_merges_every_kind_newest_first(anna, history, django_assert_num_queries):
    with django_assert_num_queries(10):  # one per source (10 sources), however long the history
        entries = timeline(anna)
    assert [e.kind for e in entries] == [
        "purchase", "visit", "inbound", "call", "touch", "consent", "consent",
    ]
    purchase, visit, inbound, call, touch = entries[:5]
    assert "84500" in purchase.text and "Кухня «Ольха»" in purchase.details
    assert "Смотрела угловые" in visit.details
    assert inbound.text == "Жду замерщика"
    assert "+79161234567" in call.text and "Замер в четверг" in call.details
    assert call.status == CallOutcome.REACHED
    assert (touch.channel, touch.status) == ("call", "sent")
    assert touch.text.endswith("Спросить про замер")
    assert [e.when for e in entries] == sorted((e.when for e in entries), reverse=True)


def test_the_timeline_keeps_only_the_newest(anna, history):
    entries = timeline(anna, limit=3)
    assert [e.kind for e in entries] == ["purchase", "visit", "inbound"]


def test_the_card_shows_the_timeline(client, alice, anna, history):
    client.force_login(alice)
    page = client.get(f"/contacts/{anna.pk}/").content.decode()
    assert "Жду замерщика" in page
    assert "Замер в четверг" in page
    assert "Кухня «Ольха»" in page
    assert page.index("Кухня «Ольха»") < page.index("Жду замерщика")  # newest first


# --- issue 8: the whole history, and who may read the card ----------------------------------
@pytest.fixture
def deal_history(shop, alice, anna, history, clock):
    """After the week of `history`: a deal opened and moved, an answer heard by phone, a
    purchase that makes Anna a new client (a stage change), and a consent withdrawn."""
    from kasatka.deals.actions import create_deal, move_deal
    from kasatka.deals.library import ensure_default_pipeline
    from kasatka.deals.models import Answer
    from kasatka.deals.replies import record_answer
    from kasatka.sales.actions import record_purchase

    stages = list(ensure_default_pipeline(shop).stages.order_by("position"))
    clock.advance(timedelta(days=6))
    deal = create_deal(anna, "Кухня «Лофт»", Decimal("120000"), stages[1], seller=alice,
                       at=clock.now())
    clock.advance(timedelta(hours=1))
    move_deal(deal, stages[3], clock.now(), by=alice, reason="счёт выставлен")
    clock.advance(timedelta(hours=1))
    record_answer(deal, Answer.YES, alice, text="Да, оплатим в пятницу", at=clock.now())
    clock.advance(timedelta(hours=1))
    record_purchase(anna, Decimal("120000"), alice, clock.now(), note="Кухня «Лофт»")
    clock.advance(timedelta(hours=1))
    withdraw_consent(anna, "email", ConsentBasis.VERBAL, "просила не писать")
    return deal


def test_the_timeline_has_deals_replies_and_stage_changes(anna, deal_history,
                                                          django_assert_num_queries):
    with django_assert_num_queries(10):  # one per source, however long the history
        entries = timeline(anna)
    kinds = [e.kind for e in entries]
    for kind in ("deal", "reply", "stage", "consent", "purchase", "touch", "inbound"):
        assert kind in kinds, kind
    reply = next(e for e in entries if e.kind == "reply")
    assert "Кухня «Лофт»" in reply.text and reply.status == "yes"
    assert "Да, оплатим в пятницу" in reply.details  # heard by phone: no message to show it
    moved = [e for e in entries if e.kind == "deal"]
    assert any("счёт выставлен" in e.details for e in moved)
    stage = next(e for e in entries if e.kind == "stage")
    assert "purchase #" in stage.details
    touch = next(e for e in entries if e.kind == "touch")
    assert touch.body  # the text the client got, for the card to fold away
    assert [e.when for e in entries] == sorted((e.when for e in entries), reverse=True)


def test_the_card_folds_each_touch_text_and_shows_every_kind(client, alice, anna, deal_history):
    client.force_login(alice)
    page = client.get(f"/contacts/{anna.pk}/").content.decode()
    assert '<details class="touch-body">' in page
    assert "Спросите про замер." in page  # the call touch's text, inside its <details>
    for kind in ("deal", "reply", "stage", "consent", "purchase", "touch", "inbound", "call"):
        assert f'data-kind="{kind}"' in page, kind
    assert 'data-consent="email-commercial"' in page and 'data-consent="call-commercial"' in page
    assert f'href="/deals/{deal_history.pk}/"' in page
    assert "120\u00a0000\u00a0₽" in page  # the deal's amount as money


def test_the_card_takes_a_fixed_number_of_queries(client, alice, anna, deal_history, shop):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(alice)
    client.get(f"/contacts/{anna.pk}/")
    with CaptureQueriesContext(connection) as first:
        client.get(f"/contacts/{anna.pk}/")
    for i in range(5):
        Purchase.objects.create(business=shop, contact=anna, amount=Decimal(100 + i))
        InboundMessage.objects.create(business=shop, contact=anna, channel="sms",
                                      sender="+79161234567", text=f"#{i}",
                                      received_at=anna.created_at)
    with CaptureQueriesContext(connection) as second:
        client.get(f"/contacts/{anna.pk}/")
    assert len(second.captured_queries) == len(first.captured_queries)


def test_a_marketer_reads_the_card_but_gets_no_sellers_buttons(client, marketer, anna):
    client.force_login(marketer)
    response = client.get(f"/contacts/{anna.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Иванова Анна Сергеевна" in page
    assert f"/contacts/{anna.pk}/qualification/" not in page and "/visits/new/" not in page


def test_a_contact_named_with_markup_is_text_on_the_timeline(client, shop, owner, clock):
    evil = builders.contact(shop, email="x@example.com", first_name="<script>alert(1)</script>",
                            patronymic="", last_name="Злой")
    InboundMessage.objects.create(business=shop, contact=evil, channel="sms", sender="+7",
                                  text="<img src=x onerror=alert(1)>", received_at=clock.now())
    client.force_login(owner)
    page = client.get(f"/contacts/{evil.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
