"""`kasatka lint_chains [--business kedr]`: the linter's findings for every chain."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business
from kasatka.chains.linter import ERROR, has_errors, lint_chain
from kasatka.chains.models import Chain


class Command(BaseCommand):
    help = (
        "Print the chain linter's findings for every chain (docs/linter.md); the exit code "
        "is 1 when any chain has an error."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--business", help="Only this business's chains (its slug)")

    def handle(self, *args: Any, **options: Any) -> None:
        chains = Chain.objects.select_related("business").prefetch_related("steps")
        if options["business"]:
            business = Business.objects.filter(slug=options["business"]).first()
            if business is None:
                raise CommandError(_("No business “%(slug)s”.") % {"slug": options["business"]})
            chains = chains.filter(business=business)
        failed = 0
        for chain in chains.order_by("business__slug", "name", "pk"):
            with translation.override(chain.business.language):
                findings = lint_chain(chain)
                kind = chain.get_kind_display()
                self.stdout.write(f"{chain.business.slug} / {chain.name} ({kind})")
                for f in findings:
                    where = _("step %(n)s") % {"n": f.step} if f.step is not None else _("chain")
                    label = _("error") if f.level == ERROR else _("warning")
                    self.stdout.write(f"  {label} [{f.code}] {where}: {f.message}")
                if not findings:
                    self.stdout.write("  " + _("no findings"))
            failed += has_errors(findings)
        if failed:
            raise CommandError(
                _("%(count)s chain(s) with errors.") % {"count": failed}, returncode=1
            )
