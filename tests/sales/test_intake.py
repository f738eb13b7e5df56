"""Lead intake: a lead is found or created, attributed to its source, and starts conversion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from kasatka.accounts.models import User
from kasatka.contacts.models import Consent, ConsentBasis, Contact
from kasatka.sales.intake import create_lead
from kasatka.sales.models import LeadConversion, LeadSource, LeadSourceCost

pytestmark = pytest.mark.django_db


@pytest.fixture
def started():
    """The lead-conversion windows opened so far: (contact id, start)."""
    def windows() -> list[tuple[int, object]]:
        return list(
            LeadConversion.objects.order_by("id").values_list("contact_id", "started_at")
        )
    return windows


def lead(shop, clock, **fields):
    values = {"name": "Анна Иванова", "phone": "+79161234567", "email": "", "utm": {},
              "consent": ["email"], "at": clock.now()}
    values.update(fields)
    return create_lead(shop, **values)


def test_an_explicit_source_name_wins_and_the_lead_starts_conversion(shop, clock, started):
    contact, is_new = lead(shop, clock, source_name="Выставка «Мебель-2026»",
                           utm={"utm_source": "yandex"}, email="anna@example.com")
    assert is_new
    assert contact.source.name == "Выставка «Мебель-2026»"
    assert (contact.first_name, contact.last_name) == ("Анна", "Иванова")
    assert set(contact.addresses.values_list("value", flat=True)) == {
        "+79161234567", "anna@example.com"
    }
    assert list(Consent.objects.values_list("channel", "basis")) == [("email", ConsentBasis.FORM)]
    assert started() == [(contact.pk, clock.now())]


def test_an_existing_source_name_is_reused_whatever_its_case(shop, clock, started):
    fair = LeadSource.objects.create(business=shop, name="Выставка")
    contact, _new = lead(shop, clock, source_name="выставка")
    assert contact.source == fair and LeadSource.objects.count() == 1


def test_utm_values_pick_the_most_specific_matching_source(shop, other_shop, clock, started):
    LeadSource.objects.create(business=shop, name="Яндекс", utm_source="yandex")
    kitchens = LeadSource.objects.create(business=shop, name="Директ: кухни",
                                         utm_source="yandex", utm_campaign="kitchens")
    LeadSource.objects.create(business=shop, name="Директ: диваны", utm_source="yandex",
                              utm_campaign="sofas")
    LeadSource.objects.create(business=other_shop, name="Чужие кухни", utm_source="yandex",
                              utm_medium="cpc", utm_campaign="kitchens")
    utm = {"utm_source": "Yandex", "utm_medium": "cpc", "utm_campaign": "kitchens"}
    contact, _new = lead(shop, clock, utm=utm)
    assert contact.source == kitchens
    other, _new = lead(shop, clock, phone="+79160000002", utm={"utm_source": "yandex"})
    assert other.source.name == "Яндекс"


def test_unknown_utm_values_make_a_new_source_named_after_them(shop, clock, started):
    utm = {"utm_source": "vk", "utm_medium": "social", "utm_campaign": "sofa-sale"}
    contact, _new = lead(shop, clock, utm=utm)
    source = contact.source
    assert source.name == "vk / social / sofa-sale"
    assert (source.utm_source, source.utm_medium, source.utm_campaign) == (
        "vk", "social", "sofa-sale"
    )
    again, _new = lead(shop, clock, phone="+79160000002", utm=utm)
    assert again.source == source and LeadSource.objects.count() == 1


def test_the_first_source_is_kept_when_the_lead_comes_back(shop, clock, started):
    first, is_new = lead(shop, clock, utm={"utm_source": "vk"})
    assert is_new
    again, is_new = lead(shop, clock, phone="8 (916) 123-45-67", source_name="Выставка",
                         email="anna@example.com")
    assert not is_new and again == first and Contact.objects.count() == 1
    again.refresh_from_db()
    assert again.source.name == "vk"
    assert again.addresses.filter(kind="email").exists()  # what she added is kept
    assert [pk for pk, _at in started()] == [first.pk]  # one window, for the new lead only


def test_a_known_contact_without_a_source_gets_this_one(shop, clock, started):
    walk_in, _new = lead(shop, clock)
    assert walk_in.source is None
    again, is_new = lead(shop, clock, utm={"utm_source": "avito"})
    again.refresh_from_db()
    assert not is_new and again.source.name == "avito"


def test_a_lead_without_a_phone_or_email_is_refused(shop, clock, started):
    with pytest.raises(ValidationError) as caught:
        lead(shop, clock, phone="", email="")
    assert "phone" in caught.value.error_dict
    with pytest.raises(ValidationError) as caught:
        lead(shop, clock, phone="", email="not an address")
    assert "email" in caught.value.error_dict
    assert not Contact.objects.exists() and started() == []


# --- the public form -----------------------------------------------------------------------


def test_the_public_form_carries_the_utm_values_of_its_address(client, shop):
    page = client.get("/lead/kedr/?utm_source=vk&utm_medium=social&utm_campaign=sofa")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="utm_source" value="vk"' in html and 'name="utm_campaign" value="sofa"' in html


def test_the_public_form_creates_a_lead_with_its_utm_source(client, shop, clock, started):
    client.handler.enforce_csrf_checks = True  # posted from the shop's own site: no cookie
    response = client.post("/lead/kedr/?utm_source=vk&utm_medium=social", {
        "name": "Пётр Петров", "phone": "8 916 765-43-21", "email": "petr@example.com",
        "consent": ["email", "messengers"], "website": "", "utm_campaign": "sofa",
    })
    assert response.status_code == 200
    petr = Contact.objects.get()
    assert (petr.first_name, petr.last_name, petr.business) == ("Пётр", "Петров", shop)
    assert petr.source.name == "vk / social / sofa"
    assert set(Consent.objects.values_list("channel", flat=True)) == {
        "email", "telegram", "whatsapp", "viber"
    }
    assert started() == [(petr.pk, clock.now())]


def test_a_bot_filling_the_honeypot_is_thanked_and_forgotten(client, shop, started):
    response = client.post("/lead/kedr/", {"name": "Bot", "phone": "+79161234567",
                                           "website": "http://spam.example"})
    assert response.status_code == 200
    assert not Contact.objects.exists() and not LeadSource.objects.exists() and started() == []


def test_a_bad_lead_form_shows_its_errors(client, shop, started):
    response = client.post("/lead/kedr/", {"name": "Анна", "phone": "12"})
    assert response.status_code == 400
    assert response.context["form"].errors["phone"]
    assert not Contact.objects.exists()


def test_an_unknown_business_has_no_form(client, shop):
    assert client.get("/lead/nobody/").status_code == 404


# --- what a source costs -------------------------------------------------------------------


def test_costs_are_entered_in_the_sources_admin_page(client, shop):
    admin = User.objects.create_superuser("root", "root@example.com", "pw-Kasatka-1")
    client.force_login(admin)
    prefix = "costs"
    response = client.post("/admin/sales/leadsource/add/", {
        "business": shop.pk, "name": "Авито", "channel": "доска объявлений",
        "utm_source": "avito", "utm_medium": "", "utm_campaign": "",
        "created_at_0": "2026-03-01", "created_at_1": "10:00:00",
        f"{prefix}-TOTAL_FORMS": "2", f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000",
        f"{prefix}-0-period_start": "2026-02-01", f"{prefix}-0-period_end": "2026-02-28",
        f"{prefix}-0-amount": "12000",
        f"{prefix}-1-period_start": "2026-03-31", f"{prefix}-1-period_end": "2026-03-01",
        f"{prefix}-1-amount": "1",
    })
    assert response.status_code == 200  # the second period ends before it starts
    assert not LeadSource.objects.exists()
    response = client.post("/admin/sales/leadsource/add/", {
        "business": shop.pk, "name": "Авито", "channel": "", "utm_source": "avito",
        "utm_medium": "", "utm_campaign": "",
        "created_at_0": "2026-03-01", "created_at_1": "10:00:00",
        f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000",
        f"{prefix}-0-period_start": "2026-02-01", f"{prefix}-0-period_end": "2026-02-28",
        f"{prefix}-0-amount": "12000",
    })
    assert response.status_code == 302
    cost = LeadSourceCost.objects.get()
    assert (cost.source.name, cost.business, cost.amount) == ("Авито", shop, Decimal("12000"))
    assert (cost.period_start, cost.period_end) == (date(2026, 2, 1), date(2026, 2, 28))
