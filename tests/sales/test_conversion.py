"""Lead conversion: the window's touches, the question at its end, the routes, and AM."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kasatka.accounts.models import AccountHandoff, BusinessDay, method_settings, sending_rules
from kasatka.chains.actions import enroll
from kasatka.chains.models import (
    LIVE_ENROLLMENT_STATES,
    Chain,
    ChainKind,
    Enrollment,
    EnrollmentState,
    Touch,
    TouchStatus,
)
from kasatka.chains.templating import validate_template
from kasatka.channels.call.actions import close_call
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.engine.triggers import run_triggers
from kasatka.engine.worker import EngineConfig, Worker
from kasatka.sales import conversion
from kasatka.sales.actions import record_purchase
from kasatka.sales.conversion import (
    AnswerRefused,
    answer_urls,
    close_expired_windows,
    record_lead_outcome,
    start_lead_conversion,
)
from kasatka.sales.default_chains import (
    ensure_method_chains,
    lead_conversion_days,
    method_chain,
)
from kasatka.sales.models import LeadConversion, LeadOutcome
from tests import builders

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)
DELIVERED = (TouchStatus.SENT, TouchStatus.DELIVERED)


@pytest.fixture
def lead(shop, alice):
    """A new lead of Alice's, reachable by e-mail and phone."""
    return builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)


def run_engine(clock, days: int) -> None:
    """The worker once a day (triggers included), the clock moving a day at a time."""
    for _day in range(days):
        Worker(EngineConfig(), clock=clock).run(once=True)
        clock.advance(DAY)


def live(contact, kind: str):
    return Enrollment.objects.filter(
        contact=contact, chain__kind=kind, state__in=LIVE_ENROLLMENT_STATES
    )


def window_closed(clock, lead) -> LeadConversion:
    """The lead's 30 days run by the engine, then the window ends without a purchase."""
    start_lead_conversion(lead, clock.now())
    run_engine(clock, method_settings(lead.business).lc_window_days)
    run_triggers(clock.now())
    return LeadConversion.objects.get(contact=lead)


# --- the default chain ---------------------------------------------------------------


def test_the_default_chain_touches_two_to_three_times_a_week_across_channels(
    shop, lead, clock, smtp
):
    # The chain's own rhythm: Monday 9 March, a public holiday, is made an ordinary working
    # day here, or the guardrails would move its call (tests/engine/test_guardrails.py).
    rules = sending_rules(shop)
    rules.commercial_on_holidays = True
    rules.save()
    BusinessDay.objects.create(business=shop, date=date(2026, 3, 9), is_working=True)
    start = clock.now()
    start_lead_conversion(lead, start)
    run_engine(clock, 30)

    touches = Touch.objects.filter(
        contact=lead, step__chain__kind=ChainKind.LEAD_CONVERSION, status__in=DELIVERED
    )
    days = sorted((t.created_at - start).days for t in touches)
    assert days and max(days) < 30
    # Every 7 days of the window, wherever they start, hold 2–3 touches.
    per_week = [sum(d <= day < d + 7 for day in days) for d in range(30 - 7 + 1)]
    assert min(per_week) >= 2 and max(per_week) <= 3, per_week
    channels = Counter(t.channel for t in touches)
    assert len(channels) >= 2, channels
    assert channels["call"] == CallTask.objects.filter(contact=lead, touch__isnull=False).count()
    assert channels["email"] == len(smtp.messages)


def test_the_default_chain_offers_text_audio_and_video_and_asks_at_the_end(shop):
    chain = ensure_method_chains(shop)[ChainKind.LEAD_CONVERSION]
    steps = list(chain.steps.order_by("position"))
    bodies = [s.body_template for s in steps]
    assert any("/video/" in b for b in bodies) and any("/audio/" in b for b in bodies)
    assert any("/video/" not in b and "/audio/" not in b for b in bodies)  # plain text
    assert all(s.reason.strip() for s in steps)
    assert len({tuple(s.channels) for s in steps}) >= 3
    question = steps[-1]
    assert all(f"lead_answers.{a}" in question.body_template for a in conversion.ANSWERS)
    assert not any("lead_answers" in b for b in bodies[:-1])
    assert chain.exit_on_purchase
    for step in steps:
        validate_template(step.body_template)


def test_the_chain_follows_the_business_settings(shop, other_shop):
    settings = method_settings(other_shop)
    settings.lc_touches_per_week, settings.lc_window_days = 2, 21
    settings.save()
    default = ensure_method_chains(shop)[ChainKind.LEAD_CONVERSION]
    slower = ensure_method_chains(other_shop)[ChainKind.LEAD_CONVERSION]

    def offsets(chain):
        return [s.delay.days for s in chain.steps.order_by("position")]

    assert offsets(default) == lead_conversion_days(30, 3) == [
        0, 2, 4, 7, 9, 11, 14, 16, 18, 21, 23, 25, 28
    ]
    assert offsets(slower) == [0, 3, 7, 10, 14, 17]
    assert "21 день" in slower.steps.order_by("position").last().reason


def test_method_chains_are_made_once(shop):
    first = ensure_method_chains(shop)
    again = ensure_method_chains(shop)
    assert {k: c.pk for k, c in first.items()} == {k: c.pk for k, c in again.items()}
    assert set(first) == {
        ChainKind.LEAD_CONVERSION, ChainKind.NURTURE, ChainKind.WINBACK, ChainKind.NUDGE
    }
    assert Chain.objects.filter(business=shop).count() == 4
    nurture = first[ChainKind.NURTURE].steps.order_by("position")
    assert nurture.count() == 12 and {s.delay for s in nurture} == {timedelta(days=30)}
    assert not any(s.is_commercial for s in nurture)
    assert all(s.is_commercial for s in first[ChainKind.WINBACK].steps.all())


def test_a_paused_method_chain_is_not_replaced(shop):
    chains = ensure_method_chains(shop)
    Chain.objects.filter(pk=chains[ChainKind.NURTURE].pk).update(is_active=False)
    assert method_chain(shop.pk, ChainKind.NURTURE) is None
    assert Chain.objects.filter(business=shop, kind=ChainKind.NURTURE).count() == 1


# --- opening the window ---------------------------------------------------------------


def test_a_lead_gets_one_window_at_a_time(shop, lead, clock):
    first = start_lead_conversion(lead, clock.now())
    assert first is not None
    assert first.ends_at == clock.now() + timedelta(days=30)
    assert start_lead_conversion(lead, clock.now() + DAY) is None
    assert LeadConversion.objects.filter(contact=lead).count() == 1
    assert live(lead, ChainKind.LEAD_CONVERSION).count() == 1


def test_a_client_who_bought_gets_no_window(shop, lead, alice, clock):
    record_purchase(lead, Decimal("1000"), alice, clock.now())
    lead.refresh_from_db()
    assert start_lead_conversion(lead, clock.now()) is None
    assert not LeadConversion.objects.filter(contact=lead).exists()


# --- the window ends ----------------------------------------------------------------


def test_the_seller_gets_the_question_when_the_window_ends(shop, lead, alice, clock, smtp):
    conv = window_closed(clock, lead)
    task = conv.call_task
    assert task is not None and task.is_open
    assert task.assignee == alice and task.phone == "+79161234567"
    assert "какой из трёх случаев" in task.script and "конкурент" in task.script
    assert conv.outcome == ""
    # Idempotent: the next minute's run asks nothing new.
    assert close_expired_windows(clock.now()) == 0
    assert CallTask.objects.filter(contact=lead, touch__isnull=True).count() == 1


def test_nothing_is_asked_before_the_window_ends(shop, lead, clock, smtp):
    start_lead_conversion(lead, clock.now())
    run_engine(clock, 29)
    assert close_expired_windows(clock.now()) == 0
    assert LeadConversion.objects.get(contact=lead).call_task is None


@pytest.mark.parametrize(
    ("answer", "route"),
    [
        (LeadOutcome.NOT_RIPE, ChainKind.NURTURE),
        (LeadOutcome.COMPETITOR, ChainKind.WINBACK),
        (LeadOutcome.NOT_RELEVANT, None),
    ],
)
def test_the_sellers_answer_routes_the_lead(client, shop, lead, alice, clock, smtp, answer, route):
    conv = window_closed(clock, lead)
    client.force_login(alice)
    response = client.post(f"/lead-conversions/{conv.pk}/answer/", {"outcome": answer})
    assert response.status_code == 302

    conv.refresh_from_db()
    assert (conv.outcome, conv.answered_by) == (answer, "seller")
    assert conv.call_task.outcome == CallOutcome.REACHED and not conv.call_task.is_open
    assert not live(lead, ChainKind.LEAD_CONVERSION).exists()
    routed = Enrollment.objects.filter(contact=lead, state__in=LIVE_ENROLLMENT_STATES)
    assert [e.chain.kind for e in routed] == ([route] if route else [])


def test_a_competitors_buyer_is_won_back_only_after_the_delay(shop, lead, clock, smtp):
    conv = window_closed(clock, lead)
    answered_at = clock.now()
    record_lead_outcome(conv, LeadOutcome.COMPETITOR, "seller", answered_at)
    delay = timedelta(days=method_settings(shop).winback_delay_days)
    winback = live(lead, ChainKind.WINBACK).get()
    assert winback.next_touch_at == answered_at + delay

    sent_before = len(smtp.messages)
    clock.set(answered_at + delay - DAY)
    Worker(EngineConfig(), clock=clock).run(once=True)
    assert not Touch.objects.filter(enrollment=winback).exists()
    clock.set(answered_at + delay)
    Worker(EngineConfig(), clock=clock).run(once=True)
    touch = Touch.objects.get(enrollment=winback)
    assert touch.status == TouchStatus.SENT and touch.created_at == answered_at + delay
    assert len(smtp.messages) == sent_before + 1


def test_no_answer_in_time_routes_to_nurture(shop, lead, clock, smtp):
    conv = window_closed(clock, lead)
    clock.advance(timedelta(days=conversion.answer_days()) - timedelta(minutes=1))
    run_triggers(clock.now())
    assert LeadConversion.objects.get(pk=conv.pk).outcome == ""
    clock.advance(timedelta(minutes=1))
    run_triggers(clock.now())

    conv.refresh_from_db()
    assert (conv.outcome, conv.answered_by) == (LeadOutcome.NO_ANSWER, "system")
    assert not conv.call_task.is_open  # the moot question left the seller's list
    assert live(lead, ChainKind.NURTURE).count() == 1
    assert not live(lead, ChainKind.LEAD_CONVERSION).exists()


def test_a_question_call_closed_without_an_answer_is_no_answer(shop, lead, alice, clock, smtp):
    conv = window_closed(clock, lead)
    task = conv.call_task
    for _attempt in range(4):  # no answer, again and again, until the task gives up
        close_call(task, CallOutcome.NO_ANSWER, alice)
        if not task.is_open:
            break
        clock.set(task.due_at)
    assert not task.is_open
    run_triggers(clock.now())
    conv.refresh_from_db()
    assert conv.outcome == LeadOutcome.NO_ANSWER
    assert live(lead, ChainKind.NURTURE).count() == 1


def test_an_outcome_is_recorded_once(shop, lead, clock, smtp):
    conv = window_closed(clock, lead)
    record_lead_outcome(conv, LeadOutcome.NOT_RIPE, "contact")
    with pytest.raises(AnswerRefused):
        record_lead_outcome(conv, LeadOutcome.COMPETITOR, "seller")
    conv.refresh_from_db()
    assert conv.outcome == LeadOutcome.NOT_RIPE
    assert not live(lead, ChainKind.WINBACK).exists()


# --- purchase and account management ----------------------------------------------------


def test_a_purchase_in_the_window_closes_it_and_ends_the_chain(shop, lead, alice, clock, smtp):
    start_lead_conversion(lead, clock.now())
    run_engine(clock, 10)
    touched = Touch.objects.filter(contact=lead).count()
    assert touched >= 2
    record_purchase(lead, Decimal("54000"), alice, clock.now())

    conv = LeadConversion.objects.get(contact=lead)
    assert (conv.outcome, conv.answered_by) == (LeadOutcome.BOUGHT, "system")
    assert conv.outcome_at == clock.now()
    ended = Enrollment.objects.get(contact=lead, chain__kind=ChainKind.LEAD_CONVERSION)
    assert ended.state == EnrollmentState.EXITED
    run_engine(clock, 25)
    assert Touch.objects.filter(contact=lead, step__chain__kind=ChainKind.LEAD_CONVERSION).count(
    ) == touched
    assert not CallTask.objects.filter(contact=lead, touch__isnull=True).exists()


def test_a_purchase_after_the_window_settles_the_open_question(shop, lead, alice, clock, smtp):
    conv = window_closed(clock, lead)
    record_purchase(lead, Decimal("54000"), alice, clock.now())
    conv.refresh_from_db()
    assert conv.outcome == LeadOutcome.BOUGHT
    assert not conv.call_task.is_open
    assert not live(lead, ChainKind.NURTURE).exists()


def test_the_account_manager_takes_the_client_at_the_first_purchase(shop, lead, alice, bob, clock):
    rule = method_settings(shop)
    rule.account_handoff, rule.account_manager = AccountHandoff.ACCOUNT_MANAGER, bob
    rule.save()
    start_lead_conversion(lead, clock.now())
    record_purchase(lead, Decimal("1000"), alice, clock.now())
    lead.refresh_from_db()
    assert lead.owner == bob

    # Given back to Alice by hand, the client stays hers at the next purchase.
    lead.owner = alice
    lead.save()
    record_purchase(lead, Decimal("2000"), alice, clock.now() + DAY)
    lead.refresh_from_db()
    assert lead.owner == alice


def test_the_seller_keeps_the_client_by_default(shop, lead, alice, bob, clock):
    rule = method_settings(shop)
    rule.account_manager = bob  # named, but the rule is "keep"
    rule.save()
    record_purchase(lead, Decimal("1000"), alice, clock.now())
    lead.refresh_from_db()
    assert rule.account_handoff == AccountHandoff.KEEP_SELLER and lead.owner == alice


def test_an_account_manager_of_another_business_takes_nobody(shop, lead, alice, charlie, clock):
    rule = method_settings(shop)
    rule.account_handoff, rule.account_manager = AccountHandoff.ACCOUNT_MANAGER, charlie
    rule.save()
    record_purchase(lead, Decimal("1000"), alice, clock.now())
    lead.refresh_from_db()
    assert lead.owner == alice


# --- the one-click answer --------------------------------------------------------------


def _question_link(smtp, answer: str) -> str:
    text = smtp.messages[-1].get_body(("plain",)).get_content()
    links = re.findall(r"https?://\S+/lc/\S+/", text)
    assert len(links) == 3, text
    [link] = [u for u in links if urlsplit(u).path.split("/")[2].split(":")[0].endswith(answer)]
    return urlsplit(link).path


def test_the_last_touch_carries_working_one_click_links(client, shop, lead, clock, smtp):
    start_lead_conversion(lead, clock.now())
    run_engine(clock, 29)
    last = smtp.messages[-1]
    assert "Один вопрос" in str(last["Subject"])
    path = _question_link(smtp, LeadOutcome.NOT_RIPE)

    assert client.get(path).status_code == 200
    assert LeadConversion.objects.get(contact=lead).outcome == ""  # a scanner answers nothing
    assert client.post(path).status_code == 200

    conv = LeadConversion.objects.get(contact=lead)
    assert (conv.outcome, conv.answered_by) == (LeadOutcome.NOT_RIPE, "contact")
    assert live(lead, ChainKind.NURTURE).count() == 1
    # The window ends: the answer is in, so the seller is asked nothing.
    clock.advance(2 * DAY)
    run_triggers(clock.now())
    assert not CallTask.objects.filter(contact=lead, touch__isnull=True).exists()


def test_a_tampered_link_is_refused(client, shop, lead, clock):
    conv = start_lead_conversion(lead, clock.now())
    path = urlsplit(answer_urls(conv.pk)[LeadOutcome.COMPETITOR]).path
    forged = path.replace(f"/{conv.pk}.competitor:", f"/{conv.pk}.not_relevant:")
    assert forged != path
    assert client.get(forged).status_code == 404
    assert client.post(forged).status_code == 404
    assert client.post("/lc/garbage/").status_code == 404
    assert LeadConversion.objects.get(pk=conv.pk).outcome == ""


def test_an_answer_for_a_closed_window_is_refused_politely(client, shop, lead, alice, clock):
    conv = start_lead_conversion(lead, clock.now())
    urls = answer_urls(conv.pk)
    record_purchase(lead, Decimal("1000"), alice, clock.now())
    response = client.post(urlsplit(urls[LeadOutcome.COMPETITOR]).path)
    assert response.status_code == 409
    assert "Спасибо" in response.content.decode() or "Thank you" in response.content.decode()
    assert LeadConversion.objects.get(pk=conv.pk).outcome == LeadOutcome.BOUGHT
    assert not live(lead, ChainKind.WINBACK).exists()


def test_the_question_reads_well_without_an_open_window(shop, lead, clock, smtp):
    question = ensure_method_chains(shop)[ChainKind.LEAD_CONVERSION].steps.order_by(
        "position"
    ).last()
    chain = builders.chain(shop, steps=[{
        "body_template": question.body_template, "subject_template": question.subject_template,
    }])
    enroll(lead, chain, clock.now())  # no LeadConversion: nothing to click
    Worker(EngineConfig(), clock=clock).run(once=True)
    text = smtp.messages[-1].get_body(("plain",)).get_content()
    assert "/lc/" not in text and "одним словом" in text


def test_the_answer_links_cost_one_query_per_batch(shop, clock, smtp):
    question = ensure_method_chains(shop)[ChainKind.LEAD_CONVERSION].steps.order_by(
        "position"
    ).last()
    chain = builders.chain(shop, steps=[{"body_template": question.body_template}])
    sending_rules(shop)  # made on first use: from here on every batch only reads them
    counts = []
    for n in (3, 30):
        builders.many_enrollments(shop, chain, n, clock.now())
        for e in Enrollment.objects.filter(chain=chain, state=EnrollmentState.ACTIVE):
            LeadConversion.objects.get_or_create(
                business=shop, contact_id=e.contact_id, outcome="",
                defaults={"started_at": clock.now(), "ends_at": clock.now() + 30 * DAY},
            )
        with CaptureQueriesContext(connection) as ctx:
            assert Worker(EngineConfig(), clock=clock).run_batch() == n
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    assert len(smtp.messages) == 33
    assert all("/lc/" in m.get_body(("plain",)).get_content() for m in smtp.messages)


# --- the seller's buttons ----------------------------------------------------------------


def test_the_call_list_offers_the_three_answers(client, shop, lead, alice, clock, smtp):
    conv = window_closed(clock, lead)
    client.force_login(alice)
    page = client.get("/calls/").content.decode()
    assert f"/lead-conversions/{conv.pk}/answer/" in page
    assert all(f'value="{a}"' in page for a in conversion.ANSWERS)


def test_another_seller_cannot_answer(client, shop, lead, bob, charlie, clock, smtp):
    conv = window_closed(clock, lead)
    for intruder in (bob, charlie):
        client.force_login(intruder)
        response = client.post(f"/lead-conversions/{conv.pk}/answer/", {"outcome": "not_ripe"})
        assert response.status_code == 404
    assert LeadConversion.objects.get(pk=conv.pk).outcome == ""


def test_the_owner_may_answer_for_the_seller(client, shop, lead, owner, clock, smtp):
    conv = window_closed(clock, lead)
    client.force_login(owner)
    client.post(f"/lead-conversions/{conv.pk}/answer/", {"outcome": "not_relevant"})
    conv.refresh_from_db()
    assert conv.outcome == LeadOutcome.NOT_RELEVANT
    assert not Enrollment.objects.filter(contact=lead, state__in=LIVE_ENROLLMENT_STATES).exists()


def test_a_seller_cannot_record_an_unknown_answer(client, shop, lead, alice, clock, smtp):
    conv = window_closed(clock, lead)
    client.force_login(alice)
    client.post(f"/lead-conversions/{conv.pk}/answer/", {"outcome": "bought"})
    assert LeadConversion.objects.get(pk=conv.pk).outcome == ""


def test_default_steps_are_valid_steps(shop):
    for chain in ensure_method_chains(shop).values():
        for step in chain.steps.all():
            step.full_clean()  # the same check Step.save makes: each template renders
