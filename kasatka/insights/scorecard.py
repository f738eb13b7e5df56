"""The seller's scorecard (METHOD.md §1, §7; issue 10, item 4), beside the team's.

Per seller, over a period: visits and the shares of the four visit types; the **contact
capture rate** (visits where the contacts were taken, types 1 and 3, over all visits); of
the visits lost, the share lost for a non-objective reason (a seller's error) and the top
reasons; deals won and lost; nudges thrown, answered and converted (`deals.metrics`: a
nudge converts when its deal is won within the business's settle days); revenue from the
purchases the seller made. The team's line adds every seller's (and what has no seller).
Grouped SQL queries, one per kind of fact.

Of the insights' filters only the lead source narrows a scorecard (to the visits, deals,
nudges and purchases of that source's contacts): the page compares one seller with the
team, so the seller filter does not drop the other sellers; it picks the card the page
highlights.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum

from kasatka.accounts.models import Business
from kasatka.deals.metrics import nudge_metrics
from kasatka.deals.models import Deal, DealStatus
from kasatka.sales.models import LossKind, Purchase, Visit, VisitType

from .filters import EVERYONE, Filters

TOP_REASONS = 3


@dataclass
class Scorecard:
    seller_id: int | None  # None: no seller (a line of its own); TEAM: the whole team
    visits: int = 0
    by_type: dict[int, int] = field(default_factory=lambda: {t: 0 for t in VisitType.values})
    losses: int = 0  # visits lost with a reason recorded
    non_objective: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    deals_won: int = 0
    deals_lost: int = 0
    nudges_thrown: int = 0
    nudges_answered: int = 0
    nudges_converted: int = 0
    revenue: Decimal = Decimal(0)

    @property
    def contacts_taken(self) -> int:
        return self.by_type[VisitType.BOUGHT_CONTACTS_TAKEN] + self.by_type[
            VisitType.LEFT_CONTACTS_TAKEN]

    @property
    def capture_rate(self) -> float | None:
        return self.contacts_taken / self.visits if self.visits else None

    def type_share(self, visit_type: int) -> float | None:
        return self.by_type[visit_type] / self.visits if self.visits else None

    @property
    def non_objective_share(self) -> float | None:
        return self.non_objective / self.losses if self.losses else None

    @property
    def top_reasons(self) -> list[tuple[str, int]]:
        return sorted(self.reasons.items(), key=lambda item: (-item[1], item[0]))[:TOP_REASONS]

    def add(self, other: Scorecard) -> None:
        self.visits += other.visits
        for t, n in other.by_type.items():
            self.by_type[t] += n
        self.losses += other.losses
        self.non_objective += other.non_objective
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n
        self.deals_won += other.deals_won
        self.deals_lost += other.deals_lost
        self.nudges_thrown += other.nudges_thrown
        self.nudges_answered += other.nudges_answered
        self.nudges_converted += other.nudges_converted
        self.revenue += other.revenue


TEAM = -1  # the key of the team's line


def scorecards(
    business: Business, start: datetime, end: datetime, *, filters: Filters = EVERYONE
) -> dict[int | None, Scorecard]:
    """Each seller's scorecard (keyed by user id; None for what has no seller) and the
    team's (keyed `TEAM`). Only `filters.source` narrows them (see the module's note); a
    visit without a contact has no source, so a source filter leaves it out."""
    by_source = Filters(source=filters.source)
    cards: dict[int | None, Scorecard] = {}

    def card(seller_id: int | None) -> Scorecard:
        return cards.setdefault(seller_id, Scorecard(seller_id))

    visits = Visit.objects.filter(
        by_source.contacts("contact__"), business=business,
        occurred_at__gte=start, occurred_at__lt=end,
    )
    for row in visits.order_by().values("seller_id").annotate(
        n=Count("pk"),
        **{f"t{t}": Count("pk", filter=Q(visit_type=t)) for t in VisitType.values},
        losses=Count("pk", filter=Q(loss_reason__isnull=False)),
        non_objective=Count("pk", filter=Q(loss_reason__kind=LossKind.NON_OBJECTIVE)),
    ):
        c = card(row["seller_id"])
        c.visits, c.losses, c.non_objective = row["n"], row["losses"], row["non_objective"]
        c.by_type = {t: row[f"t{t}"] for t in VisitType.values}
    reasons: dict[int | None, dict[str, int]] = defaultdict(dict)
    for row in visits.filter(loss_reason__isnull=False).order_by().values(
        "seller_id", "loss_reason__name"
    ).annotate(n=Count("pk")):
        reasons[row["seller_id"]][row["loss_reason__name"]] = row["n"]
    for seller_id, named in reasons.items():
        card(seller_id).reasons = named
    deals = Deal.objects.filter(
        by_source.contacts("contact__"), business=business,
        closed_at__gte=start, closed_at__lt=end,
    )
    for row in deals.order_by().values("seller_id").annotate(
        won=Count("pk", filter=Q(status=DealStatus.WON)),
        lost=Count("pk", filter=Q(status=DealStatus.LOST)),
    ):
        c = card(row["seller_id"])
        c.deals_won, c.deals_lost = row["won"], row["lost"]
    nudged = nudge_metrics(
        business, "seller", start, end, where=by_source.contacts("deal__contact__")
    )
    for nudges in nudged:
        c = card(nudges.key)
        c.nudges_thrown, c.nudges_answered = nudges.thrown, nudges.answered
        c.nudges_converted = nudges.orders
    purchases = Purchase.objects.filter(
        by_source.contacts("contact__"), business=business,
        purchased_at__gte=start, purchased_at__lt=end,
    )
    for row in purchases.order_by().values("seller_id").annotate(total=Sum("amount")):
        card(row["seller_id"]).revenue = row["total"] or Decimal(0)
    team = Scorecard(TEAM)
    for c in cards.values():
        team.add(c)
    cards[TEAM] = team
    return cards
