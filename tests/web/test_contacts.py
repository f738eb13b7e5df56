"""The contact list: search by phone (any format), e-mail or name, filters, keyset pages,
who sees whom; and, at 100,000 contacts, the same queries through indexes."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kasatka.chains.actions import enroll
from kasatka.contacts.models import Address, AddressKind, Contact, Stage
from kasatka.insights.models import ClientRisk
from kasatka.sales.models import LeadSource
from kasatka.web.contacts import PAGE_SIZE
from tests import builders

pytestmark = pytest.mark.django_db


def listed(client, query: str = "") -> list[int]:
    response = client.get("/contacts/" + query)
    assert response.status_code == 200
    return [row.contact.pk for row in response.context["rows"]]


@pytest.fixture
def people(shop, alice, bob):
    """Alice's Anna and Vera, Bob's Boris, and an unassigned lead."""
    anna = builders.contact(shop, email="Anna.Ivanova@Example.com", phone="+79161234567",
                            owner=alice)
    vera = builders.contact(shop, email="vera@kedr.example", phone="+79037654321",
                            first_name="Вера", patronymic="Павловна", last_name="Соколова",
                            owner=alice)
    boris = builders.contact(shop, email="boris@example.com", first_name="Борис",
                             patronymic="Ильич", last_name="Иванов", owner=bob)
    nobody = builders.contact(shop, email=None, phone="+74951112233", first_name="Ольга",
                              patronymic="", last_name="Ничья")
    return {"anna": anna, "vera": vera, "boris": boris, "nobody": nobody}


def test_a_phone_is_found_in_any_format(client, owner, people):
    client.force_login(owner)
    anna = people["anna"].pk
    for typed in ("+7 916 123-45-67", "8 (916) 123 45 67", "89161234567", "+79161234567"):
        assert listed(client, f"?q={typed.replace('+', '%2B')}") == [anna], typed
    assert listed(client, "?q=%2B7 916 765-43-21") == []


def test_part_of_a_phone_asks_for_the_whole_number(client, owner, people):
    client.force_login(owner)
    response = client.get("/contacts/?q=916123")
    assert response.context["rows"] == []
    assert 'id="search-hint"' in response.content.decode()


def test_an_e_mail_is_found_by_its_start_whatever_the_case(client, owner, people):
    client.force_login(owner)
    anna = people["anna"].pk
    assert listed(client, "?q=anna.ivanova@example.com") == [anna]  # exact
    assert listed(client, "?q=ANNA.IV") == [anna]  # a prefix, another case
    assert listed(client, "?q=anna.ivanova@exa") == [anna]
    assert listed(client, "?q=ivanova@example.com") == []  # not the start: not found


def test_a_name_is_found_by_the_start_of_the_last_or_first_name(client, owner, people):
    client.force_login(owner)
    anna, vera, boris = people["anna"].pk, people["vera"].pk, people["boris"].pk
    assert listed(client, "?q=иванов") == [boris, anna]  # Иванов and Иванова, newest first
    assert listed(client, "?q=Вер") == [vera]  # a first name
    assert listed(client, "?q=соколова вера") == [vera]  # last and first
    assert listed(client, "?q=Вера Соколова") == [vera]  # first and last
    assert listed(client, "?q=ИВАНОВА") == [anna]
    assert listed(client, "?q=ванова") == []  # the middle of a name is not a search
    assert listed(client, "?q=Иванова Вера") == []


def test_each_seller_finds_only_their_own_and_unassigned(client, alice, bob, people):
    client.force_login(alice)
    assert set(listed(client)) == {people["anna"].pk, people["vera"].pk, people["nobody"].pk}
    assert listed(client, "?q=boris@example.com") == []
    # The seller filter is the team's: for a seller it is not even there.
    response = client.get(f"/contacts/?seller={bob.pk}")
    assert "seller" not in response.context["form"].fields
    assert people["boris"].pk not in [r.contact.pk for r in response.context["rows"]]


def test_the_marketer_and_the_owner_read_every_contact(client, marketer, owner, people):
    for user in (marketer, owner):
        client.force_login(user)
        assert set(listed(client)) == {p.pk for p in people.values()}


def test_another_business_sees_none_of_them(client, charlie, people):
    client.force_login(charlie)
    assert listed(client) == []
    assert listed(client, "?q=%2B79161234567") == []
    assert listed(client, "?q=Иванова") == []


def test_the_filters(client, shop, owner, alice, bob, people, clock):
    anna, vera, boris, nobody = (people[k] for k in ("anna", "vera", "boris", "nobody"))
    Contact.objects.filter(pk=vera.pk).update(stage=Stage.REGULAR)
    fair = LeadSource.objects.create(business=shop, name="Ярмарка")
    Contact.objects.filter(pk=boris.pk).update(source=fair)
    warming = builders.chain(shop)
    enroll(anna, warming, clock.now())
    now = clock.now()
    ClientRisk.objects.create(
        business=shop, contact=vera, purchase_days=3, first_purchase_at=now - timedelta(days=400),
        last_purchase_at=now - timedelta(days=200), average_order=Decimal(1000),
        lapse_at=now - timedelta(days=50), flagged_for=now - timedelta(days=200),
    )
    ClientRisk.objects.create(
        business=shop, contact=boris, purchase_days=3, first_purchase_at=now - timedelta(days=90),
        last_purchase_at=now - timedelta(days=10), average_order=Decimal(1000),
        lapse_at=now + timedelta(days=50),
    )
    client.force_login(owner)
    assert listed(client, "?stage=regular") == [vera.pk]
    assert listed(client, f"?seller={bob.pk}") == [boris.pk]
    assert listed(client, "?seller=none") == [nobody.pk]
    assert listed(client, f"?source={fair.pk}") == [boris.pk]
    assert listed(client, f"?chain={warming.pk}") == [anna.pk]
    assert listed(client, "?risk=lapsed") == [vera.pk]
    assert listed(client, "?risk=overdue") == [vera.pk]
    assert listed(client, "?risk=in_rhythm") == [boris.pk]
    # Together with a search, and with each other.
    assert listed(client, f"?q=иван&seller={alice.pk}") == [anna.pk]
    assert listed(client, f"?q=иван&seller={alice.pk}&chain={warming.pk}&stage=lead") == [
        anna.pk
    ]


def test_a_bad_filter_is_an_error_on_the_form_not_a_crash(client, owner, charlie, people):
    client.force_login(owner)
    response = client.get(f"/contacts/?stage=bogus&seller={charlie.pk}&source=x&chain=-1")
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"stage", "seller", "source", "chain"}
    assert 'class="errorlist' in response.content.decode()
    # The bad values filter nothing; the list is still there.
    assert len(response.context["rows"]) == 4


def test_pages_go_by_keys_without_counting(client, shop, owner):
    Contact.objects.bulk_create(
        Contact(business=shop, first_name=f"Имя{i}", last_name="Страницына")
        for i in range(PAGE_SIZE * 2 + 20)
    )
    everyone = list(Contact.objects.order_by("-pk").values_list("pk", flat=True))
    client.force_login(owner)
    with CaptureQueriesContext(connection) as queries:
        first = client.get("/contacts/")
    assert not [q for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert [r.contact.pk for r in first.context["rows"]] == everyone[:PAGE_SIZE]
    assert first.context["newer_url"] == "" and first.context["first_url"] == ""
    second = client.get("/contacts/" + first.context["older_url"])
    assert [r.contact.pk for r in second.context["rows"]] == everyone[PAGE_SIZE:PAGE_SIZE * 2]
    third = client.get("/contacts/" + second.context["older_url"])
    assert [r.contact.pk for r in third.context["rows"]] == everyone[PAGE_SIZE * 2:]
    assert third.context["older_url"] == ""  # no row after these: no "older" link
    back = client.get("/contacts/" + third.context["newer_url"])
    assert [r.contact.pk for r in back.context["rows"]] == everyone[PAGE_SIZE:PAGE_SIZE * 2]
    top = client.get("/contacts/" + back.context["newer_url"])
    assert [r.contact.pk for r in top.context["rows"]] == everyone[:PAGE_SIZE]
    assert top.context["newer_url"] == ""
    # Filters survive paging.
    page = client.get("/contacts/?q=Страницына&stage=lead")
    assert "q=%D0%A1" in page.context["older_url"] and "stage=lead" in page.context["older_url"]
    assert client.get("/contacts/?after=abc").status_code == 200


def test_a_name_with_markup_is_text_in_the_list_and_on_the_card(client, shop, owner):
    evil = builders.contact(shop, email="x@example.com", first_name="<script>alert(1)</script>",
                            patronymic="", last_name="<b>Злой</b>")
    client.force_login(owner)
    for url in ("/contacts/", f"/contacts/{evil.pk}/", "/contacts/?q=%3Cb%3E"):
        page = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in page and "<b>Злой</b>" not in page, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get("/contacts/").content.decode()


def test_the_list_needs_a_login(client):
    response = client.get("/contacts/")
    assert response.status_code == 302 and "/login/" in response["Location"]


# --- fast at scale ------------------------------------------------------------------------

# A search and the filters: session, user, business; the sellers, sources and chains for
# the filters; the page of contacts; their phones and e-mails.
LIST_QUERIES = 8
SEARCHES = (
    "?q=%2B7 916 123-45-67",  # a phone
    "?q=anna.ivanova@exa",  # an e-mail's start
    "?q=иванов",  # a name's start (and an e-mail's: "иванов" is not one)
    "?q=anna",  # a name's start or an e-mail's
    "?q=соколова вера",  # last and first name
    "?q=иван&stage=lead&seller={alice}&risk=in_rhythm",
    "?stage=regular&source={source}",
    "?chain={chain}",
    "?seller=none&risk=lapsed",
    "",
)


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries.captured_queries)


def test_the_list_takes_a_fixed_number_of_queries(client, shop, owner, alice, people, clock):
    chain = builders.chain(shop)
    source = LeadSource.objects.create(business=shop, name="Ярмарка")
    client.force_login(owner)
    client.get("/contacts/")
    for search in SEARCHES:
        url = "/contacts/" + search.format(alice=alice.pk, source=source.pk, chain=chain.pk)
        assert _queries(client, url) <= LIST_QUERIES, url
    assert _queries(client, "/contacts/") == LIST_QUERIES


def _plans(sql: str) -> str:
    """The database's plan of a query, as text."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN " + sql)
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def _full_scans(plan: str) -> list[str]:
    """Lines of a plan that read a whole contacts or addresses table."""
    if connection.vendor == "postgresql":
        return [line for line in plan.splitlines()
                if "Seq Scan on contacts_" in line]
    return [line for line in plan.splitlines()
            if line.startswith("SCAN ") and ("contacts_contact" in line
                                              or "contacts_address" in line)]


@pytest.mark.slow
def test_with_100000_contacts_the_list_searches_through_indexes(
    client, shop, owner, alice, bob, people, clock
):
    """The same pinned queries with 100,000 contacts; no search reads a whole table."""
    chain = builders.chain(shop)
    source = LeadSource.objects.create(business=shop, name="Ярмарка")
    sellers = (alice, bob, None)
    stages = (Stage.LEAD, Stage.NEW, Stage.REGULAR)
    contacts = Contact.objects.bulk_create(
        (Contact(business=shop, first_name=f"Имя{i % 5000}", last_name=f"Фамилия{i % 7919}",
                 owner=sellers[i % 3], stage=stages[i % 3],
                 source=source if i % 10 == 0 else None)
         for i in range(100_000)),
        batch_size=5_000,
    )
    Address.objects.bulk_create(
        (Address(business=shop, contact=c, kind=AddressKind.EMAIL,
                 value=f"client{c.pk}@example.com")
         for c in contacts),
        batch_size=5_000,
    )
    Address.objects.bulk_create(
        (Address(business=shop, contact=c, kind=AddressKind.PHONE, value=f"+7916{c.pk:07d}")
         for c in contacts),
        batch_size=5_000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # the planner's statistics, as a live database keeps them
    client.force_login(owner)
    client.get("/contacts/")
    for search in SEARCHES:
        url = "/contacts/" + search.format(alice=alice.pk, source=source.pk, chain=chain.pk)
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        took = (time.perf_counter() - started) * 1000
        assert len(queries.captured_queries) <= LIST_QUERIES, url
        print(f"{connection.vendor} {url}: {took:.0f} ms")
        if "q=" not in url:
            continue
        for query in queries.captured_queries:
            if "contacts_contact" in query["sql"] and "LIMIT" in query["sql"]:
                plan = _plans(query["sql"])
                assert not _full_scans(plan), f"{url}\n{query['sql']}\n{plan}"
    # The search finds what it must among the 100,000.
    target = contacts[12_345]
    assert listed(client, f"?q=%2B7916{target.pk:07d}") == [target.pk]
    assert listed(client, f"?q=client{target.pk}@example.com") == [target.pk]
    assert target.pk in listed(client, f"?q={target.last_name} {target.first_name}")


@pytest.mark.parametrize("typed", [
    "\U0010ffff", "a\ud7ff", "%00", "@", "+", "((", "²", "' OR 1=1 --", "%", "_", "\\",
    "a\x00b",
])
def test_odd_searches_find_nothing_and_never_fail(client, owner, people, typed):
    client.force_login(owner)
    response = client.get("/contacts/", {"q": typed})
    assert response.status_code == 200
    assert response.context["rows"] == [] or "q" in response.context["form"].errors


def test_a_search_too_long_is_an_error_on_the_form(client, owner, people):
    client.force_login(owner)
    response = client.get("/contacts/", {"q": "x" * 300})
    assert response.status_code == 200
    assert "q" in response.context["form"].errors


@pytest.mark.parametrize("cursor", ["²", "9" * 40, "-1", "1e5", ""])
def test_an_odd_page_key_is_the_first_page(client, owner, people, cursor):
    client.force_login(owner)
    for key in ("after", "before"):
        response = client.get("/contacts/", {key: cursor})
        assert response.status_code == 200
