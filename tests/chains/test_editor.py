"""The chain editor: the list, saving steps all or nothing, the live linter and preview, the
picture over days, enabling and pausing, and who may do it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from kasatka.chains.actions import enroll
from kasatka.chains.models import Chain, ChainKind, Enrollment, Step
from kasatka.chains.views import _counts_by_step, timeline
from tests import builders

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def form_data(
    steps: list[dict[str, Any]], name: str = "Прогрев", kind: str = ChainKind.WARMING,
    initial: int = 0, **extra: Any,
) -> dict[str, Any]:
    """What the editor's form posts: the chain's fields and the step formset."""
    data: dict[str, Any] = {
        "name": name, "kind": kind, "enrol_on_stage": "", "exit_on_purchase": "on",
        "steps-TOTAL_FORMS": len(steps), "steps-INITIAL_FORMS": initial,
        "steps-MIN_NUM_FORMS": 0, "steps-MAX_NUM_FORMS": 1000,
    }
    for i, step in enumerate(steps):
        p = f"steps-{i}-"
        data[p + "id"] = step.get("id", "")
        data[p + "ORDER"] = step.get("order", i + 1)
        data[p + "delay_days"] = step.get("days", 0)
        data[p + "delay_hours"] = step.get("hours", 0)
        data[p + "delay_from"] = step.get("delay_from", "previous")
        for slot, channel in enumerate(step.get("channels", ["email"])):
            data[p + f"channels_{slot}"] = channel
        if step.get("commercial", True):
            data[p + "is_commercial"] = "on"
        if step.get("delete"):
            data[p + "DELETE"] = "on"
        data[p + "reason"] = step.get("reason", f"Новость {i + 1}")
        data[p + "subject_template"] = step.get("subject", "{{ contact.name }}, новость")
        data[p + "body_template"] = step.get("body", f"Текст {i + 1} для {{{{ contact.name }}}}")
    data.update(extra)
    return data


def saved(chain: Chain) -> list[dict[str, Any]]:
    return [
        {"id": s.pk, "days": s.delay.days, "hours": s.delay.seconds // 3600,
         "delay_from": s.delay_from, "channels": s.channels, "commercial": s.is_commercial,
         "reason": s.reason, "subject": s.subject_template, "body": s.body_template}
        for s in chain.steps.order_by("position")
    ]


def step_box(page: str, prefix: str, kind: str = "lint") -> str:
    """One step's findings ("lint") or preview ("preview") box, up to the next box."""
    start = page.index(f'id="{kind}-{prefix}"')
    end = page.find('class="step-', start)
    return page[start:end if end > 0 else len(page)]


@pytest.fixture
def anna(shop, alice):
    # The oldest contact: the preview must be asked for her by id.
    return builders.contact(shop, email="anna@example.com", owner=alice)


@pytest.fixture
def newest(shop):
    return builders.contact(shop, email="petr@example.com", first_name="Пётр",
                            patronymic="Ильич", last_name="Соколов")


# --- the list ---------------------------------------------------------------------------


def test_the_list_shows_each_chain_with_its_state_steps_contacts_and_findings(
    client, marketer, shop, anna, newest
):
    warming = builders.chain(shop, steps=[{}, {}], name="Прогрев")
    loyalty = builders.chain(shop, steps=[{"channels": ["sms"]}], kind=ChainKind.LOYALTY,
                             name="Лояльность")
    Chain.objects.filter(pk=loyalty.pk).update(is_active=False)
    enroll(anna, warming)
    enroll(newest, warming)
    client.force_login(marketer)
    page = client.get("/chains/").content.decode()
    row = page[page.index(f'data-chain="{warming.pk}"'):]
    row = row[:row.index("</tr>")]
    assert "Прогрев" in row and 'data-state="active"' in row
    assert 'data-steps="2"' in row and 'data-contacts-now="2"' in row
    # Two touches of a warming chain, commercial, by e-mail, the same text: no error, but
    # too short, one channel, only offers and a repeated text.
    assert 'data-errors="0"' in row and 'data-warnings="4"' in row
    other = page[page.index(f'data-chain="{loyalty.pk}"'):]
    assert 'data-state="paused"' in other[:other.index("</tr>")]
    assert f'href="/chains/{warming.pk}/"' in page and 'href="/chains/new/"' in page


def test_the_list_takes_the_same_queries_for_two_chains_and_for_six(
    client, marketer, shop, anna, django_assert_num_queries
):
    def add_chains(n: int) -> None:
        for i in range(n):
            c = builders.chain(shop, steps=[{}, {"channels": ["letter"]}], name=f"Цепочка {i}")
            enroll(anna, c)

    client.force_login(marketer)
    add_chains(2)
    client.get("/chains/")  # the business's settings rows are created on first use
    # session, user, business, chains, their steps, contacts per chain, method settings,
    # sending rules, postal addresses.
    with django_assert_num_queries(9):
        assert client.get("/chains/").status_code == 200
    add_chains(4)
    with django_assert_num_queries(9):
        page = client.get("/chains/").content.decode()
    assert page.count("data-chain=") == 6


# --- saving -----------------------------------------------------------------------------


def test_a_marketer_creates_a_chain_with_steps(client, marketer, shop):
    client.force_login(marketer)
    response = client.post("/chains/new/", form_data([
        {"reason": "Спасибо за визит", "commercial": False, "channels": ["email", "sms"]},
        {"days": 2, "hours": 6, "reason": "Новая коллекция", "channels": ["telegram"]},
    ]))
    chain = Chain.objects.get(business=shop)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/chains/{chain.pk}/")
    assert chain.name == "Прогрев" and chain.kind == ChainKind.WARMING
    assert chain.exit_on_purchase and not chain.exit_on_reply
    assert not chain.is_active  # a new chain starts paused
    steps = saved(chain)
    fields = ("days", "hours", "channels", "commercial", "reason")
    assert [tuple(s[f] for f in fields) for s in steps] == [
        (0, 0, ["email", "sms"], False, "Спасибо за визит"),
        (2, 6, ["telegram"], True, "Новая коллекция"),
    ]
    assert list(chain.steps.values_list("position", flat=True)) == [1, 2]


def test_editing_changes_reorders_and_removes_steps(client, marketer, shop):
    chain = builders.chain(shop, steps=[{}, {}, {}])
    first, second, third = saved(chain)
    client.force_login(marketer)
    response = client.post(f"/chains/{chain.pk}/", form_data([
        {**first, "order": 2, "body": "Изменённый текст"},
        {**second, "delete": True},
        {**third, "order": 1, "channels": ["sms", "email"]},
        {"order": 3, "days": 5, "reason": "Последний шанс"},
    ], name="Прогрев 2", initial=3))
    assert response.status_code == 302
    chain.refresh_from_db()
    assert chain.name == "Прогрев 2"
    steps = saved(chain)
    assert [s["id"] for s in steps[:2]] == [third["id"], first["id"]]
    assert steps[0]["channels"] == ["sms", "email"]
    assert steps[1]["body"] == "Изменённый текст"
    assert steps[2]["reason"] == "Последний шанс" and steps[2]["days"] == 5
    assert not Step.objects.filter(pk=second["id"]).exists()
    assert list(chain.steps.order_by("position").values_list("position", flat=True)) == [1, 2, 3]


def test_a_broken_template_is_refused_with_its_message_and_nothing_is_saved(
    client, marketer, shop
):
    chain = builders.chain(shop, steps=[{}, {}])
    before = saved(chain)
    client.force_login(marketer)
    response = client.post(f"/chains/{chain.pk}/", form_data([
        {**before[0], "body": "Новое"},
        {**before[1], "body": "{{ contact.nmae }}"},
    ], name="Другое имя", initial=2))
    assert response.status_code == 400
    page = response.content.decode()
    card = page[page.index('data-prefix="steps-1"'):]
    assert "unknown field &#x27;contact.nmae&#x27;" in card[:card.index("</li>")]
    chain.refresh_from_db()
    assert chain.name == "Прогрев" and saved(chain) == before
    # What was typed is still on the page.
    assert "Новое</textarea>" in page and 'value="Другое имя"' in page


def test_a_step_without_a_reason_is_not_saved(client, marketer, shop):
    chain = builders.chain(shop, steps=[{}])
    before = saved(chain)
    client.force_login(marketer)
    response = client.post(f"/chains/{chain.pk}/", form_data(
        [{**before[0], "reason": "  "}], initial=1
    ))
    assert response.status_code == 400
    page = response.content.decode()
    reason = re.search(r'<input[^>]*name="steps-0-reason"[^>]*>', page)
    assert reason and 'aria-invalid="true"' in reason.group()
    errors = page[page.index('id="id_steps-0-reason_error"'):]
    errors = errors[:errors.index("</ul>")]
    assert errors.count("<li>") == 1  # the model's own message, not "cannot be blank" too
    assert "У каждого касания должен быть повод." in errors
    assert saved(chain) == before


def test_a_step_with_history_is_kept(client, marketer, shop, anna):
    chain = builders.chain(shop, steps=[{}, {}])
    enroll(anna, chain)  # Anna waits at the first step
    first, second = saved(chain)
    client.force_login(marketer)
    response = client.post(f"/chains/{chain.pk}/", form_data(
        [{**first, "delete": True}, {**second, "body": "Новое"}], initial=2
    ))
    assert response.status_code == 400
    assert [s["id"] for s in saved(chain)] == [first["id"], second["id"]]
    assert saved(chain)[1]["body"] == second["body"]


def test_a_step_of_another_chain_cannot_be_edited_through_this_one(
    client, marketer, shop, other_shop
):
    mine = builders.chain(shop, steps=[{}])
    theirs = builders.chain(other_shop, steps=[{}])
    their_step = saved(theirs)[0]
    client.force_login(marketer)
    response = client.post(f"/chains/{mine.pk}/", form_data(
        [{**their_step, "body": "Взлом"}], initial=1
    ))
    assert response.status_code == 400
    assert saved(theirs)[0]["body"] == their_step["body"]


# --- the live linter --------------------------------------------------------------------


def test_the_lint_endpoint_finds_a_step_without_a_reason(client, marketer, shop):
    client.force_login(marketer)
    response = client.post("/chains/lint/", form_data([
        {"reason": "Новость"}, {"reason": "", "days": 2},
    ]))
    assert response.status_code == 200
    page = response.content.decode()
    second = step_box(page, "steps-1")
    assert 'hx-swap-oob="true"' in second
    assert 'data-code="step-without-reason"' in second and 'data-level="error"' in second
    assert 'data-code="step-without-reason"' not in step_box(page, "steps-0")
    assert 'data-errors="1"' in page
    assert 'id="chain-timeline"' in page  # the picture follows the delays as typed


def test_the_linter_reads_the_steps_in_their_new_order(client, marketer, shop):
    client.force_login(marketer)
    page = client.post("/chains/lint/", form_data([
        {"reason": "", "order": 2}, {"reason": "Новость", "order": 1},
    ])).content.decode()
    # The form sent first is step 2 now: its finding says so, in its own box.
    box = step_box(page, "steps-0")
    assert 'data-code="step-without-reason"' in box and 'data-step-position="2"' in box


# --- the preview --------------------------------------------------------------------------


def test_the_preview_declines_the_chosen_contacts_name(client, marketer, shop, anna, newest):
    client.force_login(marketer)
    response = client.post("/chains/preview/", form_data([{
        "subject": "{{ contact.name }}, для вас",
        "body": "Подарок {{ contact.name_in('dative') }} от {{ business.name }}",
    }], contact=anna.pk))
    assert response.status_code == 200
    box = step_box(response.content.decode(), "steps-0", "preview")
    assert "Подарок Анне Сергеевне от Мебель «Кедр»" in box
    assert "Анна Сергеевна, для вас" in box
    assert "data-channel" in box  # the channel the engine would take for her


def test_the_preview_is_for_the_newest_contact_unless_one_is_chosen(
    client, marketer, shop, anna, newest
):
    chain = builders.chain(
        shop, steps=[{"body_template": "{{ contact.full_name_in('genitive') }}"}]
    )
    client.force_login(marketer)
    page = client.get(f"/chains/{chain.pk}/").content.decode()
    assert "Соколова Петра Ильича" in step_box(page, "steps-0", "preview")
    page = client.get(f"/chains/{chain.pk}/?contact={anna.pk}").content.decode()
    assert "Ивановой Анны Сергеевны" in step_box(page, "steps-0", "preview")


def test_a_contact_of_another_business_is_not_found(client, marketer, shop, other_shop):
    stranger = builders.contact(other_shop, email="x@example.com")
    chain = builders.chain(shop)
    client.force_login(marketer)
    assert client.post("/chains/preview/", form_data([{}], contact=stranger.pk)).status_code == 404
    assert client.get(f"/chains/{chain.pk}/?contact={stranger.pk}").status_code == 404


def test_a_template_error_in_the_preview_is_shown_not_raised(client, marketer, shop, anna):
    client.force_login(marketer)
    response = client.post("/chains/preview/", form_data([{"body": "{{ contact.name_in() }}"}]))
    assert response.status_code == 200
    box = step_box(response.content.decode(), "steps-0", "preview")
    assert "data-template-error" in box and "name_in" in box


def test_the_preview_counts_sms_segments(client, marketer, shop, anna):
    client.force_login(marketer)
    page = client.post("/chains/preview/", form_data([
        {"channels": ["sms"], "body": "Привет, {{ contact.name }}! " + "Новости. " * 10},
    ])).content.decode()
    box = step_box(page, "steps-0", "preview")
    assert 'data-sms-segments="2"' in box and "UCS-2" in box


def test_a_contact_named_like_a_script_is_shown_as_text(client, marketer, shop):
    evil = builders.contact(shop, email="evil@example.com", first_name="<script>alert(1)</script>",
                            patronymic="", last_name="")
    chain = builders.chain(shop, steps=[{"body_template": "Привет, {{ contact.first_name }}"}])
    client.force_login(marketer)
    for page in (
        client.get(f"/chains/{chain.pk}/").content.decode(),
        client.post("/chains/preview/", form_data([{"body": "Привет, {{ contact.first_name }}"}],
                                                   contact=evil.pk)).content.decode(),
        client.get("/chains/contacts/?q=<script").content.decode(),
    ):
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_contact_search_finds_by_name(client, marketer, shop, anna, newest):
    client.force_login(marketer)
    page = client.get("/chains/contacts/?q=иван").content.decode()
    assert f'value="{anna.pk}"' in page and f'value="{newest.pk}"' not in page


# --- the picture over days and the contacts at each step ----------------------------------


def test_the_timeline_places_each_step_by_its_cumulative_delay(shop):
    chain = builders.chain(shop, steps=[
        {"delay": timedelta(0)}, {"delay": 2 * DAY}, {"delay": 3 * DAY, "is_commercial": False},
        {"delay": 3 * DAY, "delay_from": "enrollment", "channels": ["sms", "email"]},
    ])
    steps = list(chain.steps.order_by("position"))
    picture = timeline(chain.kind, steps, shop, {steps[1].pk: 4})
    assert picture.days == 7  # at least a week is drawn
    by_position = {m.position: m for m in picture.markers}
    assert [round(by_position[n].left * 7 / 100, 2) for n in (1, 2, 3, 4)] == [0, 2, 5, 5]
    assert by_position[2].contacts == 4 and by_position[1].contacts == 0
    assert not by_position[3].commercial and by_position[4].more == 1
    assert by_position[3].lane != by_position[4].lane  # same day: one under the other


def test_the_editor_shows_how_many_contacts_are_at_each_step(
    client, marketer, shop, anna, newest, django_assert_num_queries
):
    chain = builders.chain(shop, steps=[{}, {}])
    enroll(anna, chain)
    enroll(newest, chain)
    first, second = chain.steps.order_by("position")
    Enrollment.objects.filter(contact=newest).update(step=second)
    with django_assert_num_queries(1):
        assert _counts_by_step(shop, chain.pk) == {first.pk: 1, second.pk: 1}
    client.force_login(marketer)
    page = client.get(f"/chains/{chain.pk}/").content.decode()
    assert 'data-prefix="steps-0" data-contacts-now="1"' in page
    assert 'data-prefix="steps-1" data-contacts-now="1"' in page
    assert page.count('data-contacts-now="1"') >= 4  # on the cards and in the picture


# --- enable and pause ---------------------------------------------------------------------


def test_enabling_a_chain_with_linter_errors_is_refused(client, marketer, shop):
    chain = builders.chain(shop, steps=[{}, {}])
    Chain.objects.filter(pk=chain.pk).update(is_active=False)
    # Written past the model's checks (an import, an old script): the linter still sees it.
    Step.objects.filter(chain=chain, position=2).update(reason="")
    client.force_login(marketer)
    response = client.post(f"/chains/{chain.pk}/active/", {"active": "1"})
    assert response.status_code == 302
    chain.refresh_from_db()
    assert not chain.is_active
    page = client.get(response["Location"]).content.decode()
    assert 'class="msg error"' in page


def test_a_clean_chain_is_enabled_and_paused(client, marketer, shop):
    chain = builders.chain(shop, steps=[{}])
    client.force_login(marketer)
    client.post(f"/chains/{chain.pk}/active/", {"active": "0", "next": "/chains/"})
    chain.refresh_from_db()
    assert not chain.is_active
    response = client.post(f"/chains/{chain.pk}/active/", {"active": "1", "next": "/chains/"})
    assert response["Location"] == "/chains/"
    chain.refresh_from_db()
    assert chain.is_active


# --- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner", "head", "marketer"])
def test_the_owner_head_and_marketer_open_the_editor(client, request, shop, persona):
    chain = builders.chain(shop)
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/chains/").status_code == 200
    assert client.get(f"/chains/{chain.pk}/").status_code == 200
    assert client.get("/chains/new/").status_code == 200


def test_a_seller_is_refused_everywhere(client, alice, shop):
    chain = builders.chain(shop)
    client.force_login(alice)
    for url in ("/chains/", "/chains/new/", f"/chains/{chain.pk}/", "/chains/contacts/"):
        assert client.get(url).status_code == 403, url
    for url in (f"/chains/{chain.pk}/", f"/chains/{chain.pk}/active/", "/chains/lint/",
                "/chains/preview/", "/chains/new/"):
        assert client.post(url, form_data([{}])).status_code == 403, url
    assert Chain.objects.get(pk=chain.pk).steps.count() == 1


def test_another_business_chain_is_not_found(client, marketer, other_shop):
    theirs = builders.chain(other_shop)
    client.force_login(marketer)
    assert client.get(f"/chains/{theirs.pk}/").status_code == 404
    assert client.post(f"/chains/{theirs.pk}/", form_data([{}])).status_code == 404
    assert client.post(f"/chains/{theirs.pk}/active/", {"active": "0"}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.is_active


def test_the_editor_needs_a_login(client, shop):
    response = client.get("/chains/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_no_inline_script_in_the_editor(client, marketer, shop, anna):
    chain = builders.chain(shop)
    client.force_login(marketer)
    page = client.get(f"/chains/{chain.pk}/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\son[a-z]+=|hx-on", page)


def test_the_editor_takes_the_same_queries_for_two_steps_and_for_seven(
    client, marketer, shop, anna, django_assert_num_queries
):
    short = builders.chain(shop, steps=[{}, {"channels": ["sms"]}])
    long = builders.chain(shop, steps=[{}, {"channels": ["sms"]}, *[{}] * 5])
    enroll(anna, long)
    client.force_login(marketer)
    client.get(f"/chains/{short.pk}/")  # the business's settings rows are created on first use
    with django_assert_num_queries(14) as short_queries:
        client.get(f"/chains/{short.pk}/")
    with django_assert_num_queries(len(short_queries.captured_queries)):
        page = client.get(f"/chains/{long.pk}/").content.decode()
    assert len(re.findall(r'data-prefix="steps-\d+"', page)) == 7
