"""The purchase import: good rows in, bad rows reported by line, a re-import adds nothing,
and the past sets off no chain."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from kasatka.chains.actions import enroll
from kasatka.chains.models import ChainKind, Enrollment, EnrollmentState
from kasatka.contacts.models import Address, Contact, Stage, StageChange
from kasatka.sales.imports import ImportFormatError, RowError, import_purchases
from kasatka.sales.models import Purchase
from tests.builders import chain, contact

GOOD = """customer,date,amount,on_promotion,phone,email,name
A-1,2025-01-10,1500.00,no,+7 916 111-22-33,,Иванова Анна Сергеевна
A-1,2025-02-10 18:30,900,да,,,
B-2,15.03.2025,"2 300,50",,,boris@example.com,Борис
C-3,2025-04-01T10:00:00+03:00,100,1,,,
"""


@pytest.fixture(autouse=True)
def english():
    """The reasons and counts are asserted in English, whatever the site's language."""
    with translation.override("en"):
        yield


def _csv(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def _purchases(shop):
    return Purchase.objects.filter(business=shop).order_by("purchased_at")


def test_good_rows_go_in_with_their_contacts(shop, clock):
    result = import_purchases(shop, _csv(GOOD))

    assert (result.imported, result.duplicates, result.bad_rows) == (4, 0, 0)
    assert result.contacts_created == 3
    anna = Contact.objects.get(business=shop, last_name="Иванова")
    assert (anna.first_name, anna.patronymic) == ("Анна", "Сергеевна")
    assert Address.objects.get(contact=anna).value == "+79161112233"
    rows = list(_purchases(shop).values_list("contact_id", "amount", "on_promotion"))
    assert rows[:2] == [(anna.pk, Decimal("1500.00"), False), (anna.pk, Decimal("900.00"), True)]
    assert rows[2][1:] == (Decimal("2300.50"), False)
    # A bare date is the day's midnight, a moment without offset is local: the shop's zone.
    first, second, third, fourth = _purchases(shop)
    assert first.purchased_at == datetime(2025, 1, 10, tzinfo=shop.zone)
    assert second.purchased_at == datetime(2025, 2, 10, 18, 30, tzinfo=shop.zone)
    assert third.purchased_at == datetime(2025, 3, 15, tzinfo=shop.zone)
    assert fourth.purchased_at.isoformat() == "2025-04-01T07:00:00+00:00"
    # Nothing else to name customer C-3 by: the number is the name.
    assert Contact.objects.filter(business=shop, first_name="#C-3").count() == 1


def test_bad_rows_are_reported_by_line_and_reason_and_the_good_ones_go_in(shop, alice, clock):
    text = (
        "customer,date,amount,phone,seller\n"
        "A,2025-01-10,100,,alice\n"          # 2 good
        ",2025-01-10,100,,\n"                # 3 no customer
        "B,10/01/2025,100,,\n"               # 4 date
        "C,2025-01-10,сто,,\n"               # 5 amount
        "\n"                                 # 6 blank: no row at all
        "D,2025-01-10,-5,,\n"                # 7 negative
        "E,2025-01-10,1.005,,\n"             # 8 fractions of a kopeck
        "F,2025-01-10,100,12,\n"             # 9 phone
        "G,2025-01-10,100,,nobody\n"         # 10 seller
        "H,2025-01-10,100,,,extra\n"         # 11 too many values
        "I,2025-01-12,100\n"                 # 12 too few values (phone, seller missing: fine)
        "A,2025-02-10,200,,\n"               # 13 good
    )
    result = import_purchases(shop, _csv(text))

    assert result.imported == 3
    assert [e.line for e in result.errors] == [3, 4, 5, 7, 8, 9, 10, 11]
    reasons = dict((e.line, e.reason) for e in result.errors)
    assert "customer" in reasons[3]
    assert "10/01/2025" in reasons[4]
    assert "сто" in reasons[5]
    assert "negative" in reasons[7]
    assert "decimals" in reasons[8]
    assert "12" in reasons[9]
    assert "nobody" in reasons[10]
    assert result.bad_rows == 8
    assert str(RowError(3, "no customer")) == "line 3: no customer"
    a = Purchase.objects.filter(business=shop, note="import: customer A")
    assert a.count() == 2 and a.first().seller == alice
    assert Contact.objects.get(pk=a.first().contact_id).owner == alice


def test_a_file_without_the_required_columns_writes_nothing(shop):
    with pytest.raises(ImportFormatError, match="amount"):
        import_purchases(shop, _csv("customer,date,sum\nA,2025-01-10,100\n"))
    assert not Contact.objects.filter(business=shop).exists()


def test_reimport_skips_what_is_already_there(shop, clock):
    first = import_purchases(shop, _csv(GOOD))
    again = import_purchases(shop, _csv(GOOD))

    assert (again.imported, again.duplicates, again.contacts_created) == (0, 4, 0)
    assert _purchases(shop).count() == first.imported == 4
    overlap = GOOD + "A-1,2025-05-01,700,,,,\n"
    third = import_purchases(shop, _csv(overlap))
    assert (third.imported, third.duplicates) == (1, 4)
    assert Purchase.objects.filter(business=shop, note="import: customer A-1").count() == 3


def test_equal_rows_in_one_file_are_two_purchases_and_stay_two(shop, clock):
    text = "customer,date,amount\nK,2025-01-10,250\nK,2025-01-10,250\n"
    assert import_purchases(shop, _csv(text)).imported == 2
    again = import_purchases(shop, _csv(text + "K,2025-01-10,250\n"))
    assert (again.imported, again.duplicates) == (1, 2)


def test_contacts_are_found_by_phone_and_by_customer_number(shop, clock):
    known = contact(shop, email=None, phone="+79161112233")
    import_purchases(shop, _csv("customer;date;amount;phone\n77;2025-01-10;100;89161112233\n"))
    import_purchases(shop, _csv("\ufeffcustomer,date,amount\n77,2025-02-10,100\n"))

    assert Purchase.objects.filter(contact=known).count() == 2
    assert Contact.objects.filter(business=shop).count() == 1


def test_history_starts_no_chain_per_row_and_recomputes_the_lifecycle_once(shop, clock):
    warming = chain(shop, kind=ChainKind.WARMING, exit_on_purchase=True)
    loyalty = chain(shop, kind=ChainKind.LOYALTY, name="Лояльность")
    known = contact(shop, email=None, phone="+79161112233")
    enroll(known, warming, clock.now())
    rows = "".join(f"1,2025-0{m}-10,100,+79161112233\n" for m in range(1, 5))

    result = import_purchases(shop, _csv("customer,date,amount,phone\n" + rows))

    assert result.imported == 4
    assert Enrollment.objects.get(contact=known, chain=warming).state == EnrollmentState.ACTIVE
    assert not Enrollment.objects.filter(chain=loyalty).exists()
    known.refresh_from_db()
    assert known.stage == Stage.REGULAR
    changes = StageChange.objects.filter(contact=known, field="stage")
    assert list(changes.values_list("cause", flat=True)) == ["purchase import"]


def test_lifecycle_can_be_left_out(shop, clock):
    import_purchases(shop, _csv(GOOD), recompute_lifecycle=False)
    assert set(Contact.objects.filter(business=shop).values_list("stage", flat=True)) == {
        Stage.LEAD
    }


def test_the_command_prints_counts_and_errors(shop, clock, tmp_path):
    path = tmp_path / "history.csv"
    path.write_text(GOOD + "Z,someday,100,,,,\n", encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    call_command("import_purchases", "kedr", str(path), stdout=out, stderr=err)

    assert "4 purchases imported, 0 already there, 1 bad rows; 3 new contacts" in out.getvalue()
    assert "line 6:" in err.getvalue() and "someday" in err.getvalue()
    out = io.StringIO()
    call_command("import_purchases", "kedr", str(path), stdout=out, stderr=io.StringIO())
    assert "0 purchases imported, 4 already there" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("import_purchases", "no-such-shop", str(path))
