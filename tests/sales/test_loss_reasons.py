"""Why a client did not buy: the business's list, its defaults, and the rules of the form."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from kasatka.contacts.models import Contact
from kasatka.sales.actions import (
    active_loss_reasons,
    check_visit_outcome,
    ensure_default_loss_reasons,
)
from kasatka.sales.models import LossKind, LossReason, Visit

pytestmark = pytest.mark.django_db


def names(business, kind):
    return list(
        LossReason.objects.filter(business=business, kind=kind).values_list("name", flat=True)
    )


def test_the_defaults_are_the_methods_list_split_by_kind(shop):
    assert ensure_default_loss_reasons(shop) == 7
    assert names(shop, LossKind.OBJECTIVE) == [
        "Отказ в кредите", "Разница в цене", "Турист — не собирался покупать",
    ]
    assert names(shop, LossKind.NON_OBJECTIVE) == [
        "Слишком активный продавец", "Слишком пассивный продавец",
        "Не те инструменты продаж", "Продавец не знал товар",
    ]


def test_a_business_with_its_own_list_gets_no_defaults(shop, other_shop):
    LossReason.objects.create(business=shop, name="Нет нужного цвета", kind=LossKind.OBJECTIVE,
                              is_active=False)
    assert ensure_default_loss_reasons(shop) == 0
    assert list(LossReason.objects.filter(business=shop).values_list("name", flat=True)) == [
        "Нет нужного цвета"
    ]
    # Another shop's list is its own business: it still gets the defaults.
    assert ensure_default_loss_reasons(other_shop) == 7
    assert ensure_default_loss_reasons(other_shop) == 0
    assert LossReason.objects.filter(business=other_shop).count() == 7


def test_the_first_use_of_the_visit_form_creates_the_defaults(client, alice, shop):
    client.force_login(alice)
    page = client.get("/visits/new/")
    assert page.status_code == 200
    assert LossReason.objects.filter(business=shop).count() == 7
    html = page.content.decode()
    assert "<optgroup" in html and "Продавец не знал товар" in html


def test_the_seller_picks_among_active_reasons_grouped_by_kind(client, alice, shop):
    ensure_default_loss_reasons(shop)
    LossReason.objects.filter(business=shop, name="Разница в цене").update(is_active=False)
    client.force_login(alice)
    choices = client.get("/visits/new/").context["form"].fields["loss_reason"].choices
    groups = {str(label): [name for _pk, name in options] for label, options in choices[1:]}
    assert [len(options) for options in groups.values()] == [2, 4]
    assert "Разница в цене" not in groups[str(LossKind.OBJECTIVE.label)]
    assert "Продавец не знал товар" in groups[str(LossKind.NON_OBJECTIVE.label)]
    assert len(active_loss_reasons(shop)) == 6


def test_a_visit_not_bought_needs_a_reason(client, alice, shop):
    client.force_login(alice)
    response = client.post("/visits/new/", {"bought": "no", "contacts_taken": "yes",
                                            "phone": "+79161234567", "note": "подумает"})
    assert response.status_code == 400
    assert response.context["form"].errors["loss_reason"]
    assert not Visit.objects.exists() and not Contact.objects.exists()


def test_a_visit_bought_refuses_a_reason(client, alice, shop):
    ensure_default_loss_reasons(shop)
    reason = LossReason.objects.get(business=shop, name="Разница в цене")
    client.force_login(alice)
    response = client.post("/visits/new/", {"bought": "yes", "contacts_taken": "yes",
                                            "phone": "+79161234567", "amount": "1000",
                                            "loss_reason": reason.pk})
    assert response.status_code == 400
    assert response.context["form"].errors["loss_reason"]
    assert not Visit.objects.exists() and not Contact.objects.exists()


def test_a_visit_bought_needs_its_amount(client, alice, shop):
    client.force_login(alice)
    response = client.post("/visits/new/", {"bought": "yes", "contacts_taken": "no"})
    assert response.status_code == 400
    assert response.context["form"].errors["amount"]
    assert not Visit.objects.exists()


def test_the_reason_and_a_note_are_stored_with_the_visit(client, alice, shop):
    ensure_default_loss_reasons(shop)
    reason = LossReason.objects.get(business=shop, name="Слишком активный продавец")
    client.force_login(alice)
    client.post("/visits/new/", {"bought": "no", "contacts_taken": "no",
                                 "loss_reason": reason.pk, "note": "  торопил  "})
    visit = Visit.objects.get()
    assert (visit.loss_reason.kind, visit.note) == (LossKind.NON_OBJECTIVE, "торопил")


def test_another_business_reason_is_refused(shop, other_shop):
    ensure_default_loss_reasons(other_shop)
    theirs = LossReason.objects.filter(business=other_shop).first()
    with pytest.raises(ValidationError) as caught:
        check_visit_outcome(shop.pk, bought=False, amount=None, loss_reason=theirs)
    assert set(caught.value.error_dict) == {"loss_reason"}


def test_every_broken_rule_is_reported_at_once(shop):
    ensure_default_loss_reasons(shop)
    reason = LossReason.objects.filter(business=shop).first()
    with pytest.raises(ValidationError) as caught:
        check_visit_outcome(shop.pk, bought=False, amount=Decimal("-5"), loss_reason=None)
    assert set(caught.value.error_dict) == {"loss_reason", "amount"}
    check_visit_outcome(shop.pk, bought=False, amount=None, loss_reason=reason)  # fine
