"""The deals board: a column per stage with its count and sum, cards moved by the same
actions as everywhere (history, nudges, stuck clock), stuck deals marked with their nudge,
each role seeing and moving what it may, in a fixed number of queries."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from kasatka.accounts.models import User
from kasatka.contacts.models import Contact
from kasatka.deals.actions import create_deal
from kasatka.deals.board import CARDS_PER_COLUMN
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import (
    Deal,
    DealStage,
    DealStageChange,
    DealStatus,
    Nudge,
    NudgeState,
    Pipeline,
)
from kasatka.deals.nudging import nudge_stuck_deals
from kasatka.sales.models import LossKind, LossReason
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
BOARD = "/deals/board/"
HTMX = {"HTTP_HX_REQUEST": "true"}


def column_of(page: str, deal: Deal) -> str | None:
    """The stage id of the column the deal's card is in on the page (None: not shown)."""
    found = re.search(rf'id="deal-{deal.pk}" data-deal="{deal.pk}" data-stage="(\d+)"', page)
    if found is None:
        return None
    # The card is inside its column's section: the last column opened before it.
    before = page[: found.start()]
    return re.findall(r'<section class="column" id="col-(\d+)"', before)[-1]


def head(page: str, key: object) -> tuple[int, Decimal]:
    found = re.search(
        rf'id="col-head-{key}" data-count="(\d+)" data-amount="([\d.]+)"', page
    )
    assert found, f"no head for column {key}"
    return int(found.group(1)), Decimal(found.group(2))


@pytest.fixture
def boris(shop, bob) -> Contact:
    return builders.contact(shop, email="boris@example.com", first_name="Борис",
                            patronymic="Ильич", last_name="Ковалёв", owner=bob)


@pytest.fixture
def reason(shop) -> LossReason:
    return LossReason.objects.create(business=shop, name="Дорого", kind=LossKind.OBJECTIVE)


def test_each_stage_is_a_column_with_its_count_and_sum(client, alice, stages, make_deal):
    kitchen = make_deal("invoice", "120000", title="Кухня «Лофт»")
    wardrobe = make_deal("invoice", "80000", title="Шкаф-купе")
    table = make_deal("new", "40000", title="Стол из дуба")
    client.force_login(alice)
    page = client.get(BOARD).content.decode()
    order = re.findall(r'<section class="column" id="col-(\d+)"', page)
    assert order == [str(s.pk) for s in stages.values()]  # by position
    assert head(page, stages["invoice"].pk) == (2, Decimal("200000.00"))
    assert head(page, stages["new"].pk) == (1, Decimal("40000.00"))
    assert head(page, stages["delivery"].pk) == (0, Decimal("0.00"))
    assert column_of(page, kitchen) == column_of(page, wardrobe) == str(stages["invoice"].pk)
    assert column_of(page, table) == str(stages["new"].pk)
    assert "Иванова Анна Сергеевна" in page  # the contact on the card
    assert 'id="col-won"' in page and 'id="col-lost"' in page  # drop targets
    assert page.count('draggable="true"') == 3


def test_a_stuck_deal_is_marked_and_its_proposed_nudge_opens_on_the_card(
    client, alice, clock, make_deal, stages
):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=MSK))
    stuck = make_deal("price", "80000", title="Шкаф в прихожую")
    fresh = make_deal("proposal", "50000", title="Тумба")
    clock.set(datetime(2026, 3, 4, 9, tzinfo=MSK))  # the price list's 2 working days are over
    nudge_stuck_deals(clock.now())
    nudge = Nudge.objects.get(deal=stuck, state=NudgeState.PROPOSED)
    client.force_login(alice)
    page = client.get(BOARD).content.decode()
    assert f'id="deal-{stuck.pk}" data-deal="{stuck.pk}" data-stage="{stages["price"].pk}" ' \
           'data-stuck="1"' in page
    assert f'data-deal="{fresh.pk}" data-stage="{stages["proposal"].pk}" data-stuck="0"' in page
    assert 'data-days="2"' in page  # two days in the stage
    # The nudge opens on the card, its text editable, thrown through the plan's own form.
    assert f'action="/deals/nudges/{nudge.pk}/throw/"' in page
    assert "Прайс дошёл?" in page
    response = client.post(f"/deals/nudges/{nudge.pk}/throw/", {
        "mode": "message", "text": "Анна, шкаф в силе?", "next": BOARD,
    })
    assert response.status_code == 302 and response["Location"].startswith(BOARD)
    nudge.refresh_from_db()
    assert (nudge.state, nudge.text) == (NudgeState.THROWN, "Анна, шкаф в силе?")


def test_a_stuck_deal_without_a_nudge_waiting_gets_one_proposed(
    client, alice, clock, make_deal
):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=MSK))
    deal = make_deal("price", "80000", title="Шкаф в прихожую")
    fresh = make_deal("new", "1000", title="Полка")
    # Its wait is over but the trigger has not been round: stuck all the same.
    clock.set(datetime(2026, 3, 4, 9, tzinfo=MSK))
    client.force_login(alice)
    page = client.get(BOARD).content.decode()
    assert f'data-deal="{deal.pk}" data-stage="{deal.stage_id}" data-stuck="1"' in page
    assert f'action="/deals/{deal.pk}/propose/"' in page
    assert f'action="/deals/{fresh.pk}/propose/"' not in page
    response = client.post(f"/deals/{deal.pk}/propose/", {"next": BOARD}, **HTMX)
    assert response.status_code == 200
    nudge = Nudge.objects.get(deal=deal, state=NudgeState.PROPOSED)
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert f'action="/deals/nudges/{nudge.pk}/throw/"' in fragment
    # A deal that is not stuck has nothing to nudge.
    response = client.post(f"/deals/{fresh.pk}/propose/", {"next": BOARD})
    assert response.status_code == 302
    assert not Nudge.objects.filter(deal=fresh).exists()


def test_moving_a_card_writes_the_history_and_restarts_the_wait(
    client, alice, clock, make_deal, stages
):
    clock.set(datetime(2026, 3, 2, 9, tzinfo=MSK))
    deal = make_deal("price", "80000")
    clock.set(datetime(2026, 3, 4, 9, tzinfo=MSK))
    nudge_stuck_deals(clock.now())
    client.force_login(alice)
    response = client.post(f"/deals/{deal.pk}/move/", {
        "to": stages["proposal"].pk, "next": f"{BOARD}?stuck=",
    })
    assert response.status_code == 302
    assert response["Location"] == f"{BOARD}?stuck=#deal-{deal.pk}"
    deal.refresh_from_db()
    assert deal.stage == stages["proposal"] and deal.stuck_since is None
    assert deal.stage_entered_at == clock.now() and deal.next_nudge_at is not None
    change = DealStageChange.objects.filter(deal=deal).last()
    assert (change.from_stage, change.to_stage, change.by) == (
        stages["price"], stages["proposal"], alice
    )
    # The question about the price list is moot now.
    assert Nudge.objects.get(deal=deal).state == NudgeState.CANCELLED


def test_the_scripts_move_gets_a_fragment_of_the_card_and_the_heads(
    client, alice, make_deal, stages
):
    deal = make_deal("new", "40000")
    make_deal("proposal", "10000", title="Полка")
    client.force_login(alice)
    response = client.post(f"/deals/{deal.pk}/move/", {
        "to": stages["proposal"].pk, "next": BOARD,
    }, **HTMX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment and "<body" not in fragment
    assert f'id="deal-{deal.pk}" data-deal="{deal.pk}" data-stage="{stages["proposal"].pk}"' \
        in fragment
    assert head(fragment, stages["new"].pk) == (0, Decimal("0.00"))
    assert head(fragment, stages["proposal"].pk) == (2, Decimal("50000.00"))
    assert 'id="board-msg"' in fragment
    assert DealStageChange.objects.filter(deal=deal, to_stage=stages["proposal"]).exists()


def test_a_stage_of_another_pipeline_is_refused(client, alice, shop, make_deal):
    deal = make_deal("new")
    other = Pipeline.objects.create(business=shop, name="Опт")
    elsewhere = DealStage.objects.create(pipeline=other, name="Запрос", position=1)
    client.force_login(alice)
    response = client.post(f"/deals/{deal.pk}/move/", {"to": elsewhere.pk}, **HTMX)
    assert response.status_code == 400
    assert 'class="msg error"' in response.content.decode()
    response = client.post(f"/deals/{deal.pk}/move/", {"to": "nonsense", "next": BOARD})
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.stage.pipeline != other and deal.stage.name == "Новая заявка"


def test_losing_a_deal_asks_why(client, alice, make_deal, reason, other_shop):
    deal = make_deal("invoice")
    client.force_login(alice)
    # Without the script: a page asks for the reason; nothing is closed yet.
    response = client.post(f"/deals/{deal.pk}/move/", {"to": "lost", "next": BOARD})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="loss_reason"' in page and f'value="{reason.pk}"' in page
    # The script always sends one; without it, a message and nothing done.
    assert client.post(f"/deals/{deal.pk}/move/", {"to": "lost"}, **HTMX).status_code == 400
    # Another business's reason is not in the list.
    theirs = LossReason.objects.create(business=other_shop, name="Чужое",
                                       kind=LossKind.OBJECTIVE)
    response = client.post(f"/deals/{deal.pk}/move/",
                           {"to": "lost", "loss_reason": theirs.pk, "next": BOARD})
    assert response.status_code == 400 and 'name="loss_reason"' in response.content.decode()
    deal.refresh_from_db()
    assert deal.status == DealStatus.OPEN
    response = client.post(f"/deals/{deal.pk}/move/", {
        "to": "lost", "loss_reason": reason.pk, "note": "нашли дешевле", "next": BOARD,
    }, **HTMX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert f'id="deal-{deal.pk}"' not in fragment  # off the board
    assert head(fragment, "lost") == (1, Decimal("120000.00"))
    deal.refresh_from_db()
    assert (deal.status, deal.loss_reason, deal.loss_note) == (
        DealStatus.LOST, reason, "нашли дешевле"
    )
    assert DealStageChange.objects.filter(deal=deal, status=DealStatus.LOST).exists()


def test_winning_a_deal_asks_nothing(client, alice, make_deal):
    deal = make_deal("delivery", "99000")
    client.force_login(alice)
    response = client.post(f"/deals/{deal.pk}/move/", {"to": "won", "next": BOARD})
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.status == DealStatus.WON
    page = client.get(BOARD).content.decode()
    assert f'id="deal-{deal.pk}"' not in page
    assert head(page, "won") == (1, Decimal("99000.00"))
    # A closed deal cannot be moved from a stale page.
    response = client.post(f"/deals/{deal.pk}/move/", {"to": deal.stage_id}, **HTMX)
    assert response.status_code == 400


def test_a_seller_sees_and_moves_only_her_own_deals(
    client, alice, bob, boris, make_deal, stages, shop
):
    mine = make_deal("new", title="Кухня Анны")
    theirs = make_deal("new", title="Стол Бориса", contact=boris)
    nobody = builders.contact(shop, email="vera@example.com", first_name="Вера")
    unassigned = make_deal("new", title="Заявка с сайта", contact=nobody)
    assert unassigned.seller is None
    client.force_login(alice)
    page = client.get(BOARD).content.decode()
    assert "Кухня Анны" in page and "Заявка с сайта" in page and "Стол Бориса" not in page
    assert 'id="board-seller"' not in page  # no seller filter for a seller
    # Bob's deal is as if it did not exist; nothing moves.
    response = client.post(f"/deals/{theirs.pk}/move/", {"to": stages["price"].pk})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.stage == stages["new"]
    assert client.post(f"/deals/{theirs.pk}/propose/").status_code == 404
    assert client.post(f"/deals/{mine.pk}/move/", {"to": stages["price"].pk}).status_code == 302


def test_the_head_of_sales_sees_everybody_and_filters_by_seller(
    client, head, alice, bob, boris, make_deal
):
    make_deal("new", title="Кухня Анны")
    make_deal("new", title="Стол Бориса", contact=boris)
    client.force_login(head)
    page = client.get(BOARD).content.decode()
    assert "Кухня Анны" in page and "Стол Бориса" in page
    assert 'id="board-seller"' in page and alice.full_name in page
    page = client.get(f"{BOARD}?seller={bob.pk}").content.decode()
    assert "Стол Бориса" in page and "Кухня Анны" not in page
    page = client.get(f"{BOARD}?seller=none").content.decode()
    assert "Стол Бориса" not in page and "Кухня Анны" not in page


def test_a_marketer_sees_the_board_but_moves_nothing(client, marketer, make_deal, stages):
    deal = make_deal("new", title="Кухня Анны")
    client.force_login(marketer)
    response = client.get(BOARD)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Кухня Анны" in page
    assert 'draggable="true"' not in page and "data-move-form" not in page
    assert "data-drop" not in page and 'id="lose-dialog"' not in page
    assert client.post(f"/deals/{deal.pk}/move/", {"to": stages["price"].pk}).status_code == 403
    assert client.post(f"/deals/{deal.pk}/propose/").status_code == 403
    deal.refresh_from_db()
    assert deal.stage == stages["new"]


def test_another_business_deal_is_not_found(client, charlie, make_deal, stages, other_shop):
    deal = make_deal("new", title="Кухня Анны")
    ensure_default_pipeline(other_shop)
    client.force_login(charlie)
    assert "Кухня Анны" not in client.get(BOARD).content.decode()
    assert client.post(f"/deals/{deal.pk}/move/", {"to": stages["price"].pk}).status_code == 404
    assert client.post(f"/deals/{deal.pk}/move/", {"to": "won"}, **HTMX).status_code == 404
    deal.refresh_from_db()
    assert (deal.stage, deal.status) == (stages["new"], DealStatus.OPEN)


def test_a_move_needs_the_csrf_token(alice, make_deal, stages):
    deal = make_deal("new")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(f"/deals/{deal.pk}/move/", {"to": stages["price"].pk}).status_code == 403
    deal.refresh_from_db()
    assert deal.stage == stages["new"]
    # The page's token (the one the script sends) lets it through.
    client.get(BOARD)
    token = client.cookies["csrftoken"].value
    response = client.post(f"/deals/{deal.pk}/move/", {"to": stages["price"].pk},
                           HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200


def test_a_contact_named_like_a_script_is_text_on_the_board(client, alice, shop, make_deal):
    evil = builders.contact(shop, email="x@example.com", first_name="<script>alert(1)</script>",
                            owner=alice)
    make_deal("new", title="<img src=x onerror=alert(2)>", contact=evil)
    client.force_login(alice)
    page = client.get(BOARD).content.decode()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x" not in page


def test_a_business_with_several_pipelines_switches_between_them(
    client, alice, shop, anna, stages, make_deal
):
    make_deal("new", title="Кухня Анны")
    wholesale = Pipeline.objects.create(business=shop, name="Опт", position=5)
    order = DealStage.objects.create(pipeline=wholesale, name="Заказ", position=1)
    create_deal(anna, "Сто стульев", 300000, order)
    client.force_login(alice)
    page = client.get(BOARD).content.decode()
    assert 'id="board-pipeline"' in page
    assert "Кухня Анны" in page and "Сто стульев" not in page
    page = client.get(f"{BOARD}?pipeline={wholesale.pk}").content.decode()
    assert "Сто стульев" in page and "Кухня Анны" not in page
    assert head(page, order.pk) == (1, Decimal("300000.00"))


def test_a_business_without_a_pipeline_gets_a_word_not_an_error(client, alice):
    client.force_login(alice)
    response = client.get(BOARD)
    assert response.status_code == 200 and 'id="board"' not in response.content.decode()


def _many(shop, stages, sellers: list[User], n: int) -> None:
    """n deals spread over the stages and sellers, each with its own client."""
    for i in range(n):
        seller = sellers[i % len(sellers)]
        person = builders.contact(shop, email=f"c{i}@example.com", first_name=f"Клиент{i}",
                                  owner=seller)
        stage = list(stages.values())[i % 4]
        create_deal(person, f"Сделка {i}", 1000 + i, stage)


@pytest.mark.parametrize("n", [3, 60])
def test_the_board_renders_in_a_fixed_number_of_queries(
    client, head, alice, bob, shop, stages, clock, reason, n, django_assert_num_queries
):
    _many(shop, stages, [alice, bob], n)
    client.force_login(head)
    client.get(BOARD)  # the session's first read
    # session, user, business, pipelines, stages, heads, cards, nudges, won/lost, sellers,
    # loss reasons
    with django_assert_num_queries(11):
        response = client.get(BOARD)
    assert response.status_code == 200
    client.force_login(alice)
    client.get(BOARD)
    with django_assert_num_queries(10):  # no sellers to filter by
        assert client.get(BOARD).status_code == 200


def test_a_long_column_shows_the_most_recent_cards_and_how_many_more(
    client, alice, shop, stages, anna, clock
):
    from datetime import timedelta

    for i in range(CARDS_PER_COLUMN + 3):
        create_deal(anna, f"Сделка {i}", 100, stages["new"], at=clock.now())
        clock.advance(timedelta(minutes=1))
    client.force_login(alice)
    page = client.get(BOARD).content.decode()
    assert page.count(f'data-stage="{stages["new"].pk}"') == CARDS_PER_COLUMN
    assert 'data-more="3"' in page
    assert head(page, stages["new"].pk)[0] == CARDS_PER_COLUMN + 3
    assert f"Сделка {CARDS_PER_COLUMN + 2}<" in page and "Сделка 0<" not in page
    page = client.get(f"{BOARD}?column={stages['new'].pk}").content.decode()
    assert page.count(f'data-stage="{stages["new"].pk}"') == CARDS_PER_COLUMN + 3
    assert "data-more=" not in page
