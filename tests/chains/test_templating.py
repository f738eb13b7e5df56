"""Message templates: greetings and declension, validation, and the sandbox's refusals."""

# Greetings are Russian words, so Cyrillic letters in strings are meant.

import re
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from kasatka.chains import templating
from kasatka.chains.templating import (
    KNOWN_FIELDS,
    ContactView,
    TemplateError,
    build_context,
    env,
    render,
    validate_template,
)


def person(**fields: object) -> SimpleNamespace:
    """A contact-like object, as a model instance would look to the views."""
    base: dict[str, object] = {
        "first_name": "",
        "last_name": "",
        "patronymic": "",
        "gender": "",
        "company": "",
        "birthday": None,
        "stage": "lead",
        "language": "",
    }
    base.update(fields)
    return SimpleNamespace(**base)


ANNA = person(first_name="Анна", last_name="Иванова", patronymic="Сергеевна")
IVAN = person(first_name="Иван", last_name="Сидоров", patronymic="Петрович")


def rendered(source: str, contact: object = ANNA, **kwargs: object) -> str:
    return render(source, build_context(contact, **kwargs))


# --- what a template can say -----------------------------------------------


def test_greeting_for_a_woman_with_gender_inferred_from_patronymic() -> None:
    assert rendered("{{ contact.greeting }}") == "Уважаемая Анна Сергеевна"


def test_greeting_for_a_man_with_gender_inferred_from_patronymic() -> None:
    assert rendered("{{ contact.greeting }}", IVAN) == "Уважаемый Иван Петрович"


def test_greeting_without_patronymic_uses_first_name() -> None:
    assert rendered("{{ contact.greeting }}", person(first_name="Анна")) == "Уважаемая Анна"


def test_greeting_for_unknown_gender_covers_both() -> None:
    assert rendered("{{ contact.greeting }}", person(first_name="Саша")) == "Уважаемый(ая) Саша"


def test_greeting_without_a_name_says_hello() -> None:
    assert rendered("{{ contact.greeting }}", person()) == "Здравствуйте"
    assert rendered("{{ contact.greeting }}", person(language="en")) == "Hello"


def test_english_contact_is_greeted_dear() -> None:
    anna = person(first_name="Anna", last_name="Ivanova", language="en")
    assert rendered("{{ contact.greeting }}", anna) == "Dear Anna"
    assert rendered("{{ contact.dear }}", anna) == "Dear"


def test_contact_without_language_takes_the_business_language() -> None:
    anna = person(first_name="Anna")
    assert rendered("{{ contact.greeting }}", anna, business={"language": "en"}) == "Dear Anna"


def test_dear_agrees_with_gender() -> None:
    assert rendered("{{ contact.dear }}") == "Уважаемая"
    assert rendered("{{ contact.dear }}", IVAN) == "Уважаемый"
    assert rendered("{{ contact.dear }}", person(first_name="Женя")) == "Уважаемый(ая)"


def test_name_in_declines_first_name_and_patronymic() -> None:
    assert rendered("{{ contact.name_in('dative') }}") == "Анне Сергеевне"
    assert rendered("{{ contact.name_in('дательный') }}", IVAN) == "Ивану Петровичу"


def test_full_and_single_names_decline() -> None:
    assert rendered("{{ contact.full_name_in('genitive') }}") == "Ивановой Анны Сергеевны"
    assert rendered("{{ contact.first_name_in('instrumental') }}", IVAN) == "Иваном"
    assert rendered("{{ contact.last_name_in('dative') }}", IVAN) == "Сидорову"


def test_plain_name_fields() -> None:
    source = "{{ contact.name }}|{{ contact.full_name }}|{{ contact.gender }}|{{ contact }}"
    assert rendered(source) == (
        "Анна Сергеевна|Иванова Анна Сергеевна|female|Иванова Анна Сергеевна"
    )


def test_gendered_picks_the_word_for_the_gender() -> None:
    source = "{{ contact.gendered('дорогой', 'дорогая') }}"
    assert rendered(source) == "дорогая"
    assert rendered(source, IVAN) == "дорогой"
    assert rendered(source, person(first_name="Саша")) == "дорогой/дорогая"
    assert rendered("{{ contact.gendered('a', 'b', 'c') }}", person()) == "c"


def test_stored_gender_wins_over_inference() -> None:
    sasha = person(first_name="Саша", gender="female")
    assert rendered("{{ contact.gendered('дорогой', 'дорогая') }}", sasha) == "дорогая"


def test_birthday_date_filter() -> None:
    source = "{{ contact.birthday|date('%d.%m') }}"
    assert rendered(source, person(birthday=date(1990, 5, 17))) == "17.05"
    assert rendered(source, person(birthday=None)) == ""
    assert rendered("{{ contact.birthday|date }}", person(birthday=date(1990, 5, 17))) == (
        "17.05.1990"
    )


def test_missing_attributes_of_the_wrapped_object_are_empty() -> None:
    bare = SimpleNamespace(first_name="Анна")
    source = "{{ contact.company }}|{{ contact.birthday }}|{{ contact.stage }}|{{ deal.amount }}"
    assert rendered(source, bare) == "|||"


def test_business_seller_deal_and_urls() -> None:
    source = (
        "{{ business.name }}, {{ business.address }}; {{ seller.full_name }} {{ seller.phone }};"
        " {{ deal.title }} {{ deal.amount }}; {{ unsubscribe_url }}"
    )
    business = SimpleNamespace(name="Касатка", postal_address="Москва", phone="", email="")
    seller = SimpleNamespace(first_name="Иван", last_name="Петров", phone="+7 900", email="")
    deal = SimpleNamespace(title="Поставка", amount=Decimal("100.50"))
    out = rendered(
        source, business=business, seller=seller, deal=deal, unsubscribe_url="https://u.example"
    )
    assert out == "Касатка, Москва; Иван Петров +7 900; Поставка 100.50; https://u.example"


def test_today_comes_from_the_context_when_given() -> None:
    assert rendered("{{ today|date('%Y-%m-%d') }}", today=date(2025, 1, 2)) == "2025-01-02"
    assert rendered("{{ today.year }}") == str(date.today().year)


def test_loop_and_set_variables_are_allowed() -> None:
    source = "{% for x in [1, 2] %}{{ x }}{% endfor %}"
    validate_template(source)
    assert rendered(source) == "12"
    source = (
        "{% set who = contact.name %}{% for x in range(2) %}{{ loop.index }}{{ who }};{% endfor %}"
    )
    validate_template(source)
    assert rendered(source) == "1Анна Сергеевна;2Анна Сергеевна;"


def test_trailing_newline_is_kept_and_html_is_not_escaped() -> None:
    assert rendered("<b>{{ contact.first_name }}</b>\n") == "<b>Анна</b>\n"


def test_builtin_filters_work() -> None:
    assert rendered("{{ contact.first_name|upper }} {{ contact.company|default('—', true) }}") == (
        "АННА —"
    )


# --- validation ---------------------------------------------------------------


def test_a_realistic_template_is_valid() -> None:
    validate_template(
        "{{ contact.greeting }}!\n\n"
        "{% if contact.birthday %}С днём рождения, {{ contact.birthday|date('%d.%m') }}!"
        "{% endif %}\n"
        "Дарим {{ contact.name_in('dative') }} скидку — {{ contact.gendered('рад', 'рада') }}.\n"
        "{{ seller.full_name }}, {{ business.name }} {{ business.phone }}\n"
        "Отписаться: {{ unsubscribe_url }} · Настройки: {{ preferences_url }}\n"
    )


def test_it_refuses_a_syntax_error_with_its_line() -> None:
    with pytest.raises(TemplateError) as caught:
        validate_template("Здравствуйте!\n{% if %}\n")
    assert caught.value.lineno == 2
    assert str(caught.value).startswith("line 2: ")


def test_it_refuses_unknown_variable() -> None:
    with pytest.raises(TemplateError, match="unknown variable 'client'"):
        validate_template("{{ client.name }}")


def test_it_refuses_unknown_attribute() -> None:
    with pytest.raises(TemplateError) as caught:
        validate_template("Привет,\n{{ contact.fist_name }}")
    assert str(caught.value).startswith("line 2: unknown field 'contact.fist_name'")
    assert "contact.first_name" in caught.value.message


def test_it_refuses_unknown_attribute_in_untaken_branch() -> None:
    expected = re.escape("unknown field 'contact.fist_name'")
    with pytest.raises(TemplateError, match=expected) as caught:
        validate_template("Привет\n{% if false %}\n{{ contact.fist_name }}{% endif %}")
    assert caught.value.lineno == 3


@pytest.mark.parametrize(
    "source",
    [
        "{% for x in contact.deals %}{% endfor %}",
        "{{ contact.fist_name|upper }}",
        "{{ contact.gendered(contact.secret, 'a') }}",
        "{% if false %}{% if contact.is_vip %}x{% endif %}{% endif %}",
        "{{ contact['fist_name'] }}",
        "{{ contact|attr('delete') }}",
        "{% if false %}{{ business.owner }}{% endif %}",
        "{% if false %}{{ seller.password }}{% endif %}",
        "{% macro m() %}{{ deal.contact }}{% endmacro %}",
    ],
)
def test_it_refuses_unknown_attributes_anywhere(source: str) -> None:
    with pytest.raises(TemplateError, match="unknown field"):
        validate_template(source)


@pytest.mark.parametrize(
    "expression",
    [
        "contact.__class__",
        "contact._meta",
        "contact.delete()",
        "''.__class__",
        "contact.first_name.__class__",
        "business.__init__",
        "seller.objects",
        "contact|attr('_source')",
        "[contact]|map(attribute='_source')|list",
        "'{:>99}'.format(1)",
    ],
)
def test_it_refuses_reaching_into_objects(expression: str) -> None:
    source = "{{ " + expression + " }}"
    with pytest.raises(TemplateError):
        validate_template(source)
    with pytest.raises(TemplateError):
        rendered(source)


def test_model_methods_are_never_called_from_a_template() -> None:
    calls = []
    contact = person(first_name="Анна", delete=lambda: calls.append("deleted"))
    with pytest.raises(TemplateError, match=re.escape("unknown field 'contact.delete'")):
        rendered("{{ contact.delete() }}", contact)
    with pytest.raises(TemplateError):
        rendered("{% for c in [contact] %}{{ c.delete() }}{% endfor %}", contact)
    assert calls == []


def test_it_refuses_unknown_case_in_untaken_branch() -> None:
    with pytest.raises(TemplateError, match="unknown case 'dativ'"):
        validate_template("{% if false %}{{ contact.name_in('dativ') }}{% endif %}")


def test_it_refuses_methods_that_are_not_called() -> None:
    with pytest.raises(TemplateError, match="must be called"):
        validate_template("{{ contact.name_in }}")


def test_it_refuses_wrong_argument_counts() -> None:
    with pytest.raises(TemplateError, match="takes 2 or 3"):
        validate_template("{% if false %}{{ contact.gendered('a') }}{% endif %}")


def test_it_refuses_unknown_filter_in_untaken_branch() -> None:
    with pytest.raises(TemplateError, match="unknown filter 'uper'"):
        validate_template("{% if false %}{{ contact.first_name|uper }}{% endif %}")


@pytest.mark.parametrize(
    "source",
    [
        "{% set contact = 1 %}",
        "{% for seller in [1] %}{% endfor %}",
        "{% macro m(today) %}{% endmacro %}",
    ],
)
def test_it_refuses_reassigning_known_names(source: str) -> None:
    with pytest.raises(TemplateError, match="reserved name"):
        validate_template(source)


@pytest.mark.parametrize(
    "source", ["{% include 'other' %}", "{% extends 'base' %}", "{% import 'm' as m %}"]
)
def test_it_refuses_other_templates(source: str) -> None:
    with pytest.raises(TemplateError, match="not supported"):
        validate_template(source)


def test_it_refuses_what_fails_for_the_sample_contact() -> None:
    with pytest.raises(TemplateError, match="division by zero") as caught:
        validate_template("Итого:\n{{ 1/0 }}")
    assert caught.value.lineno == 2


def test_it_refuses_what_fails_for_a_contact_with_empty_fields() -> None:
    with pytest.raises(TemplateError, match="empty fields"):
        validate_template("{{ contact.birthday.year }}")
    validate_template("{% if contact.birthday %}{{ contact.birthday.year }}{% endif %}")


# --- rendering failures and limits ------------------------------------------


def test_render_turns_failures_into_template_error() -> None:
    with pytest.raises(TemplateError, match="division by zero") as caught:
        rendered("a\nb\n{{ 1/0 }}")
    assert caught.value.lineno == 3
    assert isinstance(caught.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize(
    "source",
    [
        "{{ contact.fist_name }}",
        "{{ nothing }}",
        "{{ 'a' + 1 }}",
        "{{ contact.name_in('dativ') }}",
        "{{ contact.first_name|date }}",
        "{% for x in contact %}{% endfor %}",
        "{{ {}['missing'] }}",
        "{% if %}",
    ],
)
def test_render_raises_only_template_error(source: str) -> None:
    with pytest.raises(TemplateError):
        rendered(source)


def test_a_huge_range_is_refused() -> None:
    assert rendered("{{ range(1000)|list|length }}") == "1000"
    with pytest.raises(TemplateError, match="range"):
        rendered("{{ range(10**9)|list }}")
    with pytest.raises(TemplateError, match="range"):
        validate_template("{{ range(10**9)|list }}")


@pytest.mark.parametrize(
    "expression",
    [
        "'a' * 10**9",
        "'x'|center(10**9)",
        "'%999999999s'|format(1)",
        "'x'|indent(10**9)",
        "[1]|batch(10**9, 'x')|list",
        "'ab'|replace('', 'x' * 99999)",
        "range(1000)|join('x' * 1000)",
        "2 ** 100000",
    ],
)
def test_string_and_number_bombs_are_refused(expression: str) -> None:
    with pytest.raises(TemplateError):
        rendered("{{ " + expression + " }}")


def test_doubling_concatenation_is_bounded() -> None:
    source = "{% macro grow(s) %}{{ grow(s ~ s) }}{% endmacro %}{{ grow('x') }}"
    with pytest.raises(TemplateError, match="longer than"):
        rendered(source)


def test_nested_loops_are_bounded() -> None:
    source = "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateError, match="loops may repeat"):
        rendered(source)


def test_none_prints_as_nothing() -> None:
    assert rendered("[{{ deal.amount }}]") == "[]"


# --- the pieces ---------------------------------------------------------------


def test_template_error_reads_clearly() -> None:
    assert str(TemplateError("unknown field 'contact.x'", 2)) == "line 2: unknown field 'contact.x'"
    assert str(TemplateError("bad")) == "bad"
    assert isinstance(TemplateError("bad"), ValueError)


def test_environment_is_a_strict_sandbox() -> None:
    assert isinstance(env, SandboxedEnvironment)
    assert env.undefined is StrictUndefined
    assert env.autoescape is False
    assert env.keep_trailing_newline is True


def test_templates_compile_once_per_source() -> None:
    source = "{{ contact.first_name }} #compile-once"
    rendered(source)
    before = templating._compiled.cache_info().hits
    rendered(source, IVAN)
    assert templating._compiled.cache_info().hits == before + 1


def test_contact_view_exposes_exactly_the_known_fields() -> None:
    view = ContactView(ANNA)
    public = {name for name in dir(view) if not name.startswith("_")}
    assert public - {"ROOT", "FIELDS"} == KNOWN_FIELDS["contact"]


def test_build_context_wraps_dicts_and_keeps_views() -> None:
    view = ContactView({"first_name": "Анна", "gender": "female"})
    context = build_context(
        view, {"name": "Касатка"}, None, unsubscribe_url="u", preferences_url="p"
    )
    assert context["contact"] is view
    assert set(KNOWN_FIELDS) <= set(context)
    assert render("{{ business.name }} {{ seller.full_name }}|", context) == "Касатка |"


_WORDS = (
    "{{ }} {% %} contact . first_name name_in ( ) 'dative' | upper date if endif for x in"
    " range 1 / 0 * __class__ Привет set = [ ] ~ ' loop endfor"
)
_PIECES = [*_WORDS.split(), " ", "\n"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=25).map("".join))
def test_arbitrary_sources_fail_only_with_template_error(source: str) -> None:
    try:
        validate_template(source)
    except TemplateError:
        pass
    try:
        rendered(source)
    except TemplateError:
        pass


def test_plain_text_renders_as_written_without_the_template_engine() -> None:
    from kasatka.chains.templating import build_context, render

    text = "Новая коллекция «Тайга» — скидка 10 %\n"
    assert render(text, build_context(None)) == text
