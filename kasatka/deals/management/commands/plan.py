"""`kasatka plan --business kedr --seller alice`: a seller's plan for the day, in nudges."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import formats, translation
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business, User
from kasatka.deals.plan import DailyPlan, daily_plan, team_plan


class Command(BaseCommand):
    help = (
        "Print a seller's daily plan: stuck deals per stage, nudges to throw today, calls and "
        "tasks due, and the revenue they should bring. --all: every seller and the team."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--business", help="The business's slug (needed if there are several)")
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--seller", help="The seller's username")
        who.add_argument("--all", action="store_true", help="Every seller, for the head of sales")
        parser.add_argument("--date", type=date.fromisoformat, help="YYYY-MM-DD; default today")
        parser.add_argument("--json", action="store_true", help="Machine-readable output")

    def handle(self, *args: Any, **options: Any) -> None:
        business = self._business(options["business"])
        with translation.override(business.language):
            if options["all"]:
                team = team_plan(business, options["date"])
                plans = [*team.sellers, team.total]
            else:
                seller = User.objects.filter(
                    business=business, username=options["seller"]
                ).first()
                if seller is None:
                    raise CommandError(
                        _("No seller “%(name)s” in %(business)s.")
                        % {"name": options["seller"], "business": business}
                    )
                plans = [daily_plan(business, seller, options["date"])]
            if options["json"]:
                self.stdout.write(json.dumps([as_dict(p) for p in plans], ensure_ascii=False,
                                             indent=2))
                return
            for plan in plans:
                self._print(plan)

    def _business(self, slug: str | None) -> Business:
        businesses = Business.objects.all()
        if slug:
            businesses = businesses.filter(slug=slug)
        found = list(businesses[:2])
        if len(found) != 1:
            raise CommandError(
                _("No business “%(slug)s”.") % {"slug": slug} if slug and not found
                else _("Name the business with --business.")
            )
        return found[0]

    def _print(self, plan: DailyPlan) -> None:
        who = plan.seller.full_name if plan.seller else _("The team")
        conversion = plan.conversion
        basis = (
            _("measured on %(n)s nudges") % {"n": conversion.settled}
            if conversion.measured else _("the method's figure until measured")
        )
        self.stdout.write(
            _("%(who)s, plan for %(day)s (nudge → order %(rate)s %%, %(basis)s)")
            % {"who": who, "day": formats.date_format(plan.day), "rate": _pct(conversion.rate),
               "basis": basis}
        )
        for line in plan.lines:
            self.stdout.write(
                "  "
                + _("%(stage)s: %(stuck)s stuck (%(amount)s), %(nudges)s nudges today × "
                    "%(average)s average → %(revenue)s")
                % {
                    "stage": line.stage.name, "stuck": line.stuck,
                    "amount": _money(line.stuck_amount), "nudges": line.nudges_today,
                    "average": _money(line.average_amount),
                    "revenue": _money(line.expected_revenue),
                }
            )
        for nudge in plan.nudges:
            self.stdout.write(f"  → {nudge.deal.title} ({nudge.deal.contact}): {nudge.text}")
        for call in plan.calls:
            self.stdout.write(f"  ☎ {call.phone} {call.contact}: {call.reason}")
        for task in plan.tasks:
            self.stdout.write(f"  ✓ {task.deal.title}: {task.title}")
        self.stdout.write(
            _("Nudges %(nudges)s, calls %(calls)s, tasks %(tasks)s; expected revenue %(revenue)s")
            % {"nudges": plan.nudges_count, "calls": plan.calls_count,
               "tasks": plan.tasks_count, "revenue": _money(plan.expected_revenue)}
        )
        self.stdout.write("")


def _money(value: Decimal) -> str:
    return formats.number_format(value, 2, use_l10n=True, force_grouping=True)


def _pct(rate: Decimal) -> str:
    return formats.number_format(rate * 100, 1, use_l10n=True)


def as_dict(plan: DailyPlan) -> dict[str, Any]:
    return {
        "seller": plan.seller.username if plan.seller else None,
        "day": plan.day.isoformat(),
        "conversion": str(plan.conversion.rate),
        "conversion_measured": plan.conversion.measured,
        "stages": [
            {
                "pipeline": line.stage.pipeline.name, "stage": line.stage.name,
                "stuck": line.stuck, "stuck_amount": str(line.stuck_amount),
                "nudges_today": line.nudges_today, "average_amount": str(line.average_amount),
                "expected_revenue": str(line.expected_revenue),
            }
            for line in plan.lines
        ],
        "nudges": [
            {"id": n.pk, "deal": n.deal.title, "contact": str(n.deal.contact), "text": n.text}
            for n in plan.nudges
        ],
        "nudges_count": plan.nudges_count,
        "calls_count": plan.calls_count,
        "tasks_count": plan.tasks_count,
        "expected_revenue": str(plan.expected_revenue),
    }
