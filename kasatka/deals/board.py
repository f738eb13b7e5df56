"""The deals board: a kanban of one pipeline's open deals by stage, dragged to move them.

amoCRM and Bitrix24 set what a Russian seller expects here: a column per stage with its
count and sum, cards dragged from stage to stage, "won" and "lost" as drop targets, the
deals that wait too long on the client marked. Every move goes through `move_deal`,
`win_deal` or `lose_deal`, so the history, the nudges and the stuck clock follow. Without
JavaScript, with a keyboard, and on a phone (touch screens fire no drag events) each card's
"move to" form does the same as a plain POST; the script only makes it happen in place.

The board is read in a fixed number of queries whatever the number of deals: the columns'
counts and sums in one grouped query, the cards (the most recent of each column) in one
windowed query, their proposed nudges in one more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Case, Count, F, Q, QuerySet, Sum, Value, When, Window
from django.db.models.functions import RowNumber
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from kasatka.accounts.access import (
    business_of,
    can,
    get_scoped,
    require,
    scope_to_user,
    sees_whole_team,
    user_of,
)
from kasatka.accounts.models import Business, Role, User
from kasatka.engine.clock import now as clock_now
from kasatka.sales.models import LossReason
from kasatka.web.navigation import form_next

from .actions import lose_deal, move_deal, win_deal
from .models import Deal, DealStage, DealStatus, Nudge, NudgeState, Pipeline
from .nudging import propose

# Cards shown per column (the most recent in the stage); the column's count and sum are
# always complete, and "N more" opens the column up to EXPANDED.
CARDS_PER_COLUMN = 50
EXPANDED = 500
WON, LOST = "won", "lost"


@dataclass(frozen=True)
class Filter:
    """Whose deals the board shows, and whether only the stuck ones."""

    seller: str = ""  # "" everybody's, "none" the unassigned, else a user's id
    stuck_only: bool = False

    @classmethod
    def read(cls, user: User, data: QueryDict) -> Filter:
        seller = data.get("seller", "")
        if not _sees_all(user) or not (seller == "none" or seller.isdigit()):
            seller = ""  # a seller's board is always their own
        return cls(seller, data.get("stuck") == "1")


@dataclass
class Card:
    deal: Deal
    days: int  # calendar days in the stage
    stuck: bool
    nudge: Nudge | None = None  # the nudge proposed and waiting to be thrown


@dataclass
class Column:
    key: str  # the stage's id, or "won" / "lost"
    name: str
    stage: DealStage | None = None
    count: int = 0
    amount: Decimal = Decimal(0)
    stuck: int = 0
    cards: list[Card] = field(default_factory=list)

    @property
    def more(self) -> int:
        return max(0, self.count - len(self.cards))



def _htmx(request: HttpRequest) -> bool:
    """Asked by the board's script (or htmx): answer with a fragment, not a page."""
    return bool(getattr(request, "htmx", False))


def _sees_all(user: User) -> bool:
    return sees_whole_team(user) or can(user, "read_all_contacts")


def stuck_q(now: datetime) -> Q:
    """Stuck: marked by the trigger, or past its wait and the trigger not round yet."""
    return Q(stuck_since__isnull=False) | Q(stage__waits_for_client=True, next_nudge_at__lte=now)


def is_stuck(deal: Deal, stage: DealStage, now: datetime) -> bool:
    if deal.stuck_since is not None:
        return True
    return bool(stage.waits_for_client and deal.next_nudge_at and deal.next_nudge_at <= now)


def _scoped(user: User, deals: QuerySet[Deal], shown: Filter) -> QuerySet[Deal]:
    """The deals the user may see on the board, narrowed by the filter."""
    deals = scope_to_user(user, deals, "seller", reading=True)
    if shown.seller == "none":
        deals = deals.filter(seller__isnull=True)
    elif shown.seller:
        deals = deals.filter(seller_id=int(shown.seller))
    return deals


def _open(user: User, pipeline_id: int, shown: Filter, now: datetime) -> QuerySet[Deal]:
    deals = _scoped(
        user, Deal.objects.filter(pipeline_id=pipeline_id, status=DealStatus.OPEN), shown
    )
    return deals.filter(stuck_q(now)) if shown.stuck_only else deals


def _heads(
    user: User, pipeline_id: int, stages: list[DealStage], shown: Filter, now: datetime
) -> dict[int, Column]:
    """The stages' columns with their counts and sums, no cards yet (one query)."""
    columns = {s.pk: Column(str(s.pk), s.name, s) for s in stages}
    rows = (
        _open(user, pipeline_id, shown, now).filter(stage_id__in=list(columns))
        .values("stage_id")
        .annotate(n=Count("id"), amount=Sum("amount"), stuck=Count("id", filter=stuck_q(now)))
        .order_by()
    )
    for row in rows:
        column = columns[row["stage_id"]]
        column.count, column.stuck = row["n"], row["stuck"]
        column.amount = Decimal(row["amount"] or 0)
    return columns


def _outcomes(
    user: User, business: Business, pipeline_id: int, shown: Filter, now: datetime
) -> dict[str, Column]:
    """Won and lost this month, in the business's time zone (one query)."""
    month = now.astimezone(business.zone).replace(day=1, hour=0, minute=0, second=0,
                                                   microsecond=0)
    columns = {WON: Column(WON, _("Won")), LOST: Column(LOST, _("Lost"))}
    closed = Deal.objects.filter(
        pipeline_id=pipeline_id, status__in=[WON, LOST], closed_at__gte=month
    )
    rows = _scoped(user, closed, shown).values("status").annotate(
        n=Count("id"), amount=Sum("amount")
    ).order_by()
    for row in rows:
        columns[row["status"]].count = row["n"]
        columns[row["status"]].amount = Decimal(row["amount"] or 0)
    return columns


def _cards(
    deals: QuerySet[Deal], stages: dict[int, DealStage], business: Business, now: datetime,
    expanded: int | None = None,
) -> list[Card]:
    """The most recent deals of each stage (one query), with their proposed nudges (one)."""
    rank = Window(
        RowNumber(), partition_by=[F("stage_id")],
        order_by=[F("stage_entered_at").desc(), F("id").desc()],
    )
    limit = Case(
        When(stage_id=expanded or 0, then=Value(EXPANDED)), default=Value(CARDS_PER_COLUMN)
    )
    found = list(
        deals.filter(stage_id__in=list(stages))
        .select_related("contact", "seller")
        .annotate(rank=rank)
        .filter(rank__lte=limit)
        .order_by("stage_id", "rank")
    )
    nudges = {
        n.deal_id: n
        for n in Nudge.objects.filter(
            deal_id__in=[d.pk for d in found], state=NudgeState.PROPOSED
        ).only("id", "deal_id", "text")
    }
    today = now.astimezone(business.zone).date()
    cards = []
    for deal in found:
        stage = stages[deal.stage_id]
        deal.stage = stage  # known already: no query per card
        cards.append(Card(
            deal, (today - deal.stage_entered_at.astimezone(business.zone).date()).days,
            is_stuck(deal, stage, now), nudges.get(deal.pk),
        ))
    return cards


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@login_required
@require_GET
def board(request: HttpRequest) -> HttpResponse:
    user = user_of(request)
    business = business_of(user)
    now = clock_now()
    shown = Filter.read(user, request.GET)
    pipelines = list(Pipeline.objects.filter(business=business, is_active=True))
    chosen = _int(request.GET.get("pipeline"))
    pipeline = next((p for p in pipelines if p.pk == chosen), pipelines[0] if pipelines else None)
    can_move = can(user, "edit_deals")
    context: dict[str, Any] = {
        "pipelines": pipelines, "pipeline": pipeline, "shown": shown,
        "sees_all": _sees_all(user), "can_move": can_move, "can_sell": can(user, "sell"),
        "next": request.get_full_path(), "columns": [], "stages": [],
    }
    if pipeline is None:
        return render(request, "deals/board.html", context)
    stages = list(DealStage.objects.filter(pipeline=pipeline).order_by("position"))
    columns = _heads(user, pipeline.pk, stages, shown, now)
    expanded = _int(request.GET.get("column"))
    deals = _open(user, pipeline.pk, shown, now)
    for card in _cards(deals, {s.pk: s for s in stages}, business, now, expanded):
        columns[card.deal.stage_id].cards.append(card)
    context.update(
        stages=stages, columns=list(columns.values()),
        outcomes=list(_outcomes(user, business, pipeline.pk, shown, now).values()),
        more_query=_without(request.GET, "column"),
    )
    if context["sees_all"]:
        context["sellers"] = User.objects.filter(
            business=business, is_active=True, role__in=[Role.OWNER, Role.HEAD_OF_SALES,
                                                         Role.SELLER],
        ).order_by("first_name", "last_name", "pk")
    if can_move:
        context["loss_reasons"] = LossReason.objects.filter(business=business, is_active=True)
    return render(request, "deals/board.html", context)


def _without(query: QueryDict, key: str) -> str:
    """The board's query string without one parameter, for links that set it afresh."""
    copy = query.copy()
    copy.pop(key, None)
    return copy.urlencode()


@login_required
@require_POST
def move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a deal to a stage of its pipeline, or win or lose it (with the reason)."""
    user = user_of(request)
    require(user, "edit_deals")
    deal: Deal = get_scoped(
        user, Deal.objects.select_related("business", "stage", "contact", "seller"), "seller", pk
    )
    target = request.POST.get("to", "")
    from_stage = deal.stage
    try:
        if target == WON:
            win_deal(deal, by=user)
            done = _("“%(deal)s”: won.") % {"deal": deal.title}
        elif target == LOST:
            reason = _loss_reason(deal, request.POST.get("loss_reason", ""))
            if reason is None and not _htmx(request):
                # Without the script there is no dialog: ask on a page of its own.
                return _ask_why(request, deal)
            if reason is None:
                raise ValidationError(_("Choose why the deal was lost."))
            lose_deal(deal, reason, by=user, note=request.POST.get("note", "").strip())
            done = _("“%(deal)s”: lost (%(reason)s).") % {"deal": deal.title, "reason": reason}
        else:
            stage = DealStage.objects.filter(
                pipeline_id=deal.pipeline_id, pk=_int(target) or 0
            ).first()
            if stage is None:
                raise ValidationError(_("Choose a stage of the deal's pipeline."))
            move_deal(deal, stage, by=user)
            done = _("“%(deal)s” moved to “%(stage)s”.") % {"deal": deal.title,
                                                             "stage": stage.name}
    except ValidationError as exc:
        problem = " ".join(exc.messages)
        if _htmx(request):
            return _fragment(request, {"message": problem, "message_tag": "error"}, 400)
        if target == LOST:
            return _ask_why(request, deal, problem, 400)
        messages.error(request, problem)
        return _back(request)
    if not _htmx(request):
        messages.success(request, done)
        return _back(request, deal)
    return _moved(request, user, deal, from_stage, done)


def _loss_reason(deal: Deal, value: str) -> LossReason | None:
    """The chosen reason of the deal's own business; a wrong one is an error, none is None."""
    if not value:
        return None
    reason = LossReason.objects.filter(
        business_id=deal.business_id, is_active=True, pk=_int(value) or 0
    ).first()
    if reason is None:
        raise ValidationError(_("Choose a loss reason from the list."))
    return reason


def _ask_why(
    request: HttpRequest, deal: Deal, problem: str = "", status: int = 200
) -> HttpResponse:
    return render(request, "deals/lose.html", {
        "deal": deal, "problem": problem, "next": _next(request),
        "loss_reasons": LossReason.objects.filter(business_id=deal.business_id, is_active=True),
    }, status=status)


def _moved(
    request: HttpRequest, user: User, deal: Deal, from_stage: DealStage, message: str
) -> HttpResponse:
    """The fragment the board's script swaps in: the card (if still open) and the columns'
    heads that changed."""
    now = clock_now()
    shown = Filter.read(user, request.POST)
    stages = list(DealStage.objects.filter(pipeline_id=deal.pipeline_id).order_by("position"))
    touched = [s for s in stages if s.pk in (from_stage.pk, deal.stage_id)]
    heads = list(_heads(user, deal.pipeline_id, touched, shown, now).values())
    context: dict[str, Any] = {"heads": heads, "message": message, "message_tag": "success"}
    if deal.is_open:
        context["card"] = _card(deal, now)
        context["stages"] = stages
    else:
        context["heads"] += list(
            _outcomes(user, deal.business, deal.pipeline_id, shown, now).values()
        )
    return _fragment(request, context)


def _card(deal: Deal, now: datetime) -> Card:
    today = now.astimezone(deal.business.zone).date()
    nudge = Nudge.objects.filter(deal=deal, state=NudgeState.PROPOSED).first()
    return Card(
        deal, (today - deal.stage_entered_at.astimezone(deal.business.zone).date()).days,
        is_stuck(deal, deal.stage, now), nudge,
    )


def _fragment(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    context.setdefault("heads", [])
    context.update(
        next=_next(request), can_move=can(request.user, "edit_deals"),
        can_sell=can(request.user, "sell"),
    )
    return render(request, "deals/_moved.html", context, status=status)


@login_required
@require_POST
def propose_nudge(request: HttpRequest, pk: int) -> HttpResponse:
    """A stuck deal without a nudge waiting (the trigger's are done, or not round yet):
    propose the next one now, for the seller to read, edit and throw."""
    user = user_of(request)
    require(user, "sell")
    deal: Deal = get_scoped(
        user, Deal.objects.select_related("business", "stage", "contact", "seller"), "seller", pk
    )
    now = clock_now()
    if not deal.is_open or not is_stuck(deal, deal.stage, now):
        problem, tag = _("This deal is not stuck: there is nothing to nudge yet."), "error"
    elif propose(deal, now) is None:
        problem, tag = _("A nudge is already proposed for this deal."), "info"
    else:
        problem, tag = _("Nudge proposed: read it and throw it."), "success"
    if not _htmx(request):
        messages.add_message(request, messages.ERROR if tag == "error" else messages.SUCCESS,
                             problem)
        return _back(request, deal)
    stages = list(DealStage.objects.filter(pipeline_id=deal.pipeline_id).order_by("position"))
    return _fragment(request, {
        "card": _card(deal, now), "stages": stages, "message": problem, "message_tag": tag,
    }, 400 if tag == "error" else 200)


def _next(request: HttpRequest) -> str:
    """The board page the form came from (with its filters), without its anchor."""
    return form_next(request).split("#")[0]


def _back(request: HttpRequest, deal: Deal | None = None) -> HttpResponse:
    target = _next(request)
    if not target:
        return redirect("deals:board")
    return redirect(f"{target}#deal-{deal.pk}" if deal is not None and deal.is_open else target)
