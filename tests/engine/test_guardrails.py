"""The guardrails at send time: quiet hours in the contact's zone, holidays, caps across
chains by priority, suppression, exit rules — and a touch held is moved, never lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kasatka.accounts.models import sending_rules
from kasatka.chains.actions import enroll
from kasatka.chains.models import ChainKind, Enrollment, EnrollmentState, Touch, TouchStatus
from kasatka.channels.models import InboundMessage, ProviderAccount
from kasatka.contacts.models import Address, AddressKind, Suppression, SuppressionReason
from kasatka.engine.guardrails import contact_place
from kasatka.engine.models import GuardAction, GuardEvent, GuardRule
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.channels.conftest import server  # noqa: F401 (a fixture)
from tests.channels.provider_server import Answer

pytestmark = pytest.mark.django_db


def run(clock) -> None:
    Worker(EngineConfig.from_settings(), clock=clock).run(once=True)


def run_until(clock, end: datetime, step: timedelta = timedelta(minutes=5)) -> None:
    while clock.now() < end:
        run(clock)
        clock.advance(step)
    run(clock)


def sms_ok(number: str, message_id: str) -> Answer:
    return Answer(200, {"status": "OK", "status_code": 100,
                        "sms": {number: {"status": "OK", "status_code": 100,
                                         "sms_id": message_id}}})


def test_the_contacts_place_comes_from_the_phone_or_is_set_by_hand():
    assert contact_place("", ["+74232123456"], "Europe/Moscow", "RU")[0].key == "Asia/Vladivostok"
    # phonenumbers says Bucharest for Kaliningrad: the same clock in winter, not in summer.
    assert contact_place("", ["+74012123456"], "Europe/Moscow", "RU")[0].key == (
        "Europe/Kaliningrad"
    )
    # A mobile number spans eleven zones: the business's, unless set by hand.
    assert contact_place("", ["+79161234567"], "Europe/Moscow", "RU")[0].key == "Europe/Moscow"
    assert contact_place("Asia/Omsk", ["+79161234567"], "Europe/Moscow", "RU")[0].key == (
        "Asia/Omsk"
    )
    assert contact_place("", ["+4930123456"], "Europe/Moscow", "RU")[1] == "DE"


def test_a_contact_made_with_a_kaliningrad_number_keeps_kaliningrad_time(shop):
    """The same reading of the number when the contact is made: no Bucharest summer time."""
    contact = builders.contact(shop, email=None, phone="+74012123456", consent=())
    assert contact.time_zone == "Europe/Kaliningrad"


def test_vladivostok_and_kaliningrad_get_the_sms_at_nine_local_each(shop, clock, server):  # noqa: F811
    s = server(*[sms_ok(n, f"id-{i}") for i, n in enumerate(["74232123456", "74012123456"])])
    account = ProviderAccount(business=shop, channel="sms", provider="smsru", name="sms",
                              options={"sender": "Kedr", "api_url": s.url})
    account.set_secrets({"api_id": "F2D79B58-A5A2-2F9E-91C8-73D12CE2E102"})
    account.save()
    east = builders.contact(shop, email=None, phone="+74232123456", consent=("sms",),
                            first_name="Ольга", last_name="Восточная")
    west = builders.contact(shop, email=None, phone="+74012123456", consent=("sms",),
                            first_name="Инна", last_name="Западная")
    chain = builders.chain(shop, [{"channels": ["sms"]}])
    # Tuesday 20:00 UTC: 06:00 on Wednesday in Vladivostok, 22:00 on Tuesday in Kaliningrad.
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    enroll(east, chain, clock.now())
    enroll(west, chain, clock.now())
    run(clock)
    assert not Touch.objects.exists()  # both held, nothing written, nothing sent
    assert GuardEvent.objects.filter(rule=GuardRule.QUIET_HOURS).count() == 2

    run_until(clock, datetime(2026, 3, 4, 9, 0, tzinfo=UTC))

    sent = {t.contact_id: t for t in Touch.objects.filter(status=TouchStatus.SENT)}
    assert set(sent) == {east.pk, west.pk} and len(s.requests) == 2
    for contact, zone in ((east, "Asia/Vladivostok"), (west, "Europe/Kaliningrad")):
        local = sent[contact.pk].sent_at.astimezone(ZoneInfo(zone))
        assert local.date().isoformat() == "2026-03-04"
        # At the opening, within the spread (30 minutes) and the worker's 5-minute steps.
        assert (local.hour, local.minute // 35) == (9, 0), local


def test_five_chains_on_one_day_go_by_priority_within_the_caps(shop, clock, smtp):
    anna = builders.contact(shop, email="anna@example.com", consent=("email",))
    kinds = [ChainKind.WINBACK, ChainKind.LOYALTY, ChainKind.WARMING, ChainKind.LEAD_CONVERSION]
    chains = {kind: builders.chain(shop, name=kind, kind=kind) for kind in kinds}
    # A nudge about a deal is informational: it is never held by the caps.
    chains[ChainKind.NUDGE] = builders.chain(
        shop, [{"is_commercial": False}], name="nudge", kind=ChainKind.NUDGE
    )
    start = datetime(2026, 3, 10, 7, 0, tzinfo=UTC)  # Tuesday, 10:00 in Moscow
    clock.set(start)
    for chain in chains.values():
        enroll(anna, chain, start)

    for _quarter_day in range(40):  # ten days
        run(clock)
        clock.advance(timedelta(hours=6))

    touches = Touch.objects.filter(contact=anna, status=TouchStatus.SENT).order_by("sent_at")
    # The informational nudge goes on day 1 whatever the caps.
    nudge = touches.get(step__chain__kind=ChainKind.NUDGE)
    assert nudge.sent_at == start
    # The offers by priority, one a day (cap 1) up to three in a week (cap 3); the last
    # waits until the first of them is a week old.
    offers = [t for t in touches if t.is_commercial]
    assert [t.step.chain.kind for t in offers] == [
        ChainKind.LEAD_CONVERSION, ChainKind.WARMING, ChainKind.LOYALTY, ChainKind.WINBACK,
    ]
    moscow = ZoneInfo("Europe/Moscow")
    days = [t.sent_at.astimezone(moscow).date().day for t in offers]
    assert days == [10, 11, 12, 17]
    # Held to the next day's morning (09:00 and a spread; the worker runs every 6 hours
    # here, at 10:00 Moscow time), not to its midnight.
    assert all(t.sent_at.astimezone(moscow).hour == 10 for t in offers[1:3])
    # The audit trail says why the others waited.
    winback = Enrollment.objects.get(contact=anna, chain=chains[ChainKind.WINBACK])
    rules = set(winback.guard_events.values_list("rule", flat=True))
    assert {GuardRule.CAP_DAY, GuardRule.CAP_WEEK} <= rules
    assert all(e.until is not None and e.action == GuardAction.RETIMED
               for e in winback.guard_events.all())
    assert Enrollment.objects.filter(contact=anna, state=EnrollmentState.ACTIVE).count() == 0


def test_a_touch_the_caps_would_push_too_far_is_skipped_with_the_reason(shop, clock, smtp):
    rules = sending_rules(shop)
    rules.cap_per_week, rules.max_postpone_days = 1, 2
    rules.save()
    anna = builders.contact(shop, email="anna@example.com", consent=("email",))
    first = builders.chain(shop, name="first", kind=ChainKind.LEAD_CONVERSION)
    second = builders.chain(shop, name="second", kind=ChainKind.LOYALTY)
    enroll(anna, first, clock.now())
    enroll(anna, second, clock.now())
    for _ in range(4):
        run(clock)
        clock.advance(timedelta(days=1))
    skipped = Touch.objects.get(contact=anna, step__chain=second)
    assert skipped.status == TouchStatus.SKIPPED and "more than 2 days" in skipped.error
    assert GuardEvent.objects.filter(rule=GuardRule.TOO_LATE, action="skipped").exists()


def test_calls_wait_for_a_working_day_and_offers_for_an_ordinary_one(shop, clock, smtp):
    anna = builders.contact(shop, email="anna@example.com", phone="+74959876543",
                            consent=("email", "call"))
    chain = builders.chain(shop, [{"channels": ["call"]}])
    # Monday 9 March 2026 is a public holiday in Russia.
    clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=UTC))
    enroll(anna, chain, clock.now())
    run(clock)
    event = GuardEvent.objects.get()
    assert event.rule == GuardRule.HOLIDAY and event.until.astimezone(
        ZoneInfo("Europe/Moscow")
    ).date().isoformat() == "2026-03-10"
    # An informational e-mail goes on the holiday.
    info = builders.chain(shop, [{"is_commercial": False}], name="info")
    enroll(anna, info, clock.now())
    run(clock)
    assert Touch.objects.get(step__chain=info).status == TouchStatus.SENT


def test_suppressed_addresses_and_contacts_are_never_touched(shop, clock, smtp):
    anna = builders.contact(shop, email="anna@example.com", consent=("email",))
    boris = builders.contact(shop, email="boris@example.com", consent=("email",),
                             first_name="Борис")
    Suppression.objects.create(business=shop, kind=AddressKind.EMAIL, value="anna@example.com",
                               reason=SuppressionReason.COMPLAINED)
    Suppression.objects.create(business=shop, contact=boris, reason=SuppressionReason.MANUAL)
    chain = builders.chain(shop, [{"is_commercial": False}])
    enroll(anna, chain, clock.now())
    enroll(boris, chain, clock.now())
    run(clock)
    assert smtp.messages == []
    touches = {t.contact_id: t for t in Touch.objects.all()}
    assert touches[anna.pk].status == TouchStatus.SKIPPED
    assert "suppressed (complained)" in touches[anna.pk].error
    assert touches[boris.pk].error == "contact suppressed: manual"
    assert GuardEvent.objects.filter(rule=GuardRule.NO_ROUTE).count() == 2


def test_a_reply_ends_the_chain_at_send_time(shop, clock, smtp):
    anna = builders.contact(shop, email="anna@example.com", consent=("email",))
    chain = builders.chain(shop, [{}, {}])
    chain.exit_on_reply = True
    chain.save()
    enrollment = enroll(anna, chain, clock.now())
    run(clock)
    # A reply recorded by a path that ended nothing (an import of a mailbox, say).
    InboundMessage.objects.create(business=shop, contact=anna, channel="email",
                                  sender="anna@example.com", text="Спасибо",
                                  received_at=clock.now() + timedelta(hours=1))
    clock.advance(timedelta(days=3))
    run(clock)
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.exit_reason) == (EnrollmentState.EXITED, "replied")
    assert len(smtp.messages) == 1
    assert GuardEvent.objects.filter(rule=GuardRule.EXIT, detail="replied").exists()


def test_without_guardrails_the_engine_sends_at_night(shop, clock, smtp, server):  # noqa: F811
    """The switch the benchmark uses: it must really turn them off, or the bench measures
    nothing."""
    s = server(sms_ok("74232123456", "x"))
    account = ProviderAccount(business=shop, channel="sms", provider="smsru", name="sms",
                              options={"api_url": s.url})
    account.set_secrets({"api_id": "k"})
    account.save()
    east = builders.contact(shop, email=None, phone="+74232123456", consent=("sms",))
    chain = builders.chain(shop, [{"channels": ["sms"]}])
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))
    enroll(east, chain, clock.now())
    Worker(EngineConfig.from_settings(guardrails=False), clock=clock).run(once=True)
    assert Touch.objects.get().status == TouchStatus.SENT
    assert not GuardEvent.objects.exists()


def test_the_address_is_still_usable_by_other_contacts_after_a_lift(shop, clock, smtp):
    anna = builders.contact(shop, email="anna@example.com", consent=("email",))
    entry = Suppression.objects.create(business=shop, kind=AddressKind.EMAIL,
                                       value="anna@example.com",
                                       reason=SuppressionReason.BOUNCED)
    entry.lifted_at = clock.now()
    entry.save()
    enroll(anna, builders.chain(shop), clock.now())
    run(clock)
    assert Touch.objects.get().status == TouchStatus.SENT
    assert Address.objects.get(contact=anna).value == "anna@example.com"


def test_a_held_touch_is_on_the_contacts_timeline_with_why(shop, clock, smtp, client, owner):
    from kasatka.contacts.timeline import timeline

    anna = builders.contact(shop, email="anna@example.com", phone="+74232123456",
                            consent=("call",))
    chain = builders.chain(shop, [{"channels": ["call"]}], name="Звонок после визита")
    clock.set(datetime(2026, 3, 3, 20, 0, tzinfo=UTC))  # 06:00 in Vladivostok
    enroll(anna, chain, clock.now())
    run(clock)
    entry = next(e for e in timeline(anna) if e.kind == "guard")
    assert entry.status == GuardAction.RETIMED and "Звонок после визита" in entry.details
    assert "Asia/Vladivostok" in entry.details
    client.force_login(owner)
    assert "Asia/Vladivostok" in client.get(f"/contacts/{anna.pk}/").content.decode()


def test_a_cap_of_nought_means_no_offers_at_all_and_says_so(shop, clock, smtp):
    rules = sending_rules(shop)
    rules.cap_per_week = 0
    rules.save()
    anna = builders.contact(shop, email="anna@example.com", consent=("email",))
    enroll(anna, builders.chain(shop), clock.now())
    run(clock)
    touch = Touch.objects.get()
    assert touch.status == TouchStatus.SKIPPED and "cap_week" in touch.error
    assert smtp.messages == []
