"""Property: whatever the contacts (time zones across Russia, UTC+2 … +12, and abroad), the
chains and the enrolment times, no touch is ever sent outside its window, over a cap, to a
withdrawn consent or a suppressed address, and no touch is lost: each ends sent, skipped with
a reason, or still pending."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kasatka.accounts.calendar import BusinessCalendar, public_holidays
from kasatka.accounts.models import sending_rules
from kasatka.chains.actions import enroll
from kasatka.chains.models import (
    Chain,
    ChainKind,
    Enrollment,
    EnrollmentState,
    Touch,
    TouchStatus,
)
from kasatka.channels.models import ProviderAccount
from kasatka.contacts.actions import record_consent
from kasatka.contacts.models import (
    ConsentBasis,
    ConsentStatus,
    Contact,
    Purpose,
    Suppression,
    SuppressionReason,
)
from kasatka.engine.clock import ManualClock, set_clock
from kasatka.engine.models import GuardEvent
from kasatka.engine.worker import EngineConfig, Worker
from tests import builders
from tests.channels.provider_server import Answer, ProviderServer, Request

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ZONES = [
    "Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg",
    "Asia/Omsk", "Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk",
    "Asia/Vladivostok", "Asia/Magadan", "Asia/Kamchatka",
    "Europe/Berlin", "America/New_York", "Asia/Dubai",
]
CHANNELS = ["sms", "email", "call"]
KINDS = [ChainKind.LEAD_CONVERSION, ChainKind.WARMING, ChainKind.NURTURE, ChainKind.LOYALTY,
         ChainKind.WINBACK]
START = datetime(2026, 4, 27, 0, 0, tzinfo=UTC)  # the May holidays are ahead
HORIZON = timedelta(days=45)


class SmsRu(ProviderServer):
    """SMS.ru answering OK for whichever number it is asked to send to."""

    ids = itertools.count(1)

    def answer_for(self, request: Request) -> Answer | None:
        number = request.form["to"][0]
        return Answer(200, {"status": "OK", "status_code": 100, "sms": {
            number: {"status": "OK", "status_code": 100, "sms_id": f"m{next(self.ids)}"}
        }})


steps = st.lists(
    st.fixed_dictionaries({
        "channels": st.lists(st.sampled_from(CHANNELS), min_size=1, max_size=3, unique=True),
        "is_commercial": st.booleans(),
        "delay_hours": st.integers(0, 72),
        "from_enrollment": st.booleans(),
    }),
    min_size=1, max_size=3,
)
people = st.lists(
    st.fixed_dictionaries({
        "zone": st.sampled_from(ZONES),
        "withdrawn": st.sampled_from([None, *CHANNELS]),
        "suppressed_email": st.booleans(),
    }),
    min_size=1, max_size=4,
)
books = st.fixed_dictionaries({
    "people": people,
    "chains": st.lists(st.tuples(st.sampled_from(KINDS), steps), min_size=1, max_size=3),
    "enrolments": st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 3 * 24 * 60)),
        min_size=1, max_size=8,
    ),
})


@pytest.fixture
def sms_gateway(shop):
    server = SmsRu().start()
    account = ProviderAccount(business=shop, channel="sms", provider="smsru", name="sms",
                              options={"api_url": server.url})
    account.set_secrets({"api_id": "k"})
    account.save()
    yield server
    server.stop()


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(book=books)
def test_no_touch_outside_its_window_over_a_cap_to_a_refusal_or_lost(
    shop, smtp, sms_gateway, book
):
    clock = ManualClock(START)
    set_clock(clock)
    try:
        _check_book(shop, clock, book)
    finally:
        set_clock(None)


def _check_book(shop, clock, book) -> None:
    # Hypothesis runs many examples in one test's database: start each from nothing.
    for model in (GuardEvent, Touch, Enrollment, Chain, Suppression, Contact):
        model.objects.filter(business=shop).delete()
    rules = sending_rules(shop)
    contacts = []
    for i, person in enumerate(book["people"]):
        contact = builders.contact(
            shop, email=f"c{i}@example.com", phone=f"+7916{i:07d}", consent=CHANNELS,
            first_name="Анна",
        )
        contact.time_zone = person["zone"]
        contact.save()
        for channel in CHANNELS:
            record_consent(contact, channel, Purpose.INFORMATIONAL, ConsentStatus.GRANTED,
                           ConsentBasis.VISIT, "", START)
        if person["withdrawn"]:
            record_consent(contact, person["withdrawn"], Purpose.COMMERCIAL,
                           ConsentStatus.WITHDRAWN, ConsentBasis.REPLY, "", START)
        if person["suppressed_email"]:
            Suppression.objects.update_or_create(
                business=shop, kind="email", value=f"c{i}@example.com", lifted_at=None,
                defaults={"reason": SuppressionReason.COMPLAINED},
            )
        contacts.append((contact, person))
    chains = []
    for n, (kind, chain_steps) in enumerate(book["chains"]):
        chains.append(builders.chain(shop, [
            {"channels": s["channels"], "is_commercial": s["is_commercial"],
             "delay": timedelta(hours=s["delay_hours"]),
             "delay_from": "enrollment" if s["from_enrollment"] else "previous"}
            for s in chain_steps
        ], kind=kind, name=f"chain {n}"))
    for who, which, minute in book["enrolments"]:
        contact, _person = contacts[who % len(contacts)]
        chain = chains[which % len(chains)]
        if not Enrollment.objects.filter(contact=contact, chain=chain).exists():
            enroll(contact, chain, START + timedelta(minutes=minute))

    # Run the engine whenever something falls due, to the horizon.
    worker = Worker(EngineConfig.from_settings(), clock=clock)
    end = START + HORIZON
    while True:
        due = (
            Enrollment.objects.filter(business=shop, state=EnrollmentState.ACTIVE)
            .order_by("next_touch_at").values_list("next_touch_at", flat=True).first()
        )
        if due is None or due > end:
            break
        clock.set(max(clock.now(), due))
        while worker.run_batch():
            pass

    calendar = BusinessCalendar(shop)
    sent = Touch.objects.filter(business=shop, sent_at__isnull=False).select_related(
        "contact", "step__chain"
    )
    offers: dict[int, list[Touch]] = defaultdict(list)
    for touch in sent:
        person = dict((c.pk, p) for c, p in contacts)[touch.contact_id]
        zone = ZoneInfo(person["zone"])
        local = touch.sent_at.astimezone(zone)
        window = rules.windows.get(touch.channel)
        if window:
            opens, closes = (time.fromisoformat(h) for h in window)
            assert opens <= local.time() < closes, (touch.channel, local)
        if touch.channel == "call":
            assert calendar.is_working_day(local.date()), local
        # Never to a refusal or a suppressed address.
        if touch.is_commercial:
            assert person["withdrawn"] != touch.channel, touch
            assert local.date() not in public_holidays("RU", local.year), local
            offers[touch.contact_id].append(touch)
        if touch.channel == "email":
            assert not person["suppressed_email"], touch
    # The caps, per contact: a local day, any 7 × 24 hours, and per channel.
    for contact_id, touches in offers.items():
        zone = ZoneInfo(dict((c.pk, p) for c, p in contacts)[contact_id]["zone"])
        per_day: dict[object, int] = defaultdict(int)
        for t in touches:
            per_day[t.sent_at.astimezone(zone).date()] += 1
        assert max(per_day.values()) <= rules.cap_per_day, per_day
        times = sorted(t.sent_at for t in touches)
        for i, at in enumerate(times):
            assert sum(at <= other < at + timedelta(days=7) for other in times[i:]) <= (
                rules.cap_per_week
            )
    # Nothing lost: every enrollment's steps so far are sent or skipped with a reason, and
    # a live one is pending with a time; nothing is left half-way.
    assert not Touch.objects.filter(
        business=shop, status__in=[TouchStatus.QUEUED, TouchStatus.SENDING]
    ).exists()
    for enrollment in Enrollment.objects.filter(business=shop):
        for touch in enrollment.touches.all():
            assert touch.status in (TouchStatus.SENT, TouchStatus.SKIPPED), touch
            if touch.status == TouchStatus.SKIPPED:
                assert touch.error, touch
        if enrollment.state == EnrollmentState.ACTIVE:
            assert enrollment.next_touch_at is not None and enrollment.next_touch_at > end
        else:
            assert enrollment.exit_reason
