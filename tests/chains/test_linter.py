"""The chain linter: each rule fires on a chain that breaks it and stays quiet on a good one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from kasatka.accounts.models import MethodSettings, Role, SendingRules, User
from kasatka.chains.linter import ERROR, RULES, WARNING, Finding, lint_chain, lint_steps
from kasatka.chains.models import Chain, ChainKind, Step
from kasatka.contacts.models import Address, AddressKind, AddressState
from kasatka.sales.default_chains import ensure_method_chains
from tests import builders

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DAYS = timedelta(days=1)

# Seven touches three days apart, useful and commercial in turn, over several channels:
# a warming chain as the method would have it. Each test breaks one thing of it.
CHANNELS = (
    ["email", "sms"], ["telegram", "email"], ["sms"], ["email"], ["whatsapp", "sms"],
    ["call"], ["email", "telegram"],
)


def good_steps(n: int = 7) -> list[dict[str, Any]]:
    return [
        {
            "delay": 3 * DAYS if i else timedelta(0),
            "channels": list(CHANNELS[i % len(CHANNELS)]),
            "is_commercial": i % 2 == 1,
            "body_template": "{{ contact.greeting }}! Новость №" + str(i + 1) + ". "
            "{{ business.name }}",
        }
        for i in range(n)
    ]


def with_changes(changes: dict[int, dict[str, Any]], n: int = 7) -> list[dict[str, Any]]:
    """The good steps with some fields changed, by position (1-based)."""
    steps = good_steps(n)
    for position, fields in changes.items():
        steps[position - 1].update(fields)
    return steps


def fired(findings: list[Finding], code: str) -> list[int | None]:
    return [f.step for f in findings if f.code == code]


def one(findings: list[Finding], code: str) -> Finding:
    (finding,) = [f for f in findings if f.code == code]
    return finding


@pytest.fixture
def good(shop) -> Chain:
    return builders.chain(shop, good_steps())


def test_a_chain_that_keeps_to_the_method_has_no_findings(good):
    assert lint_chain(good) == []


def test_every_rule_has_a_test_here_and_a_line_in_the_docs():
    docs = (ROOT / "docs" / "linter.md").read_text()
    tests = Path(__file__).read_text()
    codes = [r.code for r in RULES]
    assert len(set(codes)) == len(codes)
    for r in RULES:
        assert r.level in (ERROR, WARNING)
        assert f"`{r.code}`" in docs, r.code
        assert tests.count(f'"{r.code}"') >= 2, r.code  # fires on a bad chain, not on the good


# --- errors ----------------------------------------------------------------------


def break_step(chain: Chain, position: int, **fields: Any) -> None:
    """What an import or a script can do: Step.save() would refuse it."""
    Step.objects.filter(chain=chain, position=position).update(**fields)


def test_a_step_without_a_reason_is_an_error(shop, good):
    assert fired(lint_chain(good), "step-without-reason") == []
    break_step(good, 3, reason="   ")
    finding = one(lint_chain(good), "step-without-reason")
    assert (finding.level, finding.step) == (ERROR, 3)
    assert "3" in finding.message  # the position, in any language


def test_a_template_that_does_not_validate_is_an_error(shop, good):
    assert fired(lint_chain(good), "invalid-template") == []
    break_step(good, 2, body_template="Привет, {{ contact.fist_name }}")
    break_step(good, 5, subject_template="{{ contact.greeting ")
    findings = lint_chain(good)
    assert fired(findings, "invalid-template") == [2, 5]
    assert all(f.level == ERROR for f in findings if f.code == "invalid-template")
    assert "contact.fist_name" in findings[0].message


def test_a_step_without_text_is_an_error(shop, good):
    assert fired(lint_chain(good), "step-without-text") == []
    break_step(good, 4, body_template=" \n ")
    assert fired(lint_chain(good), "step-without-text") == [4]


def test_a_step_with_no_channel_is_an_error(shop, good):
    assert fired(lint_chain(good), "step-without-channel") == []
    break_step(good, 6, channels=[])
    assert fired(lint_chain(good), "step-without-channel") == [6]


def test_an_unknown_channel_is_an_error(shop, good):
    assert fired(lint_chain(good), "unknown-channel") == []
    break_step(good, 1, channels=["email", "pigeon"])
    finding = one(lint_chain(good), "unknown-channel")
    assert finding.step == 1 and "pigeon" in finding.message


@dataclass
class TypedStep:
    """An editor's step as it is being typed: not a model, never saved."""

    position: int
    delay: timedelta = timedelta(0)
    delay_from: str = "previous"
    channels: Any = ()
    is_commercial: bool = False
    reason: str = ""
    subject_template: str = ""
    body_template: str = ""


def test_the_editor_lints_unsaved_steps(shop):
    typed = [
        TypedStep(1, channels=["email"], reason="Новинка", subject_template="Новинка",
                  body_template="Текст"),
        TypedStep(2, delay=2 * DAYS, channels=["sms"], body_template="{{ contact.x }}"),
    ]
    findings = lint_steps(ChainKind.NURTURE, typed, shop)
    assert {(f.code, f.step) for f in findings if f.level == ERROR} == {
        ("step-without-reason", 2), ("invalid-template", 2)
    }
    assert Chain.objects.count() == 0
    # Model steps that were never saved are linted the same way.
    unsaved = [Step(position=1, channels=["email"], reason="", body_template="Текст")]
    assert fired(lint_steps(ChainKind.NURTURE, unsaved, shop), "step-without-reason") == [1]


# --- warnings --------------------------------------------------------------------


def test_a_chain_without_steps_is_warned_about(shop, good):
    assert fired(lint_chain(good), "chain-without-steps") == []
    empty = builders.chain(shop, steps=[])
    assert fired(lint_chain(empty), "chain-without-steps") == [None]


def test_a_warming_chain_shorter_than_the_methods_touches_is_warned_about(shop, good):
    assert fired(lint_chain(good), "warming-too-short") == []
    short = builders.chain(shop, good_steps(6))
    finding = one(lint_chain(short), "warming-too-short")
    assert (finding.level, finding.step) == (WARNING, None)
    assert "6" in finding.message and "7" in finding.message
    # Only warming chains: a loyalty chain may be short.
    loyalty = builders.chain(shop, good_steps(3), kind=ChainKind.LOYALTY)
    assert fired(lint_chain(loyalty), "warming-too-short") == []


def test_the_warming_length_is_the_business_setting(shop):
    short = builders.chain(shop, good_steps(5))
    assert fired(lint_chain(short), "warming-too-short") == [None]
    MethodSettings.objects.update_or_create(business=shop, defaults={"warming_touches": 5})
    assert fired(lint_chain(short), "warming-too-short") == []


def test_a_chain_on_one_channel_only_is_warned_about(shop, good):
    assert fired(lint_chain(good), "single-channel") == []
    email_only = builders.chain(shop, [{**s, "channels": ["email"]} for s in good_steps()])
    assert fired(lint_chain(email_only), "single-channel") == [None]
    # One step with a second channel is enough.
    mixed = builders.chain(shop, with_changes(
        {i: {"channels": ["email"]} for i in range(1, 7)} | {7: {"channels": ["email", "sms"]}}
    ))
    assert fired(lint_chain(mixed), "single-channel") == []


def test_a_chain_of_offers_only_is_warned_about(shop, good):
    assert fired(lint_chain(good), "only-commercial") == []
    offers = builders.chain(shop, [{**s, "is_commercial": True} for s in good_steps()])
    assert fired(lint_chain(offers), "only-commercial") == [None]


def test_two_steps_with_the_same_text_are_warned_about(shop, good):
    assert fired(lint_chain(good), "identical-texts") == []
    repeated = builders.chain(shop, with_changes({
        2: {"body_template": "Новая коллекция кухонь уже в салоне."},
        5: {"body_template": "  новая коллекция  КУХОНЬ\nуже в салоне. "},
    }))
    finding = one(lint_chain(repeated), "identical-texts")
    assert finding.step == 5 and "2" in finding.message.replace("5", "")


def commercial_at(days_apart: list[float], **extra: Any) -> list[dict[str, Any]]:
    """Commercial steps on different first channels, `days_apart` between each two."""
    firsts = ["email", "sms", "telegram", "whatsapp", "viber", "vk"]
    return [
        {"delay": delay * DAYS, "is_commercial": True, "channels": [firsts[i], "email"]
         if firsts[i] != "email" else ["email", "sms"], **extra}
        for i, delay in enumerate([0, *days_apart])
    ]


def test_more_commercial_touches_a_week_than_the_caps_allow_is_warned_about(shop, good):
    assert fired(lint_chain(good), "over-weekly-cap") == []
    # Days 0, 2, 4, 6: four in a week, the default cap is 3.
    crowded = builders.chain(shop, commercial_at([2, 2, 2]), kind=ChainKind.LOYALTY)
    finding = one(lint_chain(crowded), "over-weekly-cap")
    assert finding.step == 4 and "4" in finding.message and "3" in finding.message
    # Days 0, 2, 4, 7: the first has left the 7 days before the fourth.
    spread = builders.chain(shop, commercial_at([2, 2, 3]), kind=ChainKind.LOYALTY)
    assert fired(lint_chain(spread), "over-weekly-cap") == []


def test_the_weekly_cap_is_the_business_setting(shop):
    crowded = builders.chain(shop, commercial_at([2, 2, 2]), kind=ChainKind.LOYALTY)
    assert fired(lint_chain(crowded), "over-weekly-cap") == [4]
    SendingRules.objects.update_or_create(business=shop, defaults={"cap_per_week": 4})
    assert fired(lint_chain(crowded), "over-weekly-cap") == []


def test_the_schedule_honours_delays_counted_from_the_enrollment(shop):
    # Steps on days 0, 2 and 4, then one 6 days after the enrollment: day 6, in the week.
    from_enrollment = commercial_at([2, 2, 6])
    from_enrollment[3]["delay_from"] = "enrollment"
    crowded = builders.chain(shop, from_enrollment, kind=ChainKind.LOYALTY)
    assert fired(lint_chain(crowded), "over-weekly-cap") == [4]
    # Six days after the previous touch is day 10: out of it.
    spread = builders.chain(shop, commercial_at([2, 2, 6]), kind=ChainKind.LOYALTY)
    assert fired(lint_chain(spread), "over-weekly-cap") == []


def test_informational_touches_do_not_count_towards_the_caps(shop):
    steps = commercial_at([2, 2, 2])
    steps[1]["is_commercial"] = False
    chain = builders.chain(shop, steps, kind=ChainKind.LOYALTY)
    assert fired(lint_chain(chain), "over-weekly-cap") == []


def test_more_commercial_touches_a_day_than_the_caps_allow_is_warned_about(shop, good):
    assert fired(lint_chain(good), "over-daily-cap") == []
    # Two offers twelve hours apart; the default is one a day.
    same_day = builders.chain(shop, commercial_at([0.5, 3]), kind=ChainKind.LOYALTY)
    assert fired(lint_chain(same_day), "over-daily-cap") == [2]
    next_day = builders.chain(shop, commercial_at([1, 3]), kind=ChainKind.LOYALTY)
    assert fired(lint_chain(next_day), "over-daily-cap") == []


def test_a_channels_own_daily_cap_is_checked_on_the_steps_first_channel(shop):
    SendingRules.objects.update_or_create(
        business=shop, defaults={"cap_per_day": 2, "cap_per_channel_per_day": 1}
    )
    two_channels = builders.chain(shop, commercial_at([0.5, 3]), kind=ChainKind.LOYALTY)
    assert fired(lint_chain(two_channels), "over-daily-cap") == []
    steps = commercial_at([0.5, 3])
    steps[1]["channels"] = ["email", "sms"]
    one_channel = builders.chain(shop, steps, kind=ChainKind.LOYALTY)
    finding = one(lint_chain(one_channel), "over-daily-cap")
    assert finding.step == 2 and "e-mail" in finding.message


def test_a_letter_step_without_postal_addresses_is_warned_about(shop, good):
    assert fired(lint_chain(good), "letter-without-postal-address") == []
    paper = builders.chain(shop, with_changes({3: {"channels": ["letter", "email"]}}))
    assert fired(lint_chain(paper), "letter-without-postal-address") == [3]

    anna = builders.contact(shop)
    returned = Address.objects.create(
        business=shop, contact=anna, kind=AddressKind.POSTAL, state=AddressState.BOUNCED,
        value="Москва, ул. Примерная, 1, кв. 2",
    )
    assert fired(lint_chain(paper), "letter-without-postal-address") == [3]
    Address.objects.filter(pk=returned.pk).update(state=AddressState.ACTIVE)
    assert fired(lint_chain(paper), "letter-without-postal-address") == []


def test_another_shops_postal_addresses_do_not_count(shop, other_shop):
    paper = builders.chain(shop, with_changes({3: {"channels": ["letter"]}}))
    builders_contact = builders.contact(other_shop)
    Address.objects.create(business=other_shop, contact=builders_contact,
                           kind=AddressKind.POSTAL, value="Тверь, ул. Сосновая, 3")
    assert fired(lint_chain(paper), "letter-without-postal-address") == [3]


def test_an_email_step_without_a_subject_is_warned_about(shop, good):
    assert fired(lint_chain(good), "email-without-subject") == []
    steps = with_changes({2: {"subject_template": ""}, 3: {"subject_template": ""}})
    # Step 2 may go by e-mail, step 3 is SMS only: a subject is not needed there.
    assert "email" in steps[1]["channels"] and "email" not in steps[2]["channels"]
    chain = builders.chain(shop, steps)
    assert fired(lint_chain(chain), "email-without-subject") == [2]


def lead_steps(last_day: int) -> list[dict[str, Any]]:
    steps = good_steps(4)
    steps[3].update(delay=last_day * DAYS, delay_from="enrollment")
    return steps


def test_a_lead_conversion_step_after_the_window_is_warned_about(shop, good):
    assert fired(lint_chain(good), "after-lead-window") == []
    inside = builders.chain(shop, lead_steps(30), kind=ChainKind.LEAD_CONVERSION)
    assert fired(lint_chain(inside), "after-lead-window") == []
    late = builders.chain(shop, lead_steps(35), kind=ChainKind.LEAD_CONVERSION)
    finding = one(lint_chain(late), "after-lead-window")
    assert finding.step == 4 and "35" in finding.message and "30" in finding.message
    MethodSettings.objects.update_or_create(business=shop, defaults={"lc_window_days": 40})
    assert fired(lint_chain(late), "after-lead-window") == []


def test_a_long_silence_in_a_warming_chain_is_warned_about(shop, good):
    assert fired(lint_chain(good), "long-silence") == []
    two_months = builders.chain(shop, with_changes({4: {"delay": 60 * DAYS}}))
    assert fired(lint_chain(two_months), "long-silence") == []
    longer = builders.chain(shop, with_changes({4: {"delay": 61 * DAYS}}))
    finding = one(lint_chain(longer), "long-silence")
    assert finding.step == 4 and "61" in finding.message
    # A nurture chain is slow on purpose.
    slow = builders.chain(shop, with_changes({4: {"delay": 61 * DAYS}}), kind=ChainKind.NURTURE)
    assert fired(lint_chain(slow), "long-silence") == []


# --- the linter as a whole -------------------------------------------------------


def test_errors_come_first_then_the_chain_then_step_by_step(shop):
    chain = builders.chain(shop, [{**s, "channels": ["email"]} for s in good_steps(6)])
    break_step(chain, 5, reason="")
    findings = lint_chain(chain)
    assert findings[0].code == "step-without-reason"
    steps = [f.step for f in findings[1:]]
    assert steps[:2] == [None, None]  # warming-too-short, single-channel
    assert steps[2:] == sorted(steps[2:])


def test_the_methods_own_chains_have_no_errors(shop):
    chains = ensure_method_chains(shop)
    assert chains
    for chain in chains.values():
        assert [f for f in lint_chain(chain) if f.level == ERROR] == [], chain.name


def test_lint_queries_do_not_grow_with_the_steps(shop):
    small = builders.chain(shop, with_changes({2: {"channels": ["letter", "sms"]}}, n=3))
    big = builders.chain(shop, with_changes({2: {"channels": ["letter", "sms"]}}, n=21))
    lint_chain(small)  # the business's settings rows are made on first use
    small, big = (Chain.objects.select_related("business").get(pk=c.pk) for c in (small, big))
    with CaptureQueriesContext(connection) as few:
        lint_chain(small)
    with CaptureQueriesContext(connection) as many:
        lint_chain(big)
    assert len(few.captured_queries) == len(many.captured_queries) <= 4


# --- the admin -------------------------------------------------------------------


def admin_client(user: User) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def chain_form(shop, chain: Chain | None, steps: list[dict[str, Any]]) -> dict[str, str]:
    data: dict[str, str] = {
        "business": str(shop.pk), "name": "Прогрев после визита", "kind": ChainKind.WARMING,
        "is_active": "on", "exit_on_purchase": "on", "enrol_on_stage": "",
        "created_at_0": "2026-03-02", "created_at_1": "10:00:00",
        "steps-TOTAL_FORMS": str(len(steps)), "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0", "steps-MAX_NUM_FORMS": "1000",
    }
    for i, step in enumerate(steps):
        fields = {
            "id": "", "chain": str(chain.pk) if chain else "", "position": str(i + 1),
            "delay": "2 00:00:00", "delay_from": "previous", "channels": '["email"]',
            "is_commercial": "on", "reason": f"Новость №{i + 1}",
            "subject_template": f"Новость №{i + 1}",
            "body_template": f"{{{{ contact.greeting }}}}! Новость №{i + 1}.",
            **step,
        }
        # None: not posted, as an unticked box is not.
        data.update({f"steps-{i}-{k}": v for k, v in fields.items() if v is not None})
    return data


def shown(response) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def test_saving_a_chain_in_the_admin_shows_its_warnings(shop, owner):
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    client = admin_client(owner)
    assert client.get("/admin/chains/chain/add/").status_code == 200  # nothing to lint yet
    response = client.post(
        "/admin/chains/chain/add/", chain_form(shop, None, [{}, {}, {}]), follow=True
    )
    assert response.status_code == 200
    chain = Chain.objects.get(business=shop)
    assert chain.steps.count() == 3
    messages = shown(response)
    warned = {code for level, text in messages if level == "warning"
              for code in ("warming-too-short", "single-channel", "only-commercial")
              if f"[{code}]" in text}
    assert warned == {"warming-too-short", "single-channel", "only-commercial"}
    assert not [text for level, text in messages if level == "error"]

    # The chain's page lists the same findings in its Linter field.
    page = client.get(f"/admin/chains/chain/{chain.pk}/change/").content.decode()
    for f in lint_chain(chain):
        assert f"[{f.code}]" in page
    assert 'class="lint-warning"' in page


def test_a_chain_that_keeps_to_the_method_saves_without_warnings(shop, owner):
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    steps: list[dict[str, Any]] = [
        {"channels": '["telegram"]' if i == 3 else '["email", "sms"]',
         "is_commercial": "on" if i % 2 else None, "delay": "3 00:00:00"}
        for i in range(7)
    ]
    response = admin_client(owner).post(
        "/admin/chains/chain/add/", chain_form(shop, None, steps), follow=True
    )
    assert response.status_code == 200
    assert Chain.objects.get(business=shop).steps.count() == 7
    assert [level for level, _text in shown(response)] == ["success"], shown(response)


def test_a_broken_step_the_editor_may_not_change_shows_as_an_error(shop):
    """A marketer who may only view steps renames a chain whose step an import broke."""
    chain = builders.chain(shop, good_steps())
    break_step(chain, 3, reason="")
    marketer = User.objects.create_user(
        "maria", password="pw-Kasatka-1", business=shop, role=Role.MARKETER, is_staff=True
    )
    marketer.user_permissions.add(
        *Permission.objects.filter(codename__in=["change_chain", "view_chain", "view_step"])
    )
    data = chain_form(shop, chain, [])
    data.update({"name": "Прогрев, весна", "steps-TOTAL_FORMS": "7", "steps-INITIAL_FORMS": "7"})
    for i, step in enumerate(chain.steps.order_by("position")):
        data.update({f"steps-{i}-id": str(step.pk), f"steps-{i}-chain": str(chain.pk)})
    response = admin_client(marketer).post(
        f"/admin/chains/chain/{chain.pk}/change/", data, follow=True
    )
    assert response.status_code == 200
    chain.refresh_from_db()
    assert chain.name == "Прогрев, весна"
    errors = [text for level, text in shown(response) if level == "error"]
    assert len(errors) == 1 and "[step-without-reason]" in errors[0]


# --- the command -----------------------------------------------------------------


def lint_command(*args: str) -> tuple[str, int]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("lint_chains", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def test_lint_chains_prints_each_chains_findings(shop, other_shop):
    builders.chain(shop, good_steps(), name="Прогрев")
    builders.chain(shop, good_steps(3), name="Короткий прогрев")
    builders.chain(other_shop, good_steps(), name="Сосновый прогрев")
    out, code = lint_command("--business", "kedr")
    assert code == 0
    assert "kedr / Прогрев" in out and "kedr / Короткий прогрев" in out
    assert "Сосновый" not in out
    short = out.split("kedr / Короткий прогрев")[1].split("kedr / ")[0]
    assert "[warming-too-short] " in short
    good_part = out.split("kedr / Прогрев")[1]
    assert "[" not in good_part.split("\n", 1)[1]


def test_lint_chains_exits_with_1_when_a_chain_has_an_error(shop, other_shop):
    builders.chain(shop, good_steps(), name="Прогрев")
    broken = builders.chain(other_shop, good_steps(), name="Сосновый прогрев")
    assert lint_command()[1] == 0
    break_step(broken, 2, reason="")
    out, code = lint_command()
    assert code == 1
    assert "[step-without-reason]" in out
    assert lint_command("--business", "kedr")[1] == 0


def test_lint_chains_refuses_an_unknown_business(shop):
    with pytest.raises(CommandError):
        call_command("lint_chains", "--business", "nope")
