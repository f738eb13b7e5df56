"""The demo business: a believable shop with history, and touches that flow the moment it starts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kasatka.accounts.models import Business, Role, User
from kasatka.chains.actions import enroll
from kasatka.chains.models import Chain, ChainKind, Enrollment, EnrollmentState, Touch, TouchStatus
from kasatka.channels.call.models import CallTask
from kasatka.contacts.models import Address, AddressKind, Contact
from kasatka.contacts.names import infer_gender
from kasatka.demo import (
    DEMO_OWNER,
    DEMO_PASSWORD,
    DEMO_SLUG,
    DemoExists,
    build_demo,
)
from kasatka.engine.worker import EngineConfig, Worker
from kasatka.sales.models import LeadSource, Purchase, Visit, VisitType
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


def test_purchases_are_furniture_prices_within_the_last_120_days(demo, clock):
    purchases = list(Purchase.objects.filter(business=demo.business))
    assert purchases and len(purchases) == demo.purchases
    for p in purchases:
        assert clock.now() - timedelta(days=120) <= p.purchased_at <= clock.now()
        assert Decimal(15_000) <= p.amount <= Decimal(350_000)
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
