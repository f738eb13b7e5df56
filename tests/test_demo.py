"""The demo business: a believable shop with history, and touches that flow the moment it starts."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F

from kasatka.accounts.models import Business, Role, User, method_settings
from kasatka.chains.actions import enroll
from kasatka.chains.models import Chain, ChainKind, Enrollment, EnrollmentState, Touch, TouchStatus
from kasatka.channels.call.models import CallTask
from kasatka.contacts.lifecycle import is_regular
from kasatka.contacts.models import Address, AddressKind, Contact, Stage, StageChange
from kasatka.contacts.names import infer_gender
from kasatka.demo import (
    DEMO_OWNER,
    DEMO_PASSWORD,
    DEMO_SLUG,
    DemoExists,
    build_demo,
)
from kasatka.engine.worker import EngineConfig, Worker
from kasatka.insights.funnel import STAGES, funnel
from kasatka.insights.models import ClientRisk
from kasatka.insights.scorecard import TEAM, scorecards
from kasatka.insights.sources import source_lines
from kasatka.insights.winback import lapsing_now, winback_results
from kasatka.sales.models import LeadSource, LeadSourceCost, Purchase, Referral, Visit, VisitType
from tests import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(clock):
    return build_demo(contacts=60)


def names(business: Business) -> list[tuple[str, str, str]]:
    return list(
        Contact.objects.filter(business=business)
        .order_by("created_at", "last_name", "first_name")
        .values_list("last_name", "first_name", "patronymic")
    )


def test_it_builds_the_shop_with_its_staff_and_lead_sources(demo):
    shop = Business.objects.get(slug=DEMO_SLUG)
    assert demo.business == shop
    assert shop.name == "Мебельная мастерская «Кедр»"
    assert (shop.time_zone, shop.country, shop.language) == ("Europe/Moscow", "RU", "ru")
    assert shop.phone and shop.email and shop.website and shop.postal_address
    assert shop.email_from_name

    staff = User.objects.filter(business=shop)
    assert staff.filter(role=Role.SELLER).count() == 3
    assert staff.filter(role=Role.HEAD_OF_SALES).count() == 1
    assert staff.filter(role=Role.MARKETER).count() == 1
    owner = staff.get(username=DEMO_OWNER)
    assert owner.role == Role.OWNER and owner.is_staff and owner.is_superuser
    # Hashing is slow on purpose: one owner and one seller show the shared password works.
    assert owner.check_password(DEMO_PASSWORD)
    assert staff.filter(role=Role.SELLER)[0].check_password(DEMO_PASSWORD)
    assert all(u.first_name and u.last_name and u.patronymic for u in staff)
    assert (demo.owner_username, demo.password) == ("owner", "kasatka-demo")

    sources = set(LeadSource.objects.filter(business=shop).values_list("name", flat=True))
    assert {"Яндекс.Директ", "Сарафанное радио", "Авито"} <= sources
    assert Contact.objects.filter(business=shop, source__isnull=False).exists()


def test_the_warming_chain_has_seven_reasoned_touches_over_email_and_calls(demo):
    chain = Chain.objects.get(business=demo.business, kind=ChainKind.WARMING)
    assert chain.name == "Прогрев после визита" and chain.exit_on_purchase
    steps = list(chain.steps.order_by("position"))
    assert len(steps) == 7
    assert all(s.reason.strip() for s in steps)
    channels = [s.channels for s in steps]
    assert ["call"] in channels
    assert ["email", "call"] in channels
    assert any(c[0] == "email" for c in channels)
    assert {s.is_commercial for s in steps} == {True, False}
    assert all("{{ contact.greeting }}" in s.body_template or s.channels == ["call"] for s in steps)
    assert any("contact.gendered(" in s.body_template for s in steps)
    total = sum((s.delay for s in steps), timedelta())
    assert timedelta(days=25) <= total <= timedelta(days=35)

    loyalty = Chain.objects.get(business=demo.business, kind=ChainKind.LOYALTY)
    assert loyalty.name == "Забота после покупки" and not loyalty.exit_on_purchase
    assert 4 <= loyalty.steps.count() <= 5
    assert all(s.reason.strip() for s in loyalty.steps.all())


def test_every_contact_is_a_believable_person(demo):
    contacts = list(Contact.objects.filter(business=demo.business).prefetch_related("addresses"))
    assert len(contacts) == demo.contacts == 60
    for c in contacts:
        assert c.first_name and c.last_name
        assert c.gender == infer_gender(c.first_name, c.patronymic, c.last_name), c.full_name
        if c.patronymic.endswith("вна") or c.patronymic.endswith("чна"):
            assert c.gender == "female"
        assert c.owner is not None and c.owner.role == Role.SELLER
        assert any(a.kind == AddressKind.PHONE for a in c.addresses.all())
    emails = list(
        Address.objects.filter(business=demo.business, kind=AddressKind.EMAIL).values_list(
            "value", flat=True
        )
    )
    assert len(emails) >= 0.6 * len(contacts)
    assert len(set(emails)) == len(emails)
    # Demo mail must never reach a real mailbox: RFC 2606 reserved names only.
    assert all(e.rsplit("@", 1)[1].endswith(".example") for e in emails)


def test_visits_of_all_four_types_are_classified_by_bought_and_contacts_taken(demo, clock):
    visits = list(Visit.objects.filter(business=demo.business))
    assert {v.visit_type for v in visits} == {1, 2, 3, 4}
    for v in visits:
        assert v.visit_type == VisitType.classify(v.bought, v.contacts_taken)
        assert (v.contact_id is not None) == v.contacts_taken
        assert clock.now() - timedelta(days=120) <= v.occurred_at <= clock.now()
    assert demo.visits_by_type == {
        t: sum(1 for v in visits if v.visit_type == t) for t in (1, 2, 3, 4)
    }
    # Each contact appeared in the database when they first came in.
    for contact in Contact.objects.filter(business=demo.business):
        first = min(
            [v.occurred_at for v in contact.visits.all()]
            + [p.purchased_at for p in contact.purchases.all()]
        )
        assert contact.created_at == first


def test_recent_type_3_visitors_are_being_warmed(demo, clock):
    since = clock.now() - timedelta(days=30)
    recent = Visit.objects.filter(
        business=demo.business, visit_type=VisitType.LEFT_CONTACTS_TAKEN, occurred_at__gte=since
    )
    checked = 0
    for visit in recent:
        if Purchase.objects.filter(contact=visit.contact, purchased_at__gte=visit.occurred_at):
            continue  # bought since: warming ended, as it should
        assert Enrollment.objects.filter(
            contact=visit.contact, chain__kind=ChainKind.WARMING, state=EnrollmentState.ACTIVE
        ).exists(), visit.contact
        checked += 1
    assert checked > 0
    assert Enrollment.objects.filter(
        business=demo.business, chain__kind=ChainKind.LOYALTY, state=EnrollmentState.ACTIVE
    ).exists()
    # Enrolments are recent: old history is visits and purchases only.
    oldest = Enrollment.objects.filter(business=demo.business).order_by("enrolled_at").first()
    assert oldest is not None and oldest.enrolled_at >= clock.now() - timedelta(days=46)


def test_purchases_are_furniture_prices_within_the_last_120_days_or_from_the_old_books(
    demo, clock
):
    purchases = list(Purchase.objects.filter(business=demo.business).select_related("contact"))
    assert purchases and len(purchases) == demo.purchases
    for p in purchases:
        assert p.purchased_at <= clock.now()
        assert Decimal(15_000) <= p.amount <= Decimal(350_000)
        if p.purchased_at < clock.now() - timedelta(days=120):
            # Before the showroom's history: an old client, imported from the workshop's
            # books with no visits. The oldest lapsed one bought last 540 + 120 days ago and
            # up to three times before that, each at most 161 days earlier: 1143 days.
            assert p.note.startswith("Из старой базы"), p.note
            assert not p.contact.visits.exists()
            assert p.purchased_at >= clock.now() - timedelta(days=1143)
    repeat = [c for c in Contact.objects.filter(business=demo.business) if c.purchases.count() > 1]
    assert repeat, "some clients come back for more"


def test_a_warming_contact_who_bought_later_left_the_warming_chain(clock):
    result = build_demo(contacts=200)
    exited = Enrollment.objects.filter(
        business=result.business, chain__kind=ChainKind.WARMING, state=EnrollmentState.EXITED
    )
    assert exited.exists()
    for e in exited:
        assert e.contact.purchases.filter(purchased_at__gte=e.enrolled_at).exists()


def test_building_twice_is_refused_unless_replaced(demo):
    with pytest.raises(DemoExists, match="replace"):
        build_demo(contacts=10)
    first_pk = demo.business.pk

    again = build_demo(contacts=10, replace=True)

    assert again.business.pk != first_pk
    assert Business.objects.filter(slug=DEMO_SLUG).count() == 1
    assert Contact.objects.filter(business_id=first_pk).count() == 0
    assert again.contacts == Contact.objects.filter(business=again.business).count() == 10


def test_the_same_seed_gives_the_same_people(clock):
    first = names(build_demo(contacts=40, seed=7).business)
    second = names(build_demo(contacts=40, seed=7, replace=True).business)
    other = names(build_demo(contacts=40, seed=8, replace=True).business)
    assert first == second
    assert first != other


def test_the_same_seed_gives_the_same_people_on_another_day(clock):
    def people(when):
        result = build_demo(contacts=30, seed=3, now=when, replace=True)
        return sorted(names(result.business))

    assert people(clock.now()) == people(clock.now() + timedelta(days=17, hours=5))


def test_the_command_builds_and_prints_the_login(clock):
    out = StringIO()
    call_command("demo", "--contacts", "30", stdout=out)
    text = out.getvalue()
    assert "owner / kasatka-demo" in text
    assert "http://127.0.0.1:8000" in text
    assert Contact.objects.filter(business__slug=DEMO_SLUG).count() == 30

    quiet = StringIO()
    call_command("demo", "--if-missing", stdout=quiet)
    assert quiet.getvalue() == ""

    with pytest.raises(CommandError, match="replace"):
        call_command("demo", "--contacts", "30", stdout=StringIO())

    call_command("demo", "--contacts", "20", "--replace", stdout=StringIO())
    assert Contact.objects.filter(business__slug=DEMO_SLUG).count() == 20


def test_the_history_was_sent_through_the_engine_and_calls_were_worked(demo, clock):
    touches = Touch.objects.filter(business=demo.business)
    assert touches.filter(status=TouchStatus.SENT, channel="email").exists()
    assert not touches.filter(status=TouchStatus.FAILED).exists()
    assert touches.filter(sent_at__gt=clock.now()).count() == 0
    calls = CallTask.objects.filter(business=demo.business)
    assert calls.filter(closed_at__isnull=False).exists()
    assert all(c.closed_at is None or c.closed_at <= clock.now() for c in calls)


def test_the_engine_picks_up_right_away_and_every_template_renders(demo, clock, smtp):
    calls_before = CallTask.objects.filter(business=demo.business).count()
    touches_before = set(Touch.objects.filter(business=demo.business).values_list("pk", flat=True))

    Worker(EngineConfig(batch_size=500), clock=clock).run(once=True)

    new = Touch.objects.filter(business=demo.business).exclude(pk__in=touches_before)
    assert new.filter(channel="email", status=TouchStatus.SENT).exists()
    assert smtp.messages
    assert CallTask.objects.filter(business=demo.business).count() > calls_before
    assert not Touch.objects.filter(status=TouchStatus.FAILED).exists()
    for message in smtp.messages:
        body = message.get_body(("plain",)).get_content()
        assert "{{" not in body and "Уважаем" in body
        assert message["To"].endswith(".example")


def test_building_the_demo_leaves_other_businesses_alone(shop, clock, smtp):
    # An overdue enrollment of a real shop (its worker was down for weeks): the demo's
    # replay of the past must not touch it, only the real worker may send it.
    anna = builders.contact(shop)
    e = enroll(anna, builders.chain(shop), clock.now() - timedelta(days=40))

    build_demo(contacts=20)

    e.refresh_from_db()
    assert e.state == EnrollmentState.ACTIVE and e.lease_owner == ""
    assert e.next_touch_at == clock.now() - timedelta(days=40)
    assert not Touch.objects.filter(business=shop).exists()
    assert smtp.messages == []


def test_older_clients_got_the_new_collection_on_paper(clock):
    from kasatka.channels.letter.models import Letter, LetterStatus
    from kasatka.engine.rules import age_on

    demo = build_demo(contacts=200)
    today = clock.now().date()
    letters = list(Letter.objects.filter(business=demo.business).select_related("contact"))
    assert letters, "the 50+ clients on the Тайга step got letters"
    for letter in letters:
        age = age_on(letter.contact.birthday, today)
        assert age is not None and age >= demo.business.paper_from_age
        assert letter.recipient and "\n" in letter.postal_address
        assert letter.body and "{{" not in letter.body
    # Letters of past days were posted; the touch of each went by paper, not e-mail.
    assert all(
        letter.status == LetterStatus.POSTED for letter in letters if letter.due_date < today
    )
    paper_touches = Touch.objects.filter(business=demo.business, channel="letter")
    assert paper_touches.count() == len(letters)
    younger_on_the_step = Touch.objects.filter(
        business=demo.business, step__channels=["email", "letter"], channel="email"
    )
    assert younger_on_the_step.exists()
    assert all(
        (age_on(t.contact.birthday, today) or 0) < 50
        or not t.contact.addresses.filter(kind=AddressKind.POSTAL).exists()
        for t in younger_on_the_step.select_related("contact")
    )


# --- what the insight pages show --------------------------------------------------------


def test_the_funnel_reaches_every_stage_as_the_purchases_and_referrals_say(demo, clock):
    b = demo.business
    settings = method_settings(b)
    times: dict[int, list] = defaultdict(list)
    for contact_id, at in Purchase.objects.filter(business=b).values_list(
        "contact_id", "purchased_at"
    ):
        times[contact_id].append(at)
    regulars = {pk for pk, when in times.items() if is_regular(sorted(when), settings)}
    referrers = set(Referral.objects.filter(business=b).values_list("referrer_id", flat=True))

    # Every contact was taken within the last five years (the oldest bought 1143 days ago).
    line = funnel(b, clock.now() - timedelta(days=5 * 365), clock.now() + timedelta(seconds=1))

    # A stage reached counts the contacts at it or beyond: a referral makes an adept, and
    # every referrer had bought before, so adepts are among the new and the regular.
    assert line.reached[Stage.LEAD] == demo.contacts
    assert line.reached[Stage.NEW] == len(set(times) | referrers) > 0
    assert line.reached[Stage.REGULAR] == len(regulars | referrers) > 0
    assert line.reached[Stage.ADEPT] == len(referrers) > 0
    assert line.reached[Stage.NEW] < line.reached[Stage.LEAD]
    assert all(line.step_time[stage] is not None for stage in STAGES[1:])

    # Each contact stands where its last stage change took it (a lead has none).
    last: dict[int, str] = {}
    for contact_id, new in StageChange.objects.filter(business=b, field="stage").order_by(
        "changed_at", "pk"
    ).values_list("contact_id", "new"):
        last[contact_id] = new
    for pk, stage in Contact.objects.filter(business=b).values_list("pk", "stage"):
        assert stage == last.get(pk, Stage.LEAD), pk
    # The side types follow the data as well: whoever bought at the first visit is impulsive.
    impulsive = set(
        Contact.objects.filter(business=b, is_impulsive=True).values_list("pk", flat=True)
    )
    bought_at_once = set(
        Visit.objects.filter(business=b, visit_type=VisitType.BOUGHT_CONTACTS_TAKEN)
        .values_list("contact_id", flat=True)
    )
    assert bought_at_once and bought_at_once <= impulsive


def test_paid_sources_have_monthly_bills_and_a_return_on_them(demo, clock):
    b = demo.business
    yandex = LeadSource.objects.get(business=b, name="Яндекс.Директ")
    bills = list(LeadSourceCost.objects.filter(source=yandex).order_by("period_start"))
    # Whole calendar months, one after another, from the history's first month to this one.
    today = clock.now().astimezone(b.zone).date()
    first = (clock.now() - timedelta(days=120)).astimezone(b.zone).date()
    assert bills[0].period_start == first.replace(day=1)
    assert bills[-1].period_start == today.replace(day=1)
    for bill, following in zip(bills, [*bills[1:], None], strict=True):
        assert bill.period_start.day == 1
        assert (bill.period_end + timedelta(days=1)).day == 1
        if following is not None:
            assert following.period_start == bill.period_end + timedelta(days=1)
        assert Decimal(40_000) <= bill.amount <= Decimal(60_000)
    assert not LeadSourceCost.objects.filter(source__name="Сарафанное радио").exists()

    # Last month, whole: the source cost exactly its bill.
    month = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    start = datetime.combine(month, time(), tzinfo=b.zone)
    end = datetime.combine(today.replace(day=1), time(), tzinfo=b.zone)
    lines = {line.name: line for line in source_lines(b, start, end)}
    paid = lines["Яндекс.Директ"]
    assert paid.cost == next(x.amount for x in bills if x.period_start == month)
    assert paid.cost_per_lead is not None and paid.roi is not None
    assert (paid.roi > 0) == (paid.revenue > paid.cost)
    word_of_mouth = lines.get("Сарафанное радио")
    assert word_of_mouth is None or (word_of_mouth.cost == 0 and word_of_mouth.roi is None)


def test_some_clients_are_lapsing_now_and_some_came_back_after_the_win_back(demo, clock):
    b = demo.business
    now = lapsing_now(b)
    assert now.clients > 0
    lapsed = list(ClientRisk.objects.filter(business=b, flagged_for=F("last_purchase_at")))
    assert len(lapsed) == now.clients
    for risk in lapsed:
        # The furniture workshop's lapse period: 18 months without a purchase.
        assert clock.now() - risk.last_purchase_at > timedelta(days=540)
        assert risk.purchase_days >= 2
        assert Enrollment.objects.filter(contact_id=risk.contact_id,
                                         chain__kind=ChainKind.WINBACK).exists()
        assert CallTask.objects.filter(contact_id=risk.contact_id).exists()

    total = winback_results(b, clock.now() - timedelta(days=120),
                            clock.now() + timedelta(seconds=1))[-1]
    assert total.enrolled > total.returned > 0
    assert total.revenue > 0 and total.touches_sent > 0
    # Those who came back bought after their lapse, so they are not lapsing any more.
    back = ClientRisk.objects.filter(
        business=b, flagged_for__isnull=False, flagged_for__lt=F("last_purchase_at")
    )
    assert back.exists()


def test_every_seller_has_visits_of_each_type_lost_sales_deals_and_nudges(demo, clock):
    cards = scorecards(demo.business, clock.now() - timedelta(days=120),
                       clock.now() + timedelta(seconds=1))
    sellers = User.objects.filter(business=demo.business, role=Role.SELLER)
    for seller in sellers:
        card = cards[seller.pk]
        assert all(card.by_type[t] > 0 for t in VisitType.values), seller.username
        # Every visit lost has its reason from the workshop's list.
        assert card.losses == card.by_type[3] + card.by_type[4] > 0
    # Lost for reasons outside the seller's control and by the sellers' own errors.
    team = cards[TEAM]
    assert 0 < team.non_objective < team.losses
    # A small demo closes only a few deals (the full one wins and loses some every month).
    assert team.deals_won + team.deals_lost > 0 and team.nudges_thrown > 0
