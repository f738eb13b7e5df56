"""The insight pages: each builds its tables and charts from one figure module's SQL aggregates.

A builder takes the page's filter form (the business, the period, the seller and source)
and returns a `Report`; nothing here loads contacts or touches into Python — only the
figures' grouped rows and the names that label them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import formats, timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kasatka.accounts.models import User
from kasatka.chains.models import Step
from kasatka.contacts.models import Channel, Stage
from kasatka.sales.models import LeadSource, VisitType

from . import journey
from .cohorts import cohorts
from .forms import InsightFilters
from .funnel import STAGES, Funnel, funnel_views
from .report import Chart, Report, Share, Table, display, share
from .scorecard import TEAM, scorecards
from .sources import source_lines
from .steps import attribution_days, touch_figures_both
from .touches import touches_before_purchase
from .winback import PAliveBand, lapsing_now, winback_results

ACCENT = "#0b6e8a"
SECOND = "#e07a1f"
MUTED = "#9aa5ad"


def _sellers(business: Any) -> dict[int | None, str]:
    names: dict[int | None, str] = {
        user.pk: user.full_name for user in User.objects.filter(business=business)
    }
    names[None] = _("no seller")
    return names


def _sources(business: Any) -> dict[int | None, LeadSource]:
    return {s.pk: s for s in LeadSource.objects.filter(business=business)}


def _source_name(sources: dict[int | None, LeadSource], key: int | None) -> str:
    found = sources.get(key)
    return found.name if found is not None else _("direct (no source)")


def _bar(x: list[Any], y: list[Any], name: str = "", color: str = ACCENT,
         **extra: Any) -> dict[str, Any]:
    return {"type": "bar", "x": x, "y": y, "name": name, "marker": {"color": color}, **extra}


def _money(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


# --- The funnel -----------------------------------------------------------------------------

def _stage_label(stage: str) -> str:
    return str(Stage(stage).label)


def _funnel_row(label: str, line: Funnel) -> list[Any]:
    row: list[Any] = [label, line.reached[Stage.LEAD]]
    for stage in STAGES[1:]:
        row += [line.reached[stage], Share(line.conversion(stage))]
    return row


def _funnel_columns(first: str) -> list[str]:
    columns = [first, _("leads")]
    for stage in STAGES[1:]:
        columns += [_stage_label(stage), _("→ %(stage)s") % {"stage": _stage_label(stage)}]
    return columns


def funnel_page(form: InsightFilters) -> Report:
    business, (start, end), chosen = form.business, form.period, form.filters
    whole, source_lines_, seller_lines = funnel_views(business, start, end, filters=chosen)
    labels = [_stage_label(s) for s in STAGES]
    stages = Table(
        "stages", _("Stages"),
        [_("stage"), _("contacts"), _("conversion from the stage before"),
         _("average days from the stage before")],
    )
    for i, stage in enumerate(STAGES):
        stages.rows.append([
            labels[i], whole.reached[stage],
            Share(whole.conversion(stage)) if i else None,
            whole.step_time.get(stage) if i else None,
        ])
    sellers, sources = _sellers(business), _sources(business)
    by_source = Table("by_source", _("By lead source"), _funnel_columns(_("source")))
    for line in source_lines_:
        by_source.rows.append(_funnel_row(_source_name(sources, line.key), line))
    by_seller = Table("by_seller", _("By seller"), _funnel_columns(_("seller")))
    for line in seller_lines:
        by_seller.rows.append(_funnel_row(sellers.get(line.key, "?"), line))
    chart = Chart("funnel", _("From lead to adept"), [{
        "type": "funnel", "y": labels, "x": [whole.reached[s] for s in STAGES],
        "textinfo": "value+percent initial", "marker": {"color": ACCENT},
    }], {"margin": {"l": 16, "r": 16, "t": 16, "b": 24}, "yaxis": {"automargin": True}})
    return Report(
        _("Funnel"),
        _("The contacts taken in the period and how far each got before its end: lead → new "
          "client → regular → adept, with the conversion and the average time of each step."),
        charts=[chart], tables=[stages, by_source, by_seller],
        empty=not whole.reached[Stage.LEAD],
    )


def _as_of(business: Any, moment: Any) -> dict[str, Any]:
    """The placeholders of a note on figures read from the rollup of a big book."""
    return {
        "moment": formats.date_format(timezone.localtime(moment, business.zone),
                                      "SHORT_DATETIME_FORMAT"),
        "minutes": settings.KASATKA_INSIGHTS["ROLLUP_MINUTES"],
    }


# --- Touches before the first purchase --------------------------------------------------------

def touches_page(form: InsightFilters) -> Report:
    business, (start, end), chosen = form.business, form.period, form.filters
    note = ""
    as_of = journey.complete_as_of(business)
    if as_of is not None:  # a big book: the rollup the task worker keeps
        found = journey.touches_before_purchase(business, start, end, filters=chosen)
        note = _("Computed from the touches and purchases as of %(moment)s; refreshed every "
                 "%(minutes)s minutes.") % _as_of(business, as_of)
    else:
        found = touches_before_purchase(business, start, end, filters=chosen)
    distribution = Table(
        "distribution", _("Touches before the first purchase"),
        [_("touches"), _("buyers"), _("share of buyers")],
    )
    for touches, n in found.distribution.items():
        distribution.rows.append([touches, n, share(n, found.buyers)])
    summary = Table("summary", _("In short"), [_("figure"), _("value")])
    summary.rows += [
        [_("first purchases in the period"), found.buyers],
        [_("median touches before a first purchase"), found.median],
        [_("sales after more than %(n)s touches") % {"n": found.many},
         Share(found.share_after_many)],
        [_("contacts whose warming ended without a purchase"), found.warming_ended],
        [_("… of them warmed at most %(n)s times: given up too early") % {
            "n": found.give_up_at}, Share(found.share_gave_up)],
    ]
    channels = Table("channels", _("Those touches by channel"), [_("channel"), _("touches")])
    for channel, n in found.by_channel.items():
        channels.rows.append([_channel(channel), n])
    xs = list(found.distribution)
    colors = [SECOND if touches > found.many else ACCENT for touches in xs]
    chart = Chart("distribution", _("Buyers by touches before their first purchase"), [
        _bar(xs, list(found.distribution.values()), _("buyers"), ACCENT,
             marker={"color": colors}),
    ], {"xaxis": {"title": {"text": _("touches")}, "dtick": 1},
        "yaxis": {"title": {"text": _("buyers")}}})
    by_channel = Chart("channels", _("Touches by channel"), [{
        "type": "pie", "labels": [row[0] for row in channels.rows],
        "values": [row[1] for row in channels.rows], "hole": 0.45,
    }])
    return Report(
        _("Touches before purchase"),
        _("For every first purchase in the period: how many touches reached the client since "
          "the contact was taken. Bars past the method's figure are the sales a seller who "
          "stops early never makes."),
        charts=[chart, by_channel], tables=[summary, distribution, channels],
        empty=not found.buyers and not found.warming_ended, note=note,
    )


def _channel(value: object) -> str:
    try:
        return str(Channel(str(value)).label)
    except ValueError:
        return str(value or "—")


# --- Which touches sell ---------------------------------------------------------------------

def _touch_columns(first: str) -> list[str]:
    return [first, _("sent"), _("delivered"), _("replied"), _("unsubscribed"),
            _("purchases, last touch"), _("revenue, last touch"),
            _("purchases, touch-weighted"), _("revenue, touch-weighted")]


def _touch_row(label: str, f: Any) -> list[Any]:
    return [label, f.sent, f.delivered, f.replied, f.unsubscribed, f.last_touch_purchases,
            f.last_touch_revenue, round(f.weighted_purchases, 2), f.weighted_revenue]


def steps_page(form: InsightFilters) -> Report:
    business, (start, end), chosen = form.business, form.period, form.filters
    per_step, per_channel = touch_figures_both(business, start, end, filters=chosen)
    note = ""
    if journey.touch_days(business, start, end, chosen) is not None:  # what steps.py read
        note = _("The touches sent, delivered, replied to and unsubscribed from are counted as "
                 "of %(moment)s, refreshed every %(minutes)s minutes; the purchases up to "
                 "now.") % _as_of(business, journey.complete_as_of(business))
    named: dict[object, Step] = {
        step.pk: step for step in Step.objects.filter(
            pk__in=[k for k in per_step if k is not None]
        ).select_related("chain")
    }

    def order(key: object) -> tuple[Any, ...]:
        step = named.get(key)
        return (step is None, step.chain.name if step else "", step.position if step else 0)

    steps = Table("steps", _("Per chain step"), _touch_columns(_("step")))
    for key in sorted(per_step, key=order):
        step = named.get(key)
        label = (f"{step.chain.name} · {step.position}" if step is not None
                 else _("outside chains (nudges, one-off touches)"))
        steps.rows.append(_touch_row(label, per_step[key]))
    channels = Table("channels", _("Per channel"), _touch_columns(_("channel")))
    for key in sorted(per_channel, key=lambda k: str(k)):
        channels.rows.append(_touch_row(_channel(key), per_channel[key]))
    names = [row[0] for row in steps.rows]
    # Horizontal: a step's name is long ("Прогрев после визита · 3").
    revenue = Chart("steps", _("Revenue attributed to each step"), [
        _bar([float(row[6]) for row in steps.rows], names, _("last touch"), ACCENT,
             orientation="h"),
        _bar([float(row[8]) for row in steps.rows], names, _("touch-weighted"), SECOND,
             orientation="h"),
    ], {"barmode": "group", "height": 120 + 34 * len(names),
        "yaxis": {"automargin": True, "autorange": "reversed", "type": "category"}})
    ch_names = [row[0] for row in channels.rows]
    by_channel = Chart("channels", _("Sent, delivered and replied per channel"), [
        _bar(ch_names, [row[1] for row in channels.rows], _("sent"), MUTED),
        _bar(ch_names, [row[2] for row in channels.rows], _("delivered"), ACCENT),
        _bar(ch_names, [row[3] for row in channels.rows], _("replied"), SECOND),
    ], {"barmode": "group"})
    return Report(
        _("Which touches sell"),
        _("Touches sent in the period and the purchases made within %(days)s days after a "
          "touch: the whole purchase to the last touch before it, or shared equally by every "
          "touch in those days (touch-weighted).") % {"days": attribution_days()},
        charts=[revenue, by_channel], tables=[steps, channels],
        empty=not per_step and not per_channel, note=note,
    )


# --- The sellers ------------------------------------------------------------------------------

def sellers_page(form: InsightFilters) -> Report:
    business, (start, end), chosen = form.business, form.period, form.filters
    cards = scorecards(business, start, end, filters=chosen)
    names = _sellers(business)
    names[TEAM] = _("the team")
    columns = [_("seller"), _("visits")]
    columns += [_("type %(n)s") % {"n": t} for t in VisitType.values]
    columns += [_("contact capture rate"), _("non-objective losses"), _("top loss reasons"),
                _("deals won"), _("deals lost"), _("nudges thrown"), _("nudges answered"),
                _("nudges → orders"), _("revenue")]
    table = Table("scorecards", _("Scorecards"), columns)
    keys = sorted((k for k in cards if k != TEAM), key=lambda k: (k is None, names.get(k, "")))
    if chosen.seller is not None:
        keys = [k for k in keys if k == chosen.seller]
    for key in [*keys, TEAM]:
        c = cards.get(key)
        if c is None:
            continue
        reasons = ", ".join(f"{name} ({n})" for name, n in c.top_reasons)
        table.rows.append([
            names.get(key, "?"), c.visits,
            *[Share(c.type_share(t)) for t in VisitType.values],
            Share(c.capture_rate), Share(c.non_objective_share), reasons,
            c.deals_won, c.deals_lost, c.nudges_thrown, c.nudges_answered,
            c.nudges_converted, c.revenue,
        ])
    table.highlight = len(table.rows) - 1 if table.rows else None
    labels = [row[0] for row in table.rows]
    capture = Chart("capture", _("Contact capture rate and non-objective losses"), [
        _bar(labels, [_pct(row[6]) for row in table.rows], _("contact capture rate"), ACCENT),
        _bar(labels, [_pct(row[7]) for row in table.rows], _("non-objective losses"), SECOND),
    ], {"barmode": "group", "yaxis": {"ticksuffix": " %"}})
    mix = Chart("types", _("Visit types"), [
        _bar(labels, [_pct(row[2 + i]) for row in table.rows], str(VisitType(t).label), color)
        for i, (t, color) in enumerate(zip(
            VisitType.values, (ACCENT, "#5fa8bd", SECOND, "#c0392b"), strict=True))
    ], {"barmode": "stack", "yaxis": {"ticksuffix": " %"}})
    return Report(
        _("Sellers"),
        _("Each seller's visits, contact capture rate (visits of types 1 and 3), losses that "
          "were not objective, deals, nudges and revenue in the period, beside the team's."),
        charts=[capture, mix], tables=[table],
        empty=not cards.get(TEAM) or not (cards[TEAM].visits or cards[TEAM].revenue
                                          or cards[TEAM].deals_won or cards[TEAM].deals_lost),
    )


def _pct(cell: Share) -> float | None:
    return round(cell.value * 100, 1) if cell.value is not None else None


# --- Lead sources -----------------------------------------------------------------------------

def sources_page(form: InsightFilters) -> Report:
    business, (start, end), chosen = form.business, form.period, form.filters
    lines = source_lines(business, start, end, filters=chosen)
    table = Table("sources", _("Lead sources"), [
        _("source"), _("campaign"), _("leads"), _("clients"), _("conversion"), _("revenue"),
        _("cost"), _("cost per lead"), _("cost per client"), _("ROI"),
    ])
    for line in lines:
        table.rows.append([
            line.name or _("direct (no source)"), line.campaign, line.leads, line.clients,
            Share(line.conversion), line.revenue, line.cost, line.cost_per_lead,
            line.cost_per_client, Share(float(line.roi) if line.roi is not None else None),
        ])
    names = [row[0] for row in table.rows]
    money = Chart("money", _("Cost and revenue per source"), [
        _bar(names, [_money(line.cost) for line in lines], _("cost"), SECOND),
        _bar(names, [_money(line.revenue) for line in lines], _("revenue"), ACCENT),
    ], {"barmode": "group"})
    per_client = Chart("cpc", _("Cost per lead and per client"), [
        _bar(names, [_money(line.cost_per_lead) for line in lines], _("cost per lead"), MUTED),
        _bar(names, [_money(line.cost_per_client) for line in lines], _("cost per client"),
             ACCENT),
    ], {"barmode": "group"})
    return Report(
        _("Lead sources"),
        _("The leads taken in the period by source and campaign: how many became clients, "
          "what they spent by the period's end, what the source cost in the period, and the "
          "return on it."),
        charts=[money, per_client], tables=[table], empty=not lines,
    )


# --- Cohorts ----------------------------------------------------------------------------------

def cohorts_page(form: InsightFilters) -> Report:
    business, (start, end), chosen = form.business, form.period, form.filters
    found = cohorts(business, start, end, filters=chosen)
    span = max((max(c.buyers, default=0) for c in found), default=0)
    months = list(range(span + 1))
    rate_columns = [_("cohort"), _("clients")] + [
        _("month %(n)s") % {"n": m} for m in months]
    rates = Table("repeat", _("Share of the cohort buying, by months since the first purchase"),
                  rate_columns)
    revenue = Table("revenue", _("Revenue of the cohort, by months since the first purchase"),
                    rate_columns)
    labels = []
    z: list[list[float | None]] = []
    today = timezone.now().astimezone(business.zone).date()
    for c in found:
        label = formats.date_format(date(c.year, c.month, 1), "YEAR_MONTH_FORMAT")
        labels.append(label)
        # Months not yet lived by the cohort are blank, not 0 %.
        lived = (today.year - c.year) * 12 + today.month - c.month
        shares = [share(c.buyers.get(m, 0), c.size) if m <= lived else None for m in months]
        rates.rows.append([label, c.size, *shares])
        revenue.rows.append([label, c.size, *[
            c.revenue.get(m, Decimal(0)) if m <= lived else None for m in months]])
        # Month 0 is every cohort's 100 %: the chart starts at month 1, the repeat.
        z.append([_pct(s) if isinstance(s, Share) else None for s in shares[1:]])
    heat = Chart("heatmap", _("Repeat rate by cohort"), [{
        "type": "heatmap", "z": z, "x": [str(m) for m in months[1:]], "y": labels,
        "colorscale": "Blues", "reversescale": True, "zmin": 0, "hoverongaps": False,
        "colorbar": {"ticksuffix": " %"},
    }], {"xaxis": {"title": {"text": _("months since the first purchase")}, "dtick": 1},
         "yaxis": {"autorange": "reversed", "type": "category", "automargin": True}})
    return Report(
        _("Cohorts"),
        _("Clients by the month of their first purchase: the share of them buying again in "
          "each later month, and what they spent."),
        charts=[heat], tables=[rates, revenue], empty=not found,
    )


# --- Lapse and win-back ----------------------------------------------------------------------

def _band(band: PAliveBand) -> str:
    if band.is_unknown:
        return _("not estimated")
    low, high = round((band.low or 0) * 100), round((band.high or 1) * 100)
    return f"{low}–{high} %"


def lapse_page(form: InsightFilters) -> Report:
    business, (start, end), chosen = form.business, form.period, form.filters
    now = lapsing_now(business, filters=chosen)
    bands = Table("lapsing", _("Clients lapsing now, by the probability they are still clients"),
                  [_("probability still a client"), _("clients"), _("value at risk")],
                  note=_("Lapsing now: %(n)s clients, %(value)s at risk; the mean probability "
                         "still a client is %(p)s.") % {
                      "n": now.clients, "value": display(now.value_at_risk),
                      "p": Share(now.mean_p_alive)})
    for band in now.bands:
        bands.rows.append([_band(band), band.clients, band.value_at_risk])
    results = winback_results(business, start, end, filters=chosen)
    winback = Table("winback", _("Win-back results"), [
        _("win-back chain"), _("clients enrolled"), _("came back"), _("return rate"),
        _("revenue after the win-back"), _("average days to return"), _("touches sent"),
        _("calls"), _("calls made"), _("calls that reached the client"),
    ])
    for line in results:
        winback.rows.append([
            line.chain_name if line.chain_id is not None else _("all win-back chains"),
            line.enrolled, line.returned, Share(line.return_rate), line.revenue,
            line.mean_days_to_return, line.touches_sent, line.calls, line.calls_closed,
            line.calls_reached,
        ])
    winback.highlight = len(winback.rows) - 1 if winback.rows else None
    labels = [row[0] for row in bands.rows]
    risk = Chart("risk", _("Value at risk by the probability still a client"), [
        _bar(labels, [_money(band.value_at_risk) for band in now.bands], _("value at risk"),
             SECOND),
    ], {"yaxis": {"title": {"text": _("value at risk")}}})
    chains = [line for line in results if line.chain_id is not None]
    names = [line.chain_name for line in chains]
    returns = Chart("winback", _("Win-back: enrolled and came back"), [
        _bar(names, [line.enrolled for line in chains], _("clients enrolled"), MUTED),
        _bar(names, [line.returned for line in chains], _("came back"), ACCENT),
    ], {"barmode": "group"})
    return Report(
        _("Lapse and win-back"),
        _("The clients who have stopped buying now, what their leaving would cost, and how "
          "many of those the win-back chains brought back in the period. The list of lapsing "
          "clients, the most valuable first, is on its own page."),
        charts=[risk, returns], tables=[bands, winback],
        empty=not now.clients and not any(line.enrolled for line in results),
    )


@dataclass(frozen=True)
class Page:
    slug: str
    title: Promise
    build: Callable[[InsightFilters], Report]
    months: bool = False  # the default period is the cohorts' months, not days


PAGES = (
    Page("funnel", gettext_lazy("Funnel"), funnel_page),
    Page("touches", gettext_lazy("Touches before purchase"), touches_page),
    Page("steps", gettext_lazy("Which touches sell"), steps_page),
    Page("sellers", gettext_lazy("Sellers"), sellers_page),
    Page("sources", gettext_lazy("Lead sources"), sources_page),
    Page("cohorts", gettext_lazy("Cohorts"), cohorts_page, months=True),
    Page("lapse", gettext_lazy("Lapse and win-back"), lapse_page),
)
BY_SLUG = {page.slug: page for page in PAGES}
