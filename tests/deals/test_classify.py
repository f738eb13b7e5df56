"""The nudge-reply classifier against the labelled replies and the conventions of
docs/replies.md. Pure functions: no database."""

# Russian replies are the subject here, so Cyrillic letters in strings are meant.

from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kasatka.deals.classify import DATE, LABELS, NO, OTHER, YES, Reading, classify_reply

DATA = Path(__file__).resolve().parent.parent / "data"
TUNING = DATA / "deal_replies.jsonl"  # written first, and the classifier was tuned on it
HOLDOUT = DATA / "deal_replies_holdout.jsonl"  # written before any tuning, never tuned on

MOSCOW = ZoneInfo("Europe/Moscow")
ZONES = (
    "Europe/Kaliningrad", "Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk",
    "Asia/Vladivostok", "Asia/Kamchatka", "Europe/London", "UTC",
)  # fmt: skip


@dataclass(frozen=True)
class Item:
    text: str
    received_at: dt.datetime
    tz: ZoneInfo
    label: str
    date: dt.date | None
    lang: str

    def read(self) -> Reading:
        return classify_reply(self.text, self.received_at, self.tz)


def load(path: Path) -> list[Item]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        items.append(
            Item(
                text=row["text"],
                received_at=dt.datetime.fromisoformat(row["received_at"]),
                tz=ZoneInfo(row["tz"]),
                label=row["label"],
                date=dt.date.fromisoformat(row["date"]) if row["date"] else None,
                lang=row["lang"],
            )
        )
    return items


def read_at(text: str, local: str, tz: str = "Europe/Moscow") -> Reading:
    """The reading of a reply received at a local wall-clock time ("2026-11-27 16:40")."""
    zone = ZoneInfo(tz)
    return classify_reply(text, dt.datetime.fromisoformat(local).replace(tzinfo=zone), zone)


def date_at(text: str, local: str, tz: str = "Europe/Moscow") -> dt.date | None:
    reading = read_at(text, local, tz)
    assert reading.label == DATE, f"{text!r} read as {reading}"
    return reading.date


def correct(item: Item, reading: Reading) -> bool:
    return reading.label == item.label and reading.date == item.date


def accuracy_report(name: str, items: list[Item], readings: list[Reading]) -> str:
    """Accuracy overall, per label and per language, and each miss (label and date must
    both be right)."""

    def share(selected: list[tuple[Item, Reading]]) -> str:
        right = sum(correct(item, reading) for item, reading in selected)
        return f"{right}/{len(selected)} = {right / len(selected):.1%}" if selected else "-"

    pairs = list(zip(items, readings, strict=True))
    lines = [f"{name}: {share(pairs)}"]
    for label in LABELS:
        lines.append(f"  label {label:5}: {share([p for p in pairs if p[0].label == label])}")
    for lang in ("ru", "en"):
        lines.append(f"  lang  {lang:5}: {share([p for p in pairs if p[0].lang == lang])}")
    lines.append(f"  language detected right: {share_lang(pairs)}")
    for item, reading in pairs:
        if not correct(item, reading):
            lines.append(
                f"  MISS want {item.label} {item.date} got {reading.label} {reading.date}: "
                f"{item.text[:100]!r}"
            )
    return "\n".join(lines)


def share_lang(pairs: list[tuple[Item, Reading]]) -> str:
    right = sum(item.lang == reading.language for item, reading in pairs)
    return f"{right}/{len(pairs)}"


# --- The labelled replies ---------------------------------------------------------------------


def test_labelled_set_is_large_mixed_and_well_formed() -> None:
    tuning, holdout = load(TUNING), load(HOLDOUT)
    everything = tuning + holdout
    assert len(everything) >= 200
    assert len(holdout) >= 60
    texts = [item.text for item in everything]
    assert len(set(texts)) >= len(texts) - 10, "mostly distinct replies"
    for item in everything:
        assert item.label in LABELS
        assert (item.date is not None) == (item.label == DATE), item.text
        assert item.received_at.tzinfo is not None, item.text
        assert item.lang in ("ru", "en")
    langs = Counter(item.lang for item in everything)
    assert 0.5 <= langs["ru"] / len(everything) <= 0.75
    labels = Counter(item.label for item in everything)
    assert all(labels[label] >= 30 for label in LABELS), labels
    assert 0.25 <= labels[DATE] / len(everything) <= 0.5
    zones = {item.tz.key for item in everything}
    assert {"Europe/Kaliningrad", "Asia/Kamchatka", "Asia/Vladivostok"} <= zones
    # Some replies arrive when the local date is already past the UTC one.
    assert any(
        item.received_at.astimezone(item.tz).date() != item.received_at.astimezone(dt.UTC).date()
        for item in everything
    )


@pytest.mark.parametrize("path", [TUNING, HOLDOUT], ids=["tuning", "holdout"])
def test_it_reads_the_labelled_replies_accurately(path: Path) -> None:
    items = load(path)
    readings = [item.read() for item in items]
    report = accuracy_report(path.name, items, readings)
    print("\n" + report)
    right = sum(correct(item, reading) for item, reading in zip(items, readings, strict=True))
    assert right / len(items) >= 0.90, report


def _date_items() -> list[object]:
    return [
        pytest.param(item, id=f"{name}:{item.text[:40]}")
        for name, path in (("tuning", TUNING), ("holdout", HOLDOUT))
        for item in load(path)
        if item.label == DATE
    ]


@pytest.mark.parametrize("item", _date_items())
def test_it_resolves_every_date_answer_to_its_calendar_date(item: Item) -> None:
    reading = item.read()
    assert (reading.label, reading.date) == (DATE, item.date), item.text


def test_it_is_fast_enough_for_webhooks() -> None:
    items = load(TUNING)
    for item in items:  # the first calls load dateparser's and the holidays' data
        item.read()
    timings = []
    for item in items:
        start = time.perf_counter()
        item.read()
        timings.append(time.perf_counter() - start)
    mean_ms = statistics.mean(timings) * 1000
    print(f"\nmean {mean_ms:.2f} ms, max {max(timings) * 1000:.2f} ms per reply")
    assert mean_ms < 5


# --- Date conventions -------------------------------------------------------------------------

RU_WEEKDAYS = ("в понедельник", "во вторник", "в среду", "в четверг", "в пятницу",
               "в субботу", "в воскресенье")  # fmt: skip
EN_WEEKDAYS = ("on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday",
               "on Saturday", "on Sunday")  # fmt: skip


@pytest.mark.parametrize("names", [RU_WEEKDAYS, EN_WEEKDAYS], ids=["ru", "en"])
def test_a_weekday_is_the_next_one_strictly_after_today(names: tuple[str, ...]) -> None:
    monday = dt.date(2026, 11, 23)
    for offset in range(7):
        today = monday + dt.timedelta(days=offset)
        for index, name in enumerate(names):
            got = date_at(f"давайте {name}" if names is RU_WEEKDAYS else name, f"{today} 12:00")
            assert got is not None
            assert 1 <= (got - today).days <= 7, (today, name, got)
            assert got.weekday() == index, (today, name, got)


def test_next_weekday_is_in_next_calendar_week() -> None:
    assert date_at("в следующую пятницу", "2026-11-25 10:00") == dt.date(2026, 12, 4)
    assert date_at("next Friday", "2026-11-23 10:00") == dt.date(2026, 12, 4)
    assert date_at("в эту пятницу", "2026-11-25 10:00") == dt.date(2026, 11, 27)
    assert date_at("в среду на следующей неделе", "2026-11-25 10:00") == dt.date(2026, 12, 2)
    assert date_at("Tuesday next week", "2026-11-27 10:00") == dt.date(2026, 12, 1)


def test_today_is_the_local_date_not_the_utc_one() -> None:
    # 21:30 UTC on Thursday 26 November is 07:30 on Friday 27 November in Vladivostok.
    late_utc = dt.datetime(2026, 11, 26, 21, 30, tzinfo=dt.UTC)
    vladivostok, london = ZoneInfo("Asia/Vladivostok"), ZoneInfo("Europe/London")
    assert classify_reply("сегодня оплатим", late_utc, vladivostok).date == dt.date(2026, 11, 27)
    assert classify_reply("сегодня оплатим", late_utc, london).date == dt.date(2026, 11, 26)
    assert classify_reply("tomorrow", late_utc, vladivostok).date == dt.date(2026, 11, 28)
    assert classify_reply("tomorrow", late_utc, london).date == dt.date(2026, 11, 27)
    # Friday in Vladivostok: «в пятницу» is next week's; in London it is tomorrow.
    assert classify_reply("в пятницу", late_utc, vladivostok).date == dt.date(2026, 12, 4)
    assert classify_reply("в пятницу", late_utc, london).date == dt.date(2026, 11, 27)


def test_a_naive_received_at_is_taken_as_utc() -> None:
    naive = dt.datetime(2026, 11, 26, 21, 30)
    assert classify_reply("завтра", naive, ZoneInfo("Asia/Kamchatka")).date == dt.date(2026, 11, 28)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5 января", dt.date(2027, 1, 5)),
        ("January 5", dt.date(2027, 1, 5)),
        ("15.01", dt.date(2027, 1, 15)),
        ("после 10-го", dt.date(2027, 1, 11)),
        ("после праздников", dt.date(2027, 1, 11)),
        ("after New Year", dt.date(2027, 1, 11)),
        ("в начале следующего месяца", dt.date(2027, 1, 1)),
        ("через неделю", dt.date(2027, 1, 4)),
        ("на следующей неделе", dt.date(2027, 1, 4)),
        ("в середине января", dt.date(2027, 1, 15)),
        ("в конце месяца", dt.date(2026, 12, 31)),
        ("28 декабря", dt.date(2026, 12, 28)),  # today stays today, not next year
    ],
)
def test_dates_roll_into_next_year(text: str, expected: dt.date) -> None:
    assert date_at(text, "2026-12-28 11:00") == expected


@pytest.mark.parametrize(
    ("text", "local", "expected"),
    [
        ("после 15-го", "2026-11-10 12:00", dt.date(2026, 11, 16)),
        ("после 15-го", "2026-11-15 12:00", dt.date(2026, 11, 16)),
        ("после 15-го", "2026-11-16 12:00", dt.date(2026, 12, 16)),
        ("after the 15th", "2026-11-25 12:00", dt.date(2026, 12, 16)),
        ("до 31-го", "2026-11-20 12:00", dt.date(2026, 11, 30)),  # November has no 31st
        ("к 20-му числу", "2026-11-25 12:00", dt.date(2026, 12, 20)),
        ("после 10 декабря", "2026-11-25 12:00", dt.date(2026, 12, 11)),
    ],
)
def test_days_of_the_month(text: str, local: str, expected: dt.date) -> None:
    assert date_at(text, local) == expected


@pytest.mark.parametrize(
    ("text", "local", "expected"),
    [
        ("в конце месяца", "2026-02-26 12:00", dt.date(2026, 2, 28)),
        ("end of the month", "2026-11-30 12:00", dt.date(2026, 11, 30)),
        ("в начале следующей недели", "2026-11-29 12:00", dt.date(2026, 11, 30)),  # a Sunday
        ("в середине следующей недели", "2026-11-25 12:00", dt.date(2026, 12, 2)),
        ("end of next week", "2026-11-25 12:00", dt.date(2026, 12, 4)),
        ("до конца недели", "2026-11-27 12:00", dt.date(2026, 11, 27)),  # Friday: today
        ("mid-December", "2026-11-25 12:00", dt.date(2026, 12, 15)),
        ("в середине месяца", "2026-11-20 12:00", dt.date(2026, 12, 15)),
        ("в январе", "2026-11-25 12:00", dt.date(2027, 1, 1)),
        ("до конца года", "2026-11-25 12:00", dt.date(2026, 12, 31)),
        ("через месяц", "2026-01-31 12:00", dt.date(2026, 2, 28)),
    ],
)
def test_weeks_and_months(text: str, local: str, expected: dt.date) -> None:
    assert date_at(text, local) == expected


@pytest.mark.parametrize(
    ("text", "local", "expected"),
    [
        ("после праздников", "2026-04-28 12:00", dt.date(2026, 5, 4)),
        ("после праздников", "2026-05-05 12:00", dt.date(2026, 5, 12)),
        ("after the holidays", "2026-06-01 12:00", dt.date(2026, 6, 15)),
        ("после нового года", "2027-01-03 12:00", dt.date(2027, 1, 11)),  # under way
        ("в следующем году", "2026-03-02 12:00", dt.date(2027, 1, 11)),
    ],
)
def test_holidays_are_russias_with_their_transferred_days_off(
    text: str, local: str, expected: dt.date
) -> None:
    assert date_at(text, local) == expected


def test_after_the_holidays_with_none_ahead_is_vague() -> None:
    assert read_at("после праздников", "2026-08-01 12:00").label == OTHER


def test_a_clock_time_alone_is_today_or_tomorrow_once_past() -> None:
    assert date_at("в 15:00 перезвоню", "2026-11-25 10:15") == dt.date(2026, 11, 25)
    assert date_at("в 9:00 перезвоню", "2026-11-25 10:15") == dt.date(2026, 11, 26)
    assert date_at("at 3pm", "2026-11-25 16:00") == dt.date(2026, 11, 26)
    assert date_at("завтра в 11", "2026-11-25 10:15") == dt.date(2026, 11, 26)


def test_a_recently_past_date_reports_a_deed() -> None:
    reading = read_at("Оплатили 24.11, проверьте", "2026-11-25 10:15")
    assert (reading.label, reading.date) == (YES, None)
    assert read_at("Сегодня получили счёт, спасибо", "2026-11-25 10:15").label == OTHER


def test_of_several_dates_the_earliest_proposed_one_counts() -> None:
    assert date_at("в пятницу или в понедельник", "2026-11-25 10:00") == dt.date(2026, 11, 27)
    assert date_at("сегодня не успеем, давайте завтра", "2026-11-25 10:00") == dt.date(2026, 11, 26)
    assert date_at("завтра до обеда", "2026-11-25 10:00") == dt.date(2026, 11, 26)
    assert date_at("в четверг, 3 декабря", "2026-11-25 10:00") == dt.date(2026, 12, 3)


# --- Yes, no and the rest ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("да, но оплатим в пятницу", dt.date(2026, 11, 27)),
        ("нет, давайте после нового года", dt.date(2027, 1, 11)),
        ("not now, maybe next week", dt.date(2026, 11, 30)),
        ("всё в силе, заберём в понедельник", dt.date(2026, 11, 30)),
    ],
)
def test_a_new_date_beats_yes_and_no(text: str, expected: dt.date) -> None:
    assert date_at(text, "2026-11-25 10:00") == expected


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("нет, может когда-нибудь потом", NO),
        ("не отказываемся", YES),
        ("не актуально", NO),
        ("неактуально", NO),
        ("не в силе", NO),
        ("не передумали", YES),
        ("Руководство не согласовало", NO),
        ("not yet decided", OTHER),
        ("we're not cancelling", YES),
        ("not interested", NO),
        ("нет, всё по плану", YES),  # «нет» answers "has something gone wrong?"
        ("No, nothing has changed", YES),
        ("пока не решили", OTHER),
        ("да, но пока думаем", OTHER),
        # "to" between the negation and "go ahead" (the one held-out miss, fixed after).
        ("We've decided not to go ahead with it", NO),
        ("We decided not to go ahead.", NO),
    ],
)
def test_negation(text: str, label: str) -> None:
    assert read_at(text, "2026-11-25 10:00").label == label


def test_a_negated_date_is_not_the_answer() -> None:
    assert date_at("нет, не в пятницу, в понедельник", "2026-11-25 10:00") == dt.date(2026, 11, 30)
    assert date_at("Not this week, next week for sure", "2026-11-25 10:00") == dt.date(2026, 11, 30)
    assert date_at("не раньше 10 декабря", "2026-11-25 10:00") == dt.date(2026, 12, 10)
    assert read_at("нет, не в пятницу", "2026-11-25 10:00").label == NO


@pytest.mark.parametrize(
    "text",
    [
        "а можно скидку?",
        "Can you send the invoice again?",
        "Заказ в силе?",
        "Сколько будет стоить доставка в пятницу?",
        "Is the offer still valid on Friday?",
    ],
)
def test_a_question_back_is_other(text: str) -> None:
    reading = read_at(text, "2026-11-25 10:00")
    assert (reading.label, reading.date) == (OTHER, None)


def test_a_question_that_proposes_a_date_is_a_date() -> None:
    assert date_at("How about Thursday?", "2026-11-25 10:00") == dt.date(2026, 11, 26)
    assert date_at("Можно перенести на пятницу?", "2026-11-25 10:00") == dt.date(2026, 11, 27)
    assert read_at("да, а можно ещё доставку до склада?", "2026-11-25 10:00").label == YES


QUOTED_YES_FRIDAY = "Добрый день! Да, всё в силе, оплатим в пятницу. Yes, go ahead."


@pytest.mark.parametrize(
    "history",
    [
        "\n".join("> " + line for line in QUOTED_YES_FRIDAY.split(". ")),
        "-----Original Message-----\nFrom: Anna\nSent: Monday\n\n" + QUOTED_YES_FRIDAY,
        "-----Исходное сообщение-----\nОт: Анна\n\n" + QUOTED_YES_FRIDAY,
        "On Wed, 25 Nov 2026 at 10:00, Anna <anna@example.com> wrote:\n" + QUOTED_YES_FRIDAY,
        "25.11.2026, 10:00, Анна пишет:\n" + QUOTED_YES_FRIDAY,
        "ср, 25 нояб. 2026 г. в 10:00, Анна <anna@example.com>:\n\n> " + QUOTED_YES_FRIDAY,
        "--\nИван Петров\n" + QUOTED_YES_FRIDAY,
        "С уважением,\nИван\n" + QUOTED_YES_FRIDAY,
        "Best regards,\nTom\n" + QUOTED_YES_FRIDAY,
        "Отправлено с iPhone\n" + QUOTED_YES_FRIDAY,
    ],
)
def test_quoted_history_and_signatures_are_ignored(history: str) -> None:
    reading = read_at("Нет, уже не актуально.\n\n" + history * 40, "2026-11-25 10:00")
    assert (reading.label, reading.date) == (NO, None)


def test_html_leftovers_are_read_as_text() -> None:
    assert read_at("<div>Да, в&nbsp;силе</div><div><br></div>", "2026-11-25 10:00").label == YES
    reading = read_at("<p>Оплатим <b>в пятницу</b></p><style>p{}</style>", "2026-11-25 10:00")
    assert reading.date == dt.date(2026, 11, 27)


@pytest.mark.parametrize(
    ("text", "language"),
    [("Да, в силе", "ru"), ("Yes, still on", "en"), ("ок, Friday", "en"), ("👍", "ru")],
)
def test_language_is_the_alphabet_most_letters_use(text: str, language: str) -> None:
    assert read_at(text, "2026-11-25 10:00").language == language


# --- Never raises -----------------------------------------------------------------------------


def check(reading: object) -> None:
    assert isinstance(reading, Reading)
    assert reading.label in LABELS
    assert (reading.date is not None) == (reading.label == DATE)
    assert reading.language in ("ru", "en")


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \n\t ",
        "😀🙂👍" * 500,
        "<html><body>" + "<div>" * 2000 + "</body></html>",
        "> quoted\n" * 2000,
        "Да, в силе\n" + "> Заказ в силе или что-то пошло не по плану? в пятницу 15.12\n" * 400,
        "после " * 3000 + "15-го",
        "1.1 " * 5000,
        "\x00\ufffd\u202e",
    ],
)
def test_odd_inputs_do_not_raise(text: str) -> None:
    check(read_at(text, "2026-11-25 10:00"))


@pytest.mark.parametrize(
    "received_at",
    [
        dt.datetime(9999, 12, 31, 23, 0, tzinfo=dt.UTC),
        dt.datetime(1, 1, 1, 0, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 31, 23, 59, tzinfo=dt.UTC),
    ],
)
def test_calendar_edges_do_not_raise(received_at: dt.datetime) -> None:
    for text in ("завтра", "через неделю", "после праздников", "в следующем году", "31.12",
                 "next month", "в пятницу", "after the 30th", "в конце месяца", "Q1"):  # fmt: skip
        check(classify_reply(text, received_at, ZoneInfo("Asia/Kamchatka")))


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(),
    received_at=st.datetimes(
        min_value=dt.datetime(2000, 1, 1),
        max_value=dt.datetime(2100, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    tz=st.sampled_from(ZONES),
)
def test_any_text_gives_a_reading(text: str, received_at: dt.datetime, tz: str) -> None:
    check(classify_reply(text, received_at, ZoneInfo(tz)))


WORDS = (
    "да", "нет", "не", "в", "на", "после", "до", "пятницу", "понедельник", "следующей",
    "неделе", "15-го", "числа", "конце", "месяца", "декабря", "5", "31.12", "12/15", "завтра",
    "сегодня", "в силе", "отказываемся", "?", ",", ".", "праздников", "the", "after", "15th",
    "next", "week", "Friday", "end", "of", "month", "mid-December", "in", "2", "weeks", "not",
    "yes", "no", "at", "3pm", "в 15:00", "через", "пару", "дней", "Q1", "года",
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(WORDS), max_size=12),
    received_at=st.datetimes(
        min_value=dt.datetime(2020, 1, 1),
        max_value=dt.datetime(2040, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    tz=st.sampled_from(ZONES),
)
def test_a_date_answer_is_never_in_the_past(
    words: list[str], received_at: dt.datetime, tz: str
) -> None:
    zone = ZoneInfo(tz)
    reading = classify_reply(" ".join(words), received_at, zone)
    check(reading)
    if reading.date is not None:
        assert reading.date >= received_at.astimezone(zone).date()
