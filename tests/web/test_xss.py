"""A client named `<script>alert(1)</script>` is shown as text on every page, never run.

The same hostile strings go into every field a client, a seller or a provider can fill: the
name, the deal's title, a reply's text, a touch's body. Each page is fetched by the Django
client and checked for the raw tag; `tests/browser/test_xss.py` opens the same pages in
chromium and fails on any alert.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kasatka.chains.actions import enroll
from kasatka.deals.actions import create_deal
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import Answer
from kasatka.deals.nudging import nudge_stuck_deals
from kasatka.deals.replies import record_answer
from kasatka.engine.worker import Worker
from kasatka.sales.actions import (
    active_loss_reasons,
    ensure_default_loss_reasons,
    record_visit_from_form,
)
from tests import builders

pytestmark = pytest.mark.django_db

EVIL = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
MSK = ZoneInfo("Europe/Moscow")


def hostile_world(shop, alice, clock) -> dict[str, int]:
    """A contact, a deal, a reply, a touch and a visit, each carrying the hostile string."""
    clock.set(datetime(2026, 3, 2, 9, tzinfo=MSK))
    contact = builders.contact(
        shop, email="evil@example.com", phone="+79160000001", owner=alice,
        first_name=EVIL, patronymic="", last_name=f'"><img src=x onerror=alert(2)>{EVIL}',
    )
    contact.company = EVIL
    contact.needs = EVIL
    contact.save()
    stage = ensure_default_pipeline(shop).stages.order_by("position")[1]
    deal = create_deal(contact, f"Кухня {EVIL}", Decimal("50000"), stage, seller=alice,
                       at=clock.now())
    chain = builders.chain(shop, steps=[{
        "channels": ["email"], "reason": EVIL, "subject_template": EVIL.replace("<", "&lt;"),
        "body_template": "{{ contact.first_name }} " + EVIL.replace("<", "&lt;"),
    }], name=f"Цепочка {EVIL}")
    enroll(contact, chain)
    Worker(clock=clock).run(once=True)
    clock.set(datetime(2026, 3, 5, 9, tzinfo=MSK))
    nudge_stuck_deals(clock.now())
    record_answer(deal, Answer.OTHER, alice, text=EVIL)
    ensure_default_loss_reasons(shop)
    record_visit_from_form(
        shop, seller=alice, bought=False, contacts_taken=True, name=f"Гость {EVIL}",
        phone="+79160000002", email="", consent_channels=[], amount=None,
        on_promotion=False, loss_reason=active_loss_reasons(shop)[0], note=EVIL, qualification={},
    )
    return {"contact": contact.pk, "deal": deal.pk, "chain": chain.pk}


def pages(ids: dict[str, int]) -> list[str]:
    return [
        "/",
        "/contacts/",
        "/contacts/?q=alert",
        f"/contacts/{ids['contact']}/",
        "/deals/board/",
        "/deals/plan/",
        f"/deals/{ids['deal']}/",
        "/calls/",
        "/touches/",
        "/visits/",
        "/chains/",
        f"/chains/{ids['chain']}/?contact={ids['contact']}",
        "/insights/lapsing/",
    ]


def test_hostile_names_render_as_text_everywhere(client, shop, alice, owner, clock, smtp):
    ids = hostile_world(shop, alice, clock)
    client.force_login(owner)
    shown = 0
    for url in pages(ids):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert EVIL not in html, f"raw script tag on {url}"
        assert "<img src=x" not in html, f"raw img tag on {url}"
        shown += ESCAPED in html
    assert shown >= 8  # the hostile string is on the pages, escaped (not just absent)


def test_the_chain_preview_escapes_the_contact(client, shop, alice, marketer, clock, smtp):
    ids = hostile_world(shop, alice, clock)
    client.force_login(marketer)
    response = client.post("/chains/preview/", {
        "contact": ids["contact"],
        "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0",
        "steps-0-delay_days": "0", "steps-0-delay_hours": "0",
        "steps-0-delay_from": "previous", "steps-0-channels_0": "email",
        "steps-0-reason": "Новость", "steps-0-subject_template": "Тема",
        "steps-0-body_template": "Здравствуйте, {{ contact.first_name }}!",
    })
    assert response.status_code == 200
    html = response.content.decode()
    assert EVIL not in html
    assert ESCAPED in html
