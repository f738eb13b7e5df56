"""The settings pages: an owner sets Kasatka up without the admin; roles and businesses
stay apart; bad input comes back on the form and saves nothing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from kasatka.accounts.models import BusinessDay, Role, User, method_settings, sending_rules
from kasatka.deals.models import DealStage, Pipeline
from kasatka.sales.models import LeadSource, LeadSourceCost, LossKind, LossReason

pytestmark = pytest.mark.django_db


def signed_in(client, user):
    client.force_login(user)
    return client


# --- who sees what ---------------------------------------------------------------------------

SETTINGS_PAGES = [
    "settings:business", "settings:sending", "settings:calendar", "settings:method",
    "settings:loss_reasons", "settings:pipelines", "settings:channels",
    "settings:channel_new",
]


@pytest.mark.parametrize("name", [*SETTINGS_PAGES, "settings:users", "settings:user_new"])
def test_the_owner_and_the_head_open_every_settings_page(client, owner, head, name):
    for person in (owner, head):
        assert signed_in(client, person).get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", [*SETTINGS_PAGES, "settings:users", "settings:user_new",
                                  "settings:index", "settings:sources"])
def test_a_seller_gets_403_on_every_settings_page(client, alice, name):
    assert signed_in(client, alice).get(reverse(name)).status_code == 403


@pytest.mark.parametrize("name", [*SETTINGS_PAGES, "settings:users", "settings:user_new"])
def test_a_marketer_gets_403_outside_the_lead_sources(client, marketer, name):
    assert signed_in(client, marketer).get(reverse(name)).status_code == 403


def test_a_marketer_sees_only_the_lead_sources_in_the_index(client, marketer):
    signed_in(client, marketer)
    page = client.get(reverse("settings:index")).content.decode()
    assert 'data-section="sources"' in page
    for section in ("business", "channels", "loss-reasons", "pipelines", "method", "users"):
        assert f'data-section="{section}"' not in page
    assert client.get(reverse("settings:sources")).status_code == 200


def test_the_owner_sees_every_section_in_the_index(client, owner):
    page = signed_in(client, owner).get(reverse("settings:index")).content.decode()
    for section in ("business", "channels", "loss-reasons", "pipelines", "method", "users",
                    "sources"):
        assert f'data-section="{section}"' in page


def test_signed_out_visitors_go_to_the_login_page(client, shop):
    response = client.get(reverse("settings:business"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_index_page_takes_a_pinned_number_of_queries(
    client, owner, django_assert_num_queries
):
    signed_in(client, owner)
    client.get(reverse("settings:index"))  # the session and the translations warm up
    with django_assert_num_queries(3):  # the session, the user, the business: no more
        assert client.get(reverse("settings:index")).status_code == 200


def test_csrf_is_enforced_on_the_business_form(owner):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(owner)
    response = strict.post(reverse("settings:business"), {"name": "Взлом"})
    assert response.status_code == 403
    owner.business.refresh_from_db()
    assert owner.business.name == "Мебель «Кедр»"


# --- the business ----------------------------------------------------------------------------


def business_form(**changes):
    data = {
        "name": "Мебель «Кедр» и сыновья", "time_zone": "Asia/Yekaterinburg", "country": "ru",
        "holidays_country": "RU", "working_weekdays": ["1", "2", "3", "4", "5", "6"],
        "phone": "+7 343 000-00-00", "email": "hello@kedr.example",
        "website": "https://kedr.example", "postal_address": "Екатеринбург, ул. Ленина, 1",
        "email_from_name": "Кедр", "email_from_address": "news@kedr.example",
        "paper_from_age": "55",
    }
    data.update(changes)
    return data


def test_the_owner_saves_the_business(client, owner, shop):
    response = signed_in(client, owner).post(reverse("settings:business"), business_form())
    assert response.status_code == 302
    shop.refresh_from_db()
    assert shop.name == "Мебель «Кедр» и сыновья"
    assert shop.time_zone == "Asia/Yekaterinburg"
    assert shop.country == "RU"
    assert shop.working_weekdays == "123456"
    assert shop.paper_from_age == 55
    assert shop.email_from_address == "news@kedr.example"
    assert shop.slug == "kedr"
    page = client.get(reverse("settings:business")).content.decode()
    assert 'class="msg success"' in page


@pytest.mark.parametrize("bad", [
    {"time_zone": "Mars/Olympus"},
    {"working_weekdays": ["99"]},
    {"working_weekdays": []},
    {"country": "XX"},
    {"paper_from_age": "-3"},
    {"email_from_address": "not an address"},
    {"name": ""},
])
def test_a_bad_business_value_comes_back_on_the_form(client, owner, shop, bad):
    response = signed_in(client, owner).post(reverse("settings:business"), business_form(**bad))
    assert response.status_code == 400
    field = next(iter(bad))
    page = response.content.decode()
    assert f'id="id_{field}_error"' in page or f'data-field="{field}" ' in page
    assert 'aria-invalid="true"' in page
    shop.refresh_from_db()
    assert shop.name == "Мебель «Кедр»" and shop.time_zone == "Europe/Moscow"


def test_help_texts_are_linked_to_their_fields(client, owner):
    page = signed_in(client, owner).get(reverse("settings:business")).content.decode()
    assert 'id="id_paper_from_age_helptext"' in page
    assert 'aria-describedby="id_paper_from_age_helptext"' in page
    assert '<label for="id_name"' in page


# --- sending rules ---------------------------------------------------------------------------


def rules_form(**changes):
    data = {
        "calls_on_working_days_only": "on", "spread_minutes": "15",
        "cap_per_day": "2", "cap_per_week": "5", "cap_per_channel_per_day": "1",
        "cap_per_channel_per_week": "4", "max_postpone_days": "10", "double_opt_in": "on",
        "window_sms_from": "10:00", "window_sms_to": "20:00",
        "window_call_from": "11:00", "window_call_to": "18:30",
        "window_telegram_from": "08:00", "window_telegram_to": "22:00",
    }
    data.update(changes)
    return data


def test_the_owner_saves_the_sending_rules(client, owner, shop):
    response = signed_in(client, owner).post(reverse("settings:sending"), rules_form())
    assert response.status_code == 302
    rules = sending_rules(shop)
    rules.refresh_from_db()
    assert rules.windows == {
        "sms": ["10:00", "20:00"], "call": ["11:00", "18:30"], "telegram": ["08:00", "22:00"],
    }
    assert (rules.cap_per_day, rules.cap_per_week, rules.cap_per_channel_per_week) == (2, 5, 4)
    assert rules.double_opt_in and rules.calls_on_working_days_only
    assert not rules.commercial_on_holidays
    assert rules.spread_minutes == 15 and rules.max_postpone_days == 10


def test_the_sending_page_shows_the_stored_windows(client, owner, shop):
    page = signed_in(client, owner).get(reverse("settings:sending")).content.decode()
    assert 'name="window_call_from" value="10:00"' in page
    assert 'name="window_sms_to" value="21:00"' in page
    assert 'name="window_email_from"' in page


@pytest.mark.parametrize("bad", [
    {"cap_per_day": "-1"},
    {"cap_per_week": "lots"},
    {"window_sms_from": "21:00", "window_sms_to": "09:00"},
    {"window_sms_from": "", "window_sms_to": "09:00"},
    {"window_sms_from": "25:00"},
])
def test_bad_sending_rules_save_nothing(client, owner, shop, bad):
    before = sending_rules(shop)
    response = signed_in(client, owner).post(reverse("settings:sending"), rules_form(**bad))
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    after = sending_rules(shop)
    assert after.windows == before.windows and after.cap_per_day == before.cap_per_day


# --- the calendar ----------------------------------------------------------------------------


def test_the_owner_adds_and_removes_a_day_of_the_business(client, owner, shop):
    signed_in(client, owner)
    response = client.post(reverse("settings:calendar"),
                           {"date": "2026-03-09", "name": "Инвентаризация"})
    assert response.status_code == 302
    day = BusinessDay.objects.get(business=shop)
    assert day.date == date(2026, 3, 9) and not day.is_working
    assert 'data-day="2026-03-09"' in client.get(reverse("settings:calendar")).content.decode()
    duplicate = client.post(reverse("settings:calendar"), {"date": "2026-03-09"})
    assert duplicate.status_code == 400
    assert BusinessDay.objects.filter(business=shop).count() == 1
    client.post(reverse("settings:calendar_remove", args=[day.pk]))
    assert not BusinessDay.objects.filter(business=shop).exists()


def test_another_businesss_day_cannot_be_removed(client, owner, other_shop):
    theirs = BusinessDay.objects.create(business=other_shop, date=date(2026, 5, 4))
    response = signed_in(client, owner).post(reverse("settings:calendar_remove", args=[theirs.pk]))
    assert response.status_code == 404
    assert BusinessDay.objects.filter(pk=theirs.pk).exists()


# --- the method's figures --------------------------------------------------------------------


def method_form(figures, **changes):
    data = {}
    for field in figures._meta.concrete_fields:
        if field.name in ("id", "business"):
            continue
        value = getattr(figures, field.attname)
        if isinstance(value, bool):
            if value:
                data[field.name] = "on"
        elif value is not None:
            data[field.name] = str(value)
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_head_saves_the_methods_figures(client, head, alice, shop):
    figures = method_settings(shop)
    response = signed_in(client, head).post(reverse("settings:method"), method_form(
        figures, warming_touches="9", lc_window_days="21", lapse_period_days="540",
        nudge_conversion="0.25", account_handoff="manager", account_manager=str(alice.pk),
        nudge_no_winback="on",
    ))
    assert response.status_code == 302
    figures.refresh_from_db()
    assert figures.warming_touches == 9 and figures.lc_window_days == 21
    assert figures.lapse_period_days == 540
    assert figures.nudge_conversion == Decimal("0.25")
    assert figures.account_manager == alice and figures.nudge_no_winback


def test_the_method_page_shows_each_figures_help(client, owner):
    page = signed_in(client, owner).get(reverse("settings:method")).content.decode()
    assert 'aria-describedby="id_warming_touches_helptext"' in page
    assert 'id="id_lapse_period_days_helptext"' in page


@pytest.mark.parametrize("bad", [
    {"nudge_conversion": "1.5"}, {"warming_touches": "-2"}, {"lapse_factor": "0.5"},
    {"warming_touches": "0"},
])
def test_bad_figures_save_nothing(client, owner, shop, bad):
    figures = method_settings(shop)
    response = signed_in(client, owner).post(reverse("settings:method"),
                                             method_form(figures, **bad))
    assert response.status_code == 400
    figures.refresh_from_db()
    assert figures.warming_touches == 7 and figures.nudge_conversion == Decimal("0.30")


def test_another_businesss_user_cannot_be_the_account_manager(client, owner, charlie, shop):
    figures = method_settings(shop)
    response = signed_in(client, owner).post(reverse("settings:method"), method_form(
        figures, account_manager=str(charlie.pk)
    ))
    assert response.status_code == 400
    figures.refresh_from_db()
    assert figures.account_manager is None


# --- loss reasons ----------------------------------------------------------------------------


def test_the_owner_adds_renames_reorders_and_deactivates_loss_reasons(client, owner, shop):
    signed_in(client, owner)
    for name in ("Дорого", "Нет нужного цвета", "Ушёл подумать"):
        assert client.post(reverse("settings:loss_reasons"),
                           {"name": name, "kind": LossKind.OBJECTIVE}).status_code == 302
    reasons = {r.name: r for r in LossReason.objects.filter(business=shop)}
    assert [r.position for r in reasons.values()] == [1, 2, 3]

    client.post(reverse("settings:loss_reason_move", args=[reasons["Ушёл подумать"].pk]),
                {"direction": "up"})
    order = list(LossReason.objects.filter(business=shop).values_list("name", flat=True))
    assert order == ["Дорого", "Ушёл подумать", "Нет нужного цвета"]

    reason = reasons["Дорого"]
    client.post(reverse("settings:loss_reason", args=[reason.pk]),
                {"name": "Дорого для бюджета", "kind": LossKind.OBJECTIVE})
    reason.refresh_from_db()
    assert reason.name == "Дорого для бюджета" and not reason.is_active

    page = client.get(reverse("settings:loss_reasons")).content.decode()
    assert page.index("Дорого для бюджета") < page.index("Ушёл подумать")


def test_a_duplicate_loss_reason_is_refused_on_the_form(client, owner, shop):
    LossReason.objects.create(business=shop, name="Дорого", kind=LossKind.OBJECTIVE)
    response = signed_in(client, owner).post(reverse("settings:loss_reasons"),
                                             {"name": "дорого", "kind": LossKind.OBJECTIVE})
    assert response.status_code == 400
    assert 'id="form-errors"' in response.content.decode()
    assert LossReason.objects.filter(business=shop).count() == 1


def test_a_loss_reason_in_use_is_never_deleted(client, owner, alice, shop):
    from kasatka.sales.models import Visit

    used = LossReason.objects.create(business=shop, name="Дорого", kind=LossKind.OBJECTIVE)
    Visit.objects.create(business=shop, seller=alice, bought=False, contacts_taken=False,
                         loss_reason=used)
    unused = LossReason.objects.create(business=shop, name="Турист", kind=LossKind.OBJECTIVE)
    signed_in(client, owner)
    client.post(reverse("settings:loss_reason_remove", args=[used.pk]))
    client.post(reverse("settings:loss_reason_remove", args=[unused.pk]))
    assert list(LossReason.objects.filter(business=shop)) == [used]


def test_another_businesss_loss_reason_is_404(client, owner, other_shop):
    theirs = LossReason.objects.create(business=other_shop, name="Чужая",
                                       kind=LossKind.OBJECTIVE)
    signed_in(client, owner)
    assert client.get(reverse("settings:loss_reason", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("settings:loss_reason", args=[theirs.pk]),
                       {"name": "Моя", "kind": LossKind.OBJECTIVE}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Чужая"


# --- pipelines and stages --------------------------------------------------------------------


def test_the_owner_builds_a_pipeline_with_stages(client, owner, shop):
    signed_in(client, owner)
    response = client.post(reverse("settings:pipelines"), {"name": "Кухни на заказ"})
    pipeline = Pipeline.objects.get(business=shop)
    assert response["Location"] == reverse("settings:pipeline", args=[pipeline.pk])
    add = reverse("settings:stage_add", args=[pipeline.pk])
    client.post(add, {"name": "Замер", "wait_days": "2"})
    client.post(add, {"name": "Проект отправлен", "waits_for_client": "on", "wait_days": "3",
                      "next_step": "Выставить счёт"})
    client.post(add, {"name": "Счёт", "waits_for_client": "on", "wait_days": "5"})
    stages = list(pipeline.stages.order_by("position"))
    assert [(s.name, s.position) for s in stages] == [
        ("Замер", 1), ("Проект отправлен", 2), ("Счёт", 3)
    ]
    assert stages[1].waits_for_client and stages[1].wait_days == 3
    assert stages[1].next_step == "Выставить счёт"

    client.post(reverse("settings:stage_move", args=[stages[2].pk]), {"direction": "up"})
    assert list(pipeline.stages.order_by("position").values_list("name", flat=True)) == [
        "Замер", "Счёт", "Проект отправлен"
    ]

    client.post(reverse("settings:stage", args=[stages[0].pk]),
                {"name": "Замер у клиента", "wait_days": "1"})
    stages[0].refresh_from_db()
    assert stages[0].name == "Замер у клиента" and stages[0].wait_days == 1

    client.post(reverse("settings:pipeline", args=[pipeline.pk]),
                {"name": "Кухни", "is_active": "on"})
    pipeline.refresh_from_db()
    assert pipeline.name == "Кухни"


def test_the_standard_pipeline_is_one_click_away(client, owner, shop):
    response = signed_in(client, owner).post(reverse("settings:pipelines"), {"default": "1"})
    pipeline = Pipeline.objects.get(business=shop)
    assert response["Location"] == reverse("settings:pipeline", args=[pipeline.pk])
    assert pipeline.stages.count() >= 3


def test_the_only_active_pipeline_stays_active(client, owner, shop):
    pipeline = Pipeline.objects.create(business=shop, name="Продажи")
    response = signed_in(client, owner).post(reverse("settings:pipeline", args=[pipeline.pk]),
                                             {"name": "Продажи"})
    assert response.status_code == 400
    pipeline.refresh_from_db()
    assert pipeline.is_active


def test_a_bad_stage_saves_nothing(client, owner, shop):
    pipeline = Pipeline.objects.create(business=shop, name="Продажи")
    response = signed_in(client, owner).post(
        reverse("settings:stage_add", args=[pipeline.pk]), {"name": "", "wait_days": "-1"}
    )
    assert response.status_code == 400
    assert not pipeline.stages.exists()


def test_a_stage_with_deals_is_not_removed(client, owner, alice, shop):
    from kasatka.deals.actions import create_deal
    from tests import builders

    pipeline = Pipeline.objects.create(business=shop, name="Продажи")
    used = DealStage.objects.create(pipeline=pipeline, name="Счёт", position=1)
    unused = DealStage.objects.create(pipeline=pipeline, name="Лишняя", position=2)
    create_deal(builders.contact(shop, owner=alice), "Кухня", 100, used, alice)
    signed_in(client, owner)
    client.post(reverse("settings:stage_remove", args=[used.pk]))
    client.post(reverse("settings:stage_remove", args=[unused.pk]))
    assert list(pipeline.stages.all()) == [used]


def test_another_businesss_pipeline_and_stage_are_404(client, owner, other_shop):
    theirs = Pipeline.objects.create(business=other_shop, name="Чужая")
    stage = DealStage.objects.create(pipeline=theirs, name="Чужой этап", position=1)
    signed_in(client, owner)
    assert client.get(reverse("settings:pipeline", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("settings:stage_add", args=[theirs.pk]),
                       {"name": "Мой", "wait_days": "2"}).status_code == 404
    assert client.get(reverse("settings:stage", args=[stage.pk])).status_code == 404
    assert client.post(reverse("settings:stage", args=[stage.pk]),
                       {"name": "Мой", "wait_days": "2"}).status_code == 404
    assert client.post(reverse("settings:stage_remove", args=[stage.pk])).status_code == 404
    assert theirs.stages.get().name == "Чужой этап"


# --- users and roles -------------------------------------------------------------------------


def new_user(**changes):
    data = {"username": "vera", "first_name": "Вера", "last_name": "Новикова",
            "email": "vera@kedr.example", "role": Role.SELLER,
            "password1": "Kedr-sells-sofas-42", "password2": "Kedr-sells-sofas-42"}
    data.update(changes)
    return data


def test_the_owner_creates_a_user_who_can_sign_in(client, owner, shop):
    response = signed_in(client, owner).post(reverse("settings:user_new"), new_user())
    assert response.status_code == 302
    vera = User.objects.get(username="vera")
    assert vera.business == shop and vera.role == Role.SELLER
    assert vera.check_password("Kedr-sells-sofas-42")
    assert "Kedr-sells-sofas-42" not in client.get(reverse("settings:users")).content.decode()


@pytest.mark.parametrize("bad", [
    {"password1": "12345", "password2": "12345"},
    {"password2": "something-else-42"},
    {"username": "alice"},
    {"username": "ALICE"},
])
def test_a_weak_password_or_a_taken_login_is_refused(client, owner, alice, bad):
    response = signed_in(client, owner).post(reverse("settings:user_new"), new_user(**bad))
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert User.objects.count() == 2


@pytest.mark.parametrize("role", [Role.OWNER, Role.HEAD_OF_SALES])
def test_the_head_cannot_create_an_owner_or_a_head(client, head, role):
    response = signed_in(client, head).post(reverse("settings:user_new"), new_user(role=role))
    assert response.status_code == 400
    assert not User.objects.filter(username="vera").exists()


def test_the_head_manages_sellers_and_marketers(client, head, alice):
    signed_in(client, head)
    assert client.post(reverse("settings:user_new"),
                       new_user(role=Role.MARKETER)).status_code == 302
    response = client.post(reverse("settings:user", args=[alice.pk]), {
        "first_name": "Алиса", "last_name": "Петрова", "role": Role.MARKETER,
    })
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.role == Role.MARKETER and not alice.is_active


def test_the_head_cannot_promote_a_seller(client, head, alice):
    response = signed_in(client, head).post(reverse("settings:user", args=[alice.pk]), {
        "first_name": "Алиса", "last_name": "Петрова", "role": Role.OWNER, "is_active": "on",
    })
    assert response.status_code == 400
    alice.refresh_from_db()
    assert alice.role == Role.SELLER


def test_the_head_cannot_edit_an_owner(client, head, owner):
    signed_in(client, head)
    assert client.get(reverse("settings:user", args=[owner.pk])).status_code == 403
    response = client.post(reverse("settings:user", args=[owner.pk]), {
        "first_name": "Ольга", "last_name": "Кедрова", "role": Role.SELLER,
    })
    assert response.status_code == 403
    response = client.post(reverse("settings:user_password", args=[owner.pk]), {
        "new_password1": "Taken-over-4242", "new_password2": "Taken-over-4242",
    })
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.role == Role.OWNER and owner.is_active
    assert owner.check_password("pw-Kasatka-1")


def test_the_last_owner_cannot_be_demoted_or_deactivated(client, owner, shop):
    second = User.objects.create_user("oleg", business=shop, role=Role.OWNER, is_active=False)
    signed_in(client, owner)
    response = client.post(reverse("settings:user", args=[owner.pk]), {
        "first_name": "Ольга", "last_name": "Кедрова", "role": Role.HEAD_OF_SALES,
        "is_active": "on",
    })
    assert response.status_code == 400
    assert 'id="form-errors"' in response.content.decode()
    owner.refresh_from_db()
    assert owner.role == Role.OWNER and owner.is_active

    # With a second active owner, the first may step down to head of sales.
    second.is_active = True
    second.save()
    response = client.post(reverse("settings:user", args=[owner.pk]), {
        "first_name": "Ольга", "last_name": "Кедрова", "role": Role.HEAD_OF_SALES,
        "is_active": "on",
    })
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.role == Role.HEAD_OF_SALES


def test_nobody_deactivates_their_own_account(client, owner, shop):
    User.objects.create_user("oleg", business=shop, role=Role.OWNER)
    response = signed_in(client, owner).post(reverse("settings:user", args=[owner.pk]), {
        "first_name": "Ольга", "last_name": "Кедрова", "role": Role.OWNER,
    })
    assert response.status_code == 400
    owner.refresh_from_db()
    assert owner.is_active


def test_the_owner_gives_a_seller_a_new_password(client, owner, alice):
    signed_in(client, owner)
    weak = client.post(reverse("settings:user_password", args=[alice.pk]),
                       {"new_password1": "123", "new_password2": "123"})
    assert weak.status_code == 400
    alice.refresh_from_db()
    assert alice.check_password("pw-Kasatka-1")
    client.post(reverse("settings:user_password", args=[alice.pk]),
                {"new_password1": "Sofa-and-chair-77", "new_password2": "Sofa-and-chair-77"})
    alice.refresh_from_db()
    assert alice.check_password("Sofa-and-chair-77")


def test_another_businesss_user_is_404(client, owner, charlie):
    signed_in(client, owner)
    assert client.get(reverse("settings:user", args=[charlie.pk])).status_code == 404
    response = client.post(reverse("settings:user", args=[charlie.pk]), {
        "first_name": "Карл", "last_name": "Соснин", "role": Role.MARKETER,
    })
    assert response.status_code == 404
    charlie.refresh_from_db()
    assert charlie.is_active and charlie.role == Role.SELLER
    assert "charlie" not in client.get(reverse("settings:users")).content.decode()


# --- lead sources and their costs ------------------------------------------------------------


def test_the_marketer_adds_a_source_and_its_costs(client, marketer, shop):
    signed_in(client, marketer)
    response = client.post(reverse("settings:sources"), {
        "name": "Яндекс Директ", "channel": "контекст", "utm_source": "yandex",
        "utm_medium": "cpc", "utm_campaign": "kitchens-spring",
    })
    source = LeadSource.objects.get(business=shop)
    assert response["Location"] == reverse("settings:source", args=[source.pk])
    assert (source.utm_source, source.utm_medium, source.utm_campaign) == (
        "yandex", "cpc", "kitchens-spring"
    )
    add = reverse("settings:source_cost_add", args=[source.pk])
    assert client.post(add, {"period_start": "2026-03-01", "period_end": "2026-03-31",
                             "amount": "45000"}).status_code == 302
    assert client.post(add, {"period_start": "2026-04-01", "period_end": "2026-04-30",
                             "amount": "30000.50"}).status_code == 302
    assert sorted(source.costs.values_list("amount", flat=True)) == [
        Decimal("30000.50"), Decimal("45000")
    ]
    page = client.get(reverse("settings:sources")).content.decode()
    assert "Яндекс Директ" in page

    client.post(reverse("settings:source", args=[source.pk]),
                {"name": "Директ", "utm_source": "yandex"})
    source.refresh_from_db()
    assert source.name == "Директ" and source.utm_medium == ""


@pytest.mark.parametrize("bad", [
    {"period_start": "2026-03-31", "period_end": "2026-03-01", "amount": "100"},
    {"period_start": "2026-03-15", "period_end": "2026-04-15", "amount": "100"},
    {"period_start": "2026-02-01", "period_end": "2026-03-01", "amount": "100"},
    {"period_start": "2026-05-01", "period_end": "2026-05-31", "amount": "-5"},
])
def test_a_reversed_or_overlapping_cost_period_is_refused(client, owner, shop, bad):
    source = LeadSource.objects.create(business=shop, name="Авито")
    LeadSourceCost.objects.create(business=shop, source=source, period_start=date(2026, 3, 1),
                                  period_end=date(2026, 3, 31), amount=Decimal(1000))
    response = signed_in(client, owner).post(
        reverse("settings:source_cost_add", args=[source.pk]), bad
    )
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.content.decode()
    assert source.costs.count() == 1


def test_a_duplicate_source_name_is_refused(client, owner, shop):
    LeadSource.objects.create(business=shop, name="Авито")
    response = signed_in(client, owner).post(reverse("settings:sources"), {"name": "Авито"})
    assert response.status_code == 400
    assert LeadSource.objects.filter(business=shop).count() == 1


def test_another_businesss_source_and_cost_are_404(client, marketer, other_shop):
    theirs = LeadSource.objects.create(business=other_shop, name="Чужой")
    cost = LeadSourceCost.objects.create(business=other_shop, source=theirs,
                                         period_start=date(2026, 3, 1),
                                         period_end=date(2026, 3, 31), amount=Decimal(10))
    signed_in(client, marketer)
    assert client.get(reverse("settings:source", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("settings:source_cost_add", args=[theirs.pk]), {
        "period_start": "2026-05-01", "period_end": "2026-05-31", "amount": "1",
    }).status_code == 404
    assert client.post(reverse("settings:source_cost_remove", args=[cost.pk])).status_code == 404
    assert theirs.costs.count() == 1
