"""Seller scorecards on a hand-built month; each expected value worked out in the comments."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kasatka.deals.actions import create_deal, lose_deal, win_deal
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import Answer, Nudge, NudgeState
from kasatka.insights.filters import Filters
from kasatka.insights.scorecard import TEAM, scorecards
from kasatka.sales.models import (
    LeadSource,
    LossKind,
    LossReason,
    Purchase,
    Visit,
    VisitType,
)
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
MARCH = datetime(2026, 3, 1, tzinfo=MSK), datetime(2026, 4, 1, tzinfo=MSK)
DAY = datetime(2026, 3, 10, 12, tzinfo=MSK)
_tails = itertools.count(1)


def client(shop, seller):
    return builders.contact(shop, phone=f"+7916500{next(_tails):04d}", owner=seller)


def visit(shop, seller, visit_type, reason=None, at=DAY):
    bought = visit_type in (1, 2)
    Visit.objects.create(
        business=shop, contact=client(shop, seller), seller=seller, occurred_at=at,
        bought=bought, contacts_taken=visit_type in (1, 3), visit_type=visit_type,
        amount=Decimal(1000) if bought else None, loss_reason=reason,
    )


def test_each_seller_beside_the_team(shop, alice, bob, clock):
    clock.set(DAY)
    pricey = LossReason.objects.create(business=shop, name="Дорого", kind=LossKind.OBJECTIVE)
    rude = LossReason.objects.create(business=shop, name="Не предложил замер",
                                     kind=LossKind.NON_OBJECTIVE)
    late = LossReason.objects.create(business=shop, name="Не перезвонил",
                                     kind=LossKind.NON_OBJECTIVE)
    # Alice: 5 visits — types 1, 1, 3, 4 (rude), 4 (pricey). Capture: types 1 and 3 = 3/5.
    # Losses with a reason: 2, one non-objective → 1/2.
    for t in (1, 1, 3):
        visit(shop, alice, t)
    visit(shop, alice, 4, rude)
    visit(shop, alice, 4, pricey)
    # Bob: 4 visits — 2 (bought, refused contacts), 4 (late), 4 (late), 4 (rude) → capture
    # 0/4; losses 3, all non-objective → 1; top reasons: «Не перезвонил» 2, then «Не
    # предложил замер» 1.
    visit(shop, bob, 2)
    visit(shop, bob, 4, late)
    visit(shop, bob, 4, late)
    visit(shop, bob, 4, rude)
    # Outside March: not counted.
    visit(shop, bob, 1, at=datetime(2026, 4, 2, tzinfo=MSK))

    # Deals closed in March: Alice wins 2, Bob loses 1.
    stages = list(ensure_default_pipeline(shop).stages.order_by("position"))
    a1 = create_deal(client(shop, alice), "Кухня", 90000, stages[1], seller=alice, at=DAY)
    a2 = create_deal(client(shop, alice), "Шкаф", 40000, stages[1], seller=alice, at=DAY)
    b1 = create_deal(client(shop, bob), "Диван", 50000, stages[1], seller=bob, at=DAY)
    # Nudges: Alice throws 2 (one answered "yes", its deal won 2 days later: converted);
    # Bob throws 1, unanswered.
    def nudge(deal, seller, answer=""):
        return Nudge.objects.create(
            business=shop, deal=deal, stage=deal.stage, seller=seller,
            state=NudgeState.ANSWERED if answer else NudgeState.THROWN,
            thrown_at=DAY + timedelta(days=1), answer=answer,
            answered_at=DAY + timedelta(days=1, hours=2) if answer else None,
        )
    nudge(a1, alice, Answer.YES)
    nudge(a2, alice)
    nudge(b1, bob)
    win_deal(a1, at=DAY + timedelta(days=3))
    win_deal(a2, at=DAY + timedelta(days=60))  # in May: not March's, nor within settle days
    lose_deal(b1, late, at=DAY + timedelta(days=4))
    # Revenue: Alice 90,000 + 1,000; Bob 1,000; a purchase with no seller 500.
    for seller, amount in ((alice, 90000), (alice, 1000), (bob, 1000), (None, 500)):
        Purchase.objects.create(business=shop, contact=client(shop, seller), seller=seller,
                                amount=Decimal(amount), purchased_at=DAY)

    cards = scorecards(shop, *MARCH)
    a, b, team = cards[alice.pk], cards[bob.pk], cards[TEAM]

    assert a.visits == 5 and a.by_type == {1: 2, 2: 0, 3: 1, 4: 2}
    assert a.capture_rate == pytest.approx(3 / 5) and a.type_share(VisitType(1)) == 0.4
    assert (a.losses, a.non_objective, a.non_objective_share) == (2, 1, 0.5)
    assert (a.deals_won, a.deals_lost) == (1, 0)
    assert (a.nudges_thrown, a.nudges_answered, a.nudges_converted) == (2, 1, 1)
    assert a.revenue == Decimal(91000)

    assert b.visits == 4 and b.capture_rate == 0
    assert (b.losses, b.non_objective_share) == (3, 1.0)
    assert b.top_reasons == [("Не перезвонил", 2), ("Не предложил замер", 1)]
    assert (b.deals_won, b.deals_lost, b.nudges_thrown, b.nudges_answered) == (0, 1, 1, 0)
    assert b.revenue == Decimal(1000)

    # The team: 9 visits, capture 3/9, losses 5 of which 4 non-objective, revenue 92,500.
    assert team.visits == 9 and team.capture_rate == pytest.approx(3 / 9)
    assert (team.losses, team.non_objective) == (5, 4)
    assert team.top_reasons[0] == ("Не перезвонил", 2)
    assert team.revenue == Decimal(92500)
    assert (team.deals_won, team.deals_lost, team.nudges_converted) == (1, 1, 1)


def test_only_the_source_filter_narrows_the_cards(shop, alice, bob, clock):
    clock.set(DAY)
    site = LeadSource.objects.create(business=shop, name="Сайт")

    def from_site(contact):
        contact.source = site
        contact.save(update_fields=["source"])
        return contact

    def visit_of(contact, seller, visit_type):
        Visit.objects.create(
            business=shop, contact=contact, seller=seller, occurred_at=DAY,
            bought=visit_type in (1, 2), contacts_taken=visit_type in (1, 3),
            visit_type=visit_type,
        )

    # Alice: a site client's visit (type 1) and another's (type 3); Bob: a site client's
    # visit (type 4).
    visit_of(from_site(client(shop, alice)), alice, 1)
    visit_of(client(shop, alice), alice, 3)
    visit_of(from_site(client(shop, bob)), bob, 4)
    # Deals: Alice wins one with a site client, and one with another; each nudged once
    # (answered), both won a day after the nudge: converted.
    stages = list(ensure_default_pipeline(shop).stages.order_by("position"))
    for contact in (from_site(client(shop, alice)), client(shop, alice)):
        deal = create_deal(contact, "Кухня", 10000, stages[1], seller=alice, at=DAY)
        Nudge.objects.create(business=shop, deal=deal, stage=deal.stage, seller=alice,
                             state=NudgeState.ANSWERED, thrown_at=DAY, answer=Answer.YES,
                             answered_at=DAY + timedelta(hours=1))
        win_deal(deal, at=DAY + timedelta(days=1))
    # Purchases: Alice sells 3,000 to a site client and 2,000 to another; Bob 700 to a
    # site client.
    for contact, seller, amount in ((from_site(client(shop, alice)), alice, 3000),
                                    (client(shop, alice), alice, 2000),
                                    (from_site(client(shop, bob)), bob, 700)):
        Purchase.objects.create(business=shop, contact=contact, seller=seller,
                                amount=Decimal(amount), purchased_at=DAY)

    # The site: Alice 1 visit (type 1: capture 1/1), 1 deal won, 1 nudge thrown, answered
    # and converted, 3,000; Bob 1 visit (type 4), 700; the team 2 visits, 3,700.
    cards = scorecards(shop, *MARCH, filters=Filters(source=site.pk))
    a, b, team = cards[alice.pk], cards[bob.pk], cards[TEAM]
    assert (a.visits, a.capture_rate, a.deals_won) == (1, 1.0, 1)
    assert (a.nudges_thrown, a.nudges_answered, a.nudges_converted) == (1, 1, 1)
    assert a.revenue == Decimal(3000)
    assert (b.visits, b.by_type[VisitType(4)], b.revenue) == (1, 1, Decimal(700))
    assert (team.visits, team.revenue) == (2, Decimal(3700))

    # A seller filter does not drop the team: Bob's card and the whole team stay — Alice
    # 2 visits, 2 deals, 2 nudges, 5,000; the team 3 visits, 5,700.
    cards = scorecards(shop, *MARCH, filters=Filters(seller=alice.pk))
    assert (cards[alice.pk].visits, cards[alice.pk].deals_won) == (2, 2)
    assert (cards[alice.pk].nudges_thrown, cards[alice.pk].revenue) == (2, Decimal(5000))
    assert cards[bob.pk].revenue == Decimal(700)
    assert (cards[TEAM].visits, cards[TEAM].revenue) == (3, Decimal(5700))
