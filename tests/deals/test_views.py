"""The plan page and the deal page: one click to throw, one click to correct, and each
seller sees only their own."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from kasatka.deals.models import Answer, DealReply, DealStatus, Nudge, NudgeState
from kasatka.deals.nudging import nudge_stuck_deals
from kasatka.deals.replies import record_answer
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")


@pytest.fixture
def stuck(shop, clock, make_deal, bob):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=MSK))
    mine = make_deal("price", "80000", title="Шкаф в прихожую")
    boris = builders.contact(shop, email="boris@example.com", owner=bob)
    theirs = make_deal("price", "50000", title="Стол для Бориса", contact=boris)
    clock.set(datetime(2026, 3, 4, 9, tzinfo=MSK))
    nudge_stuck_deals(clock.now())
    return mine, theirs


def test_a_seller_sees_and_throws_her_own_nudges(client, alice, stuck):
    mine, theirs = stuck
    client.force_login(alice)
    page = client.get("/deals/plan/").content.decode()
    assert "Шкаф в прихожую" in page and "Стол для Бориса" not in page
    nudge = Nudge.objects.get(deal=mine)
    response = client.post(f"/deals/nudges/{nudge.pk}/throw/",
                           {"mode": "message", "text": "Анна, шкаф в силе?"})
    assert response.status_code == 302
    nudge.refresh_from_db()
    assert (nudge.state, nudge.text, nudge.thrown_by) == (
        NudgeState.THROWN, "Анна, шкаф в силе?", alice
    )
    # Bob's nudge is not hers to throw: as if it did not exist.
    other = Nudge.objects.get(deal=theirs)
    assert client.post(f"/deals/nudges/{other.pk}/throw/", {"mode": "message"}).status_code == 404
    assert Nudge.objects.get(pk=other.pk).state == NudgeState.PROPOSED


def test_the_head_of_sales_sees_the_team(client, owner, alice, bob, stuck):
    client.force_login(owner)
    page = client.get("/deals/plan/").content.decode()
    assert alice.full_name in page and bob.full_name in page
    assert "Шкаф в прихожую" in page and "Стол для Бориса" in page
    one = client.get(f"/deals/plan/?seller={bob.pk}").content.decode()
    assert "Стол для Бориса" in one and "Шкаф в прихожую" not in one


def test_a_misread_reply_is_corrected_in_one_click(client, alice, stuck, clock):
    mine, _theirs = stuck
    reply = record_answer(mine, Answer.YES, alice, text="да")
    client.force_login(alice)
    page = client.get(f"/deals/{mine.pk}/").content.decode()
    assert "«да»" in page
    response = client.post(f"/deals/replies/{reply.pk}/correct/", {"answer": "no"})
    assert response.status_code == 302
    reply.refresh_from_db()
    mine.refresh_from_db()
    assert reply.answer == Answer.NO and mine.status == DealStatus.LOST


def test_a_date_answer_without_a_date_is_refused_with_a_message(client, alice, stuck):
    mine, _theirs = stuck
    client.force_login(alice)
    response = client.post(f"/deals/{mine.pk}/answer/", {"answer": "date"}, follow=True)
    assert "Укажите дату, которую назвал клиент." in response.content.decode()
    assert not DealReply.objects.exists()
    response = client.post(f"/deals/{mine.pk}/answer/",
                           {"answer": "date", "answer_date": "2026-03-20"}, follow=True)
    assert DealReply.objects.get().answer_date == date(2026, 3, 20)


def test_another_business_sees_nothing(client, charlie, stuck):
    mine, _theirs = stuck
    client.force_login(charlie)
    assert client.get(f"/deals/{mine.pk}/").status_code == 404
    assert "Шкаф" not in client.get("/deals/plan/").content.decode()


def test_the_contact_card_lists_the_deals(client, alice, stuck):
    mine, _theirs = stuck
    client.force_login(alice)
    page = client.get(f"/contacts/{mine.contact_id}/").content.decode()
    assert f"/deals/{mine.pk}/" in page


def test_the_admin_moves_a_deal_through_the_actions(client, owner, stuck, stages):
    """A stage changed in the admin is written to the history and restarts the wait."""
    mine, _theirs = stuck
    client.force_login(owner)
    owner.is_staff = owner.is_superuser = True
    owner.save()
    page = client.get(f"/admin/deals/deal/{mine.pk}/change/")
    assert page.status_code == 200
    response = client.post(f"/admin/deals/deal/{mine.pk}/change/", {
        "stage": stages["proposal"].pk, "contact": mine.contact_id,
        "seller": mine.seller_id, "title": mine.title, "amount": "90000",
        "business": mine.business_id,
        "stage_changes-TOTAL_FORMS": "1", "stage_changes-INITIAL_FORMS": "1",
        "stage_changes-MIN_NUM_FORMS": "0", "stage_changes-MAX_NUM_FORMS": "1000",
        "stage_changes-0-id": mine.stage_changes.get().pk, "stage_changes-0-deal": mine.pk,
    })
    assert response.status_code == 302, response.content.decode()[:2000]
    mine.refresh_from_db()
    assert mine.stage == stages["proposal"] and mine.amount == 90000
    assert mine.stage_changes.count() == 2
    assert Nudge.objects.get(deal=mine).state == NudgeState.CANCELLED
