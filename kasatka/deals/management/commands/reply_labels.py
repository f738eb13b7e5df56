"""`kasatka reply_labels`: the sellers' corrections of read replies, as labelled data (JSONL).

Each line has the fields of the labelled set the classifier is tested on
(tests/data/deal_replies.jsonl): text, received_at, tz, label, date — and what Kasatka had
read (predicted) and whether a seller corrected it.
"""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from kasatka.deals.models import DealReply, ReplySource


class Command(BaseCommand):
    help = (
        "Print the replies to nudges that sellers corrected, one JSON object per line "
        "(--all: every reply read from a message), for checking or retraining the classifier."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--business", help="Only this business's replies (slug)")
        parser.add_argument("--all", action="store_true", help="Uncorrected replies too")

    def handle(self, *args: Any, **options: Any) -> None:
        replies = DealReply.objects.filter(source=ReplySource.MESSAGE).select_related(
            "deal__contact", "business"
        )
        if options["business"]:
            replies = replies.filter(business__slug=options["business"])
        if not options["all"]:
            replies = replies.filter(corrected_at__isnull=False)
        for reply in replies.order_by("id").iterator(chunk_size=1000):
            zone = reply.deal.contact.time_zone or reply.business.time_zone
            row = {
                "text": reply.text,
                "received_at": reply.received_at.isoformat(),
                "tz": zone,
                "label": reply.answer,
                "date": reply.answer_date.isoformat() if reply.answer_date else None,
                "predicted": reply.predicted,
                "corrected": reply.was_corrected,
            }
            self.stdout.write(json.dumps(row, ensure_ascii=False))
