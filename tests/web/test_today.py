"""Today, the seller's home: nudges to throw in one click (with htmx or a plain POST), calls
due with their script, lapsing clients, new leads in their window and the revenue the plan
should bring; the team for the head of sales; an overview for a marketer."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from kasatka.accounts.models import Business, User
from kasatka.channels.call.models import CallOutcome, CallTask
from kasatka.contacts.models import Contact
from kasatka.deals.actions import create_deal
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import Deal, Nudge, NudgeState
from kasatka.deals.nudging import nudge_stuck_deals
from kasatka.insights.models import ClientRisk
from kasatka.sales.models import LeadConversion, LeadOutcome
from kasatka.web.templatetags.kasatka_ui import money
from tests import builders

pytestmark = pytest.mark.django_db

MSK = ZoneInfo("Europe/Moscow")
HTMX = {"HTTP_HX_REQUEST": "true"}


def msk(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=MSK)


def stuck_deal(contact: Contact, title: str, amount: str, clock, stage: str = "price") -> Deal:
    """A deal opened on Monday 2 March at a stage that waits on the client; the caller runs
    the trigger on Wednesday to make it stuck and propose its first nudge."""
    pipeline = ensure_default_pipeline(contact.business)
    stages = dict(zip(("new", "price", "proposal", "invoice", "delivery"),
                      pipeline.stages.order_by("position"), strict=True))
    return create_deal(contact, title, Decimal(amount), stages[stage], at=clock.now())


def lapsed(contact: Contact, value: str, at: datetime) -> ClientRisk:
    """A client flagged as lapsed since their last purchase (as insights.lapse flags one)."""
    last = at - timedelta(days=200)
    return ClientRisk.objects.create(
        business_id=contact.business_id, contact=contact, purchase_days=3,
        first_purchase_at=last - timedelta(days=300), last_purchase_at=last,
        average_order=Decimal("30000"), usual_gap=timedelta(days=60),
        lapse_after=timedelta(days=120), lapse_at=last + timedelta(days=120),
        value_at_risk=Decimal(value), flagged_for=last, lapsed_since=at,
    )


def lead(contact: Contact, started: datetime, days: int = 30, outcome: str = "") -> LeadConversion:
    return LeadConversion.objects.create(
        business_id=contact.business_id, contact=contact, started_at=started,
        ends_at=started + timedelta(days=days), outcome=outcome,
    )


def call(contact: Contact, seller: User, due: datetime, script: str = "") -> CallTask:
    return CallTask.objects.create(
        business_id=contact.business_id, contact=contact, assignee=seller, phone="+79161234567",
        reason="Спросить про замер", script=script, due_at=due,
    )


@pytest.fixture
def day(shop, clock, alice, bob):
    """Wednesday 4 March: Alice's and Bob's deals stuck since Monday, each with a nudge; a
    call due for Alice; a lapsed client and a new lead of each."""
    clock.set(msk(2))
    anna = builders.contact(shop, email="anna@example.com", phone="+79161234567", owner=alice)
    boris = builders.contact(shop, email="boris@example.com", first_name="Борис",
                             patronymic="Ильич", last_name="Орлов", owner=bob)
    mine = stuck_deal(anna, "Шкаф в прихожую", "80000", clock)
    theirs = stuck_deal(boris, "Стол для Бориса", "50000", clock)
    clock.set(msk(4))
    assert nudge_stuck_deals(clock.now()) == 2
    vera = builders.contact(shop, email="vera@example.com", first_name="Вера",
                            patronymic="Павловна", last_name="Соколова", owner=alice)
    gleb = builders.contact(shop, email="gleb@example.com", first_name="Глеб",
                            patronymic="Олегович", last_name="Жуков", owner=bob)
    lapsed(vera, "123456", clock.now())
    lapsed(gleb, "99000", clock.now())
    lida = builders.contact(shop, email="lida@example.com", first_name="Лидия",
                            patronymic="Ивановна", last_name="Новикова", owner=alice)
    lead(lida, clock.now() - timedelta(days=3))
    call(anna, alice, clock.now() - timedelta(hours=1), script="Здравствуйте, Анна! Замер в силе?")
    return {"mine": mine, "theirs": theirs, "vera": vera, "gleb": gleb, "lida": lida,
            "anna": anna, "boris": boris}


def test_a_seller_sees_her_day(client, alice, day):
    client.force_login(alice)
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    nudge = Nudge.objects.get(deal=day["mine"])
    # Her nudge, with its text editable, and nothing of Bob's.
    assert f'data-nudge="{nudge.pk}"' in page
    assert f'name="text" rows="3" maxlength="2000" required>{nudge.text}</textarea>' in page
    assert "Шкаф в прихожую" in page and "Стол для Бориса" not in page
    # Her call with the script and one button per outcome.
    task = CallTask.objects.get(contact=day["anna"])
    assert f'action="/calls/{task.pk}/close/"' in page
    assert "Здравствуйте, Анна! Замер в силе?" in page
    for value, _label in CallOutcome.choices:
        assert f'name="outcome" value="{value}"' in page
    # Her lapsing client and her new lead; not Bob's.
    assert "Соколова Вера Павловна" in page and "Жуков" not in page
    assert "Новикова Лидия Ивановна" in page
    # The revenue of the plan: 1 nudge × 30 % × the average open deal at the stage
    # ((80 000 + 50 000) / 2 = 65 000) = 19 500, money-formatted.
    plan = response.context["plan"]
    assert plan.expected_revenue == Decimal("19500.00")
    with translation.override("ru"):
        assert money(plan.expected_revenue) in page
    assert response.context["leads_count"] == 1


def test_a_seller_throws_a_nudge_with_htmx_and_gets_the_thrown_card(client, alice, day):
    nudge = Nudge.objects.get(deal=day["mine"])
    client.force_login(alice)
    response = client.post(f"/deals/nudges/{nudge.pk}/throw/",
                           {"mode": "message", "text": "Анна, шкаф в силе?", "next": "/"},
                           **HTMX)
    assert response.status_code == 200  # a fragment, not a redirect
    fragment = response.content.decode()
    assert fragment.lstrip().startswith("<article")
    assert f'data-nudge="{nudge.pk}"' in fragment and 'data-state="thrown"' in fragment
    assert "Анна, шкаф в силе?" in fragment and "<textarea" not in fragment
    nudge.refresh_from_db()
    assert (nudge.state, nudge.text, nudge.thrown_by) == (
        NudgeState.THROWN, "Анна, шкаф в силе?", alice
    )


def test_without_javascript_the_throw_is_a_plain_post_back_to_today(client, alice, day):
    nudge = Nudge.objects.get(deal=day["mine"])
    client.force_login(alice)
    response = client.post(f"/deals/nudges/{nudge.pk}/throw/",
                           {"mode": "call", "text": nudge.text, "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    nudge.refresh_from_db()
    assert nudge.state == NudgeState.THROWN and nudge.call_task is not None
    page = client.get("/").content.decode()
    assert f'data-nudge="{nudge.pk}"' not in page  # thrown: off the list


def test_a_refused_throw_keeps_the_card_and_says_why(client, alice, day):
    nudge = Nudge.objects.get(deal=day["mine"])
    client.force_login(alice)
    response = client.post(f"/deals/nudges/{nudge.pk}/throw/",
                           {"mode": "message", "text": "   ", "next": "/"}, **HTMX)
    assert response.status_code == 200
    fragment = response.content.decode()
    assert 'role="alert"' in fragment and "<textarea" in fragment
    assert 'data-state="proposed"' in fragment
    assert Nudge.objects.get(pk=nudge.pk).state == NudgeState.PROPOSED
    # Somewhere else is not a place to go back to.
    response = client.post(f"/deals/nudges/{nudge.pk}/throw/",
                           {"mode": "message", "next": "https://evil.example/"})
    assert response["Location"] == "/deals/plan/"


def test_a_seller_cannot_throw_another_sellers_nudge_from_today(client, alice, day):
    theirs = Nudge.objects.get(deal=day["theirs"])
    client.force_login(alice)
    response = client.post(f"/deals/nudges/{theirs.pk}/throw/", {"mode": "message"}, **HTMX)
    assert response.status_code == 404
    assert Nudge.objects.get(pk=theirs.pk).state == NudgeState.PROPOSED


def test_a_call_closed_from_today_comes_back_to_today(client, alice, day):
    task = CallTask.objects.get(contact=day["anna"])
    client.force_login(alice)
    response = client.post(f"/calls/{task.pk}/close/",
                           {"outcome": CallOutcome.REACHED, "note": "замер в четверг", "next": "/"})
    assert response.status_code == 302 and response["Location"] == "/"
    task.refresh_from_db()
    assert task.outcome == CallOutcome.REACHED and not task.is_open
    assert f'data-call="{task.pk}"' not in client.get("/").content.decode()


def test_leads_are_listed_only_inside_their_window_and_without_an_outcome(
    client, shop, alice, day, clock
):
    ended = builders.contact(shop, email="old@example.com", first_name="Олег",
                             patronymic="", last_name="Староверов", owner=alice)
    lead(ended, clock.now() - timedelta(days=31))
    answered = builders.contact(shop, email="ans@example.com", first_name="Ася",
                                patronymic="", last_name="Отвеченная", owner=alice)
    lead(answered, clock.now() - timedelta(days=2), outcome=LeadOutcome.NOT_RIPE)
    client.force_login(alice)
    response = client.get("/")
    page = response.content.decode()
    assert "Новикова Лидия Ивановна" in page
    assert "Староверов" not in page and "Отвеченная" not in page
    assert [(c.contact_id, days) for c, days in response.context["leads"]] == [
        (day["lida"].pk, 27)
    ]


def test_the_head_of_sales_sees_every_seller_and_the_team_total(
    client, head, alice, bob, marketer, charlie, day
):
    client.force_login(head)
    response = client.get("/")
    page = response.content.decode()
    assert "Шкаф в прихожую" in page and "Стол для Бориса" in page
    lines = {line.seller.pk: line for line in response.context["lines"] if line.seller}
    # Each seller's revenue: one nudge × 30 % × 65 000; the team's is the sum.
    assert lines[alice.pk].expected_revenue == lines[bob.pk].expected_revenue == Decimal("19500")
    assert response.context["plan"].expected_revenue == Decimal("39000")
    assert 'id="team-total"' in page
    assert "Соколова" in page and "Жуков" in page  # the whole team's lapsing clients
    # One seller, chosen: only theirs.
    page = client.get(f"/?seller={bob.pk}").content.decode()
    assert "Стол для Бориса" in page and "Шкаф в прихожую" not in page
    assert "Жуков" in page and "Соколова" not in page
    # Someone who is not a seller of the shop: as if they did not exist.
    assert client.get(f"/?seller={charlie.pk}").status_code == 404
    assert client.get(f"/?seller={marketer.pk}").status_code == 404
    assert client.get("/?seller=abc").status_code == 404


def test_the_head_of_sales_throws_a_sellers_nudge(client, head, day):
    nudge = Nudge.objects.get(deal=day["theirs"])
    client.force_login(head)
    response = client.post(f"/deals/nudges/{nudge.pk}/throw/",
                           {"mode": "message", "text": "Борис Ильич, стол в силе?"}, **HTMX)
    assert response.status_code == 200
    nudge.refresh_from_db()
    assert nudge.state == NudgeState.THROWN and nudge.thrown_by == head


def test_a_marketer_gets_an_overview_without_throwing(client, marketer, day):
    client.force_login(marketer)
    response = client.get("/")
    assert response.status_code == 200
    assert next(t.name for t in response.templates) == "web/today/overview.html"
    page = response.content.decode()
    assert "/throw/" not in page and "/close/" not in page
    assert response.context["contacts"] == 5
    assert response.context["lapsing"] == 2
    assert response.context["leads_in_window"] == 1
    assert 'id="contacts-count">5<' in page


def test_another_business_sees_nothing_of_the_shop(client, charlie, day):
    client.force_login(charlie)
    page = client.get("/").content.decode()
    for name in ("Шкаф", "Стол для Бориса", "Соколова", "Жуков", "Новикова"):
        assert name not in page


def test_a_name_with_markup_is_text_on_today(client, shop, alice, clock):
    clock.set(msk(2))
    evil = builders.contact(shop, email="x@example.com", first_name="<script>alert(1)</script>",
                            patronymic="", last_name="<b>Злой</b>", owner=alice)
    stuck_deal(evil, "<img src=x onerror=alert(1)>", "1000", clock)
    clock.set(msk(4))
    nudge_stuck_deals(clock.now())
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


# --- a fixed number of queries -------------------------------------------------------------

def _count_queries(client, url: str) -> int:
    client.get(url)  # the day's plan figures, the session: measured on the first view
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


# Pinned: session, user, business; the plan's 13 (its calendar, settings, figures, stages,
# counts, users and lists); lapsing clients, leads and their count, the method settings
# (the lead window); for the team also the sellers and the team's touches of the last day,
# and for whoever manages the settings the open notices.
SELLER_QUERIES = 19
TEAM_QUERIES = 22
MARKETER_QUERIES = 10


def more_of_everything(shop: Business, alice: User, bob: User, clock, n: int) -> None:
    """n more stuck deals with nudges, calls, lapsing clients and new leads per seller."""
    start = clock.now()
    clock.set(msk(2))
    for seller in (alice, bob):
        for i in range(n):
            c = builders.contact(shop, email=f"{seller.username}{i}@example.com",
                                 first_name=f"Клиент{i}", patronymic="", last_name="Много",
                                 owner=seller)
            stuck_deal(c, f"Сделка {seller.username} {i}", str(1000 + i), clock, stage="invoice")
            lapsed(c, str(500 + i), start)
            lead(c, start - timedelta(days=i % 20))
            call(c, seller, start - timedelta(minutes=i))
    clock.set(start)
    nudge_stuck_deals(clock.now())


@pytest.mark.parametrize(("who", "pinned"), [
    ("alice", SELLER_QUERIES), ("head", TEAM_QUERIES), ("marketer", MARKETER_QUERIES),
])
def test_today_takes_a_fixed_number_of_queries(
    client, shop, alice, bob, head, marketer, day, clock, who, pinned
):
    user = {"alice": alice, "head": head, "marketer": marketer}[who]
    client.force_login(user)
    assert _count_queries(client, "/") == pinned
    more_of_everything(shop, alice, bob, clock, 15)
    assert _count_queries(client, "/") == pinned
    if who == "head":
        assert _count_queries(client, f"/?seller={bob.pk}") == pinned - 1  # no team activity


@pytest.mark.slow
def test_today_with_100000_contacts_takes_the_same_queries(
    client, shop, alice, bob, head, marketer, day, clock
):
    """The same pinned number of queries with 10 contacts and with 100,000, for a seller,
    the head of sales and a marketer."""
    people = ((alice, SELLER_QUERIES), (head, TEAM_QUERIES), (marketer, MARKETER_QUERIES))
    assert Contact.objects.count() < 10
    for user, pinned in people:
        client.force_login(user)
        assert _count_queries(client, "/") == pinned, user.username
    sellers = (alice, bob, None)
    contacts = Contact.objects.bulk_create(
        (Contact(business=shop, first_name=f"Имя{i}", last_name=f"Фамилия{i}",
                 owner=sellers[i % 3], created_at=clock.now() - timedelta(minutes=i))
         for i in range(100_000)),
        batch_size=5_000,
    )
    now = clock.now()
    # A slice of them lapsing and in their lead window, as a busy shop's would be.
    ClientRisk.objects.bulk_create(
        (ClientRisk(business=shop, contact=c, purchase_days=3,
                    first_purchase_at=now - timedelta(days=500),
                    last_purchase_at=now - timedelta(days=200), average_order=Decimal(1000),
                    lapse_at=now - timedelta(days=80), value_at_risk=Decimal(i),
                    flagged_for=now - timedelta(days=200))
         for i, c in enumerate(contacts[:5_000])),
        batch_size=5_000,
    )
    LeadConversion.objects.bulk_create(
        (LeadConversion(business=shop, contact=c, started_at=now - timedelta(days=i % 40),
                        ends_at=now - timedelta(days=i % 40) + timedelta(days=30))
         for i, c in enumerate(contacts[5_000:15_000])),
        batch_size=5_000,
    )
    assert Contact.objects.count() > 100_000
    for user, pinned in people:
        client.force_login(user)
        assert _count_queries(client, "/") == pinned, user.username
        started = time.perf_counter()
        client.get("/")
        print(f"Today for {user.username} with 100,000 contacts ({connection.vendor}): "
              f"{(time.perf_counter() - started) * 1000:.0f} ms")
