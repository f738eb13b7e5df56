"""Reads a client's answer to a deal nudge: yes, no, a new date, or something else.

A nudge («буравчик») asks the client for a decision («Заказ в силе или что-то пошло не по
плану?»). Whatever channel the answer comes back on, `classify_reply()` turns it into a
`Reading`. It is pure Python and cheap (it runs inside webhook handling), and it never raises:
anything it cannot read is OTHER. docs/replies.md states the conventions; the labelled replies
in tests/data/ hold it to them.

Pipeline: clean (HTML, quoted history, signature) → find date phrases and resolve them
(dateparser for the phrases it knows, the rules below for what it misses) → if a usable date
remains, DATE; otherwise weigh yes/no cues outside questions-back, with negation.
"""

from __future__ import annotations

import calendar
import datetime as dt
import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import dateparser  # type: ignore[import-untyped]  # no stubs published for dateparser

logger = logging.getLogger(__name__)

YES, NO, DATE, OTHER = "yes", "no", "date", "other"
LABELS = (YES, NO, DATE, OTHER)

# Past this many characters a reply is a pasted thread; its answer is at the top.
MAX_CHARS = 20_000
# Of the client's own words (quotes and signature gone), this many are read...
ANSWER_CHARS = 4_000
# ...and at most this many date phrases resolved: a real answer names one or two, and each
# costs a dateparser call.
MAX_DATE_PHRASES = 12
# «после праздников» looks this far ahead for the holiday it means; beyond it the phrase is vague.
HOLIDAY_HORIZON_DAYS = 45
# A yearless date this recently past names something done, not a date next year.
RECENT_PAST_DAYS = 60
# Holidays are those of the shop's country; Kasatka's shops are in Russia.
HOLIDAY_COUNTRY = "RU"


@dataclass(frozen=True)
class Reading:
    label: str  # one of LABELS
    date: dt.date | None  # set only (and always) when label == DATE
    language: str  # "ru" or "en", detected


def classify_reply(text: str, received_at: dt.datetime, tz: ZoneInfo) -> Reading:
    """received_at is timezone-aware; relative dates are resolved in tz (the local date of
    received_at in tz is "today")."""
    body = _clean(text if isinstance(text, str) else "")[:ANSWER_CHARS]
    language = _language(body)
    s = _normalise(body)
    now = _local_now(received_at, tz)
    when = _find_date(s, now) if now is not None else None
    if when is not None:
        return Reading(DATE, when, language)
    return Reading(_decide(s), None, language)


# --- Cleaning ---------------------------------------------------------------------------------

_HTML_BLOCK = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)
_HTML_BREAK = re.compile(r"<\s*(?:br|/p|/div|/li|/tr|p|div)\b[^>]{0,500}>", re.I)
_HTML_TAG = re.compile(r"<[a-zA-Z/!][^<>]{0,500}>")

# A line that starts the quoted history or the sender's footer: everything from it is dropped.
_CUT_LINE = re.compile(
    r"""^\s*(?:
        -{2,}\s*(?:original\s+message|forwarded\s+message|исходное\s+сообщение
                  |пересылаемое\s+сообщение|переслано|перенаправленное\s+сообщение)
      | -- \s*$ | _{3,}\s*$ | -{3,}\s*$
      | on\s.{0,250}\bwrote:?\s*$
      | .{0,250}\b(?:пишет|написал|написала|написал\(а\)|wrote)\s*:\s*$
      | (?:from|от|sent|отправлено|date|дата)\s*:\s.*$
      | (?:sent\s+from\s+my|sent\s+from\s+mail|get\s+outlook\s+for|отправлено\s+(?:с|из)\s
         |отправлено\s+с\s+моего|почта\s+mail\.ru)
      | (?:с\s+уважением|best\s+regards|kind\s+regards|warm\s+regards|regards|best\s+wishes
         |sincerely|yours\s+truly|всего\s+(?:доброго|хорошего))\b[\s,.!]*
    )""",
    re.I | re.X,
)
# A sign-off inside a line («Да, актуально. С уважением, Петр»): the rest of the line goes.
_CUT_INLINE = re.compile(
    r"(?:(?<=[.!?,;])|^)\s*(?:с\s+уважением|best\s+regards|kind\s+regards|regards)\b.*$", re.I
)


def _clean(text: str) -> str:
    """The client's own words: no markup, no quoted history, no signature."""
    text = text[:MAX_CHARS]
    if "<" in text:
        text = _HTML_BLOCK.sub(" ", text)
        text = _HTML_BREAK.sub("\n", text)
        text = _HTML_TAG.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    kept: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.lstrip().startswith(">"):
            # The quote's attribution line («ср, 25 нояб. 2026 г. в 10:00, Анна <a@b>:»)
            # sits just above it; it goes too.
            while kept and not kept[-1].strip():
                kept.pop()
            if kept and kept[-1].rstrip().endswith(":"):
                kept.pop()
            break
        if _CUT_LINE.match(line):
            break
        kept.append(_CUT_INLINE.sub("", line))
    return "\n".join(kept).strip()


_CYRILLIC = re.compile(r"[а-яёА-ЯЁ]")
_LATIN = re.compile(r"[a-zA-Z]")


def _language(text: str) -> str:
    """ru unless Latin letters outnumber Cyrillic ones; a reply with no letters is ru, the
    shops' language."""
    return "en" if len(_LATIN.findall(text)) > len(_CYRILLIC.findall(text)) else "ru"


_TRANSLATE = str.maketrans(
    {"ё": "е", "’": "'", "‘": "'", "`": "'", "´": "'", "ʼ": "'", "\xa0": " ", "—": ",", "–": "-"}
)


def _normalise(text: str) -> str:
    s = text.lower().translate(_TRANSLATE)
    return re.sub(r"[ \t\f\v]+", " ", s)


def _local_now(received_at: object, tz: object) -> dt.datetime | None:
    """received_at as a naive wall-clock time in tz; a naive received_at is taken as UTC."""
    if not isinstance(received_at, dt.datetime):
        return None
    if received_at.tzinfo is None:
        received_at = received_at.replace(tzinfo=dt.UTC)
    try:
        local = received_at.astimezone(tz if isinstance(tz, dt.tzinfo) else dt.UTC)
    except (OverflowError, ValueError):
        return None
    return local.replace(tzinfo=None)


# --- Date phrases -----------------------------------------------------------------------------

_RU_MONTH = (
    r"(?:январ[ьяею]|феврал[ьяею]|март[аеу]?|апрел[ьяею]|ма[йяею]|июн[ьяею]|июл[ьяею]"
    r"|август[аеу]?|сентябр[ьяею]|октябр[ьяею]|ноябр[ьяею]|декабр[ьяею]"
    r"|янв|фев|мар|апр|авг|сен|сент|окт|нояб?|дек)\b\.?"
)
_EN_MONTH = (
    r"(?:january|february|march|april|may|june|july|august|september|october|november"
    r"|december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\b\.?"
)
_EN_MONTH_ALONE = (  # "may" and abbreviations stand alone too often as ordinary words
    r"(?:january|february|march|april|june|july|august|september|october|november|december)\b"
)
_MONTH_KEYS = {
    "янв": 1, "фев": 2, "мар": 3, "апр": 4, "май": 5, "мая": 5, "мае": 5, "маю": 5,
    "июн": 6, "июл": 7, "авг": 8, "сен": 9, "окт": 10, "ноя": 11, "дек": 12,
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_RU_WEEKDAYS = {
    "пон": 0, "вто": 1, "сре": 2, "чет": 3, "пят": 4, "суб": 5, "вос": 6,
    "пн": 0, "вт": 1, "ср": 2, "чт": 3, "пт": 4, "птн": 4, "сб": 5, "вс": 6,
}  # fmt: skip
_EN_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "один": 1, "одну": 1, "одна": 1, "пару": 2, "пары": 2,
    "couple": 2, "two": 2, "два": 2, "две": 2, "three": 3, "три": 3, "four": 4, "четыре": 4,
    "five": 5, "пять": 5, "six": 6, "шесть": 6, "seven": 7, "семь": 7, "eight": 8,
    "восемь": 8, "nine": 9, "девять": 9, "ten": 10, "десять": 10,
}  # fmt: skip


@dataclass(frozen=True)
class _Context:
    now: dt.datetime  # naive local wall-clock time
    text: str  # the normalised reply

    @property
    def today(self) -> dt.date:
        return self.now.date()


# A phrase's named groups, alternative spellings already merged (see _Rule.aliases).
Groups = dict[str, str | None]
Resolver = Callable[[Groups, _Context], "dt.date | None"]


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    resolve: Resolver
    # A weak date ("today", a clock time, «после обеда») gives way to any other date in the
    # reply: «завтра до обеда» is tomorrow, «сегодня не успеем, давайте в пятницу» is Friday.
    weak: bool = False
    # An exact day ("15 декабря", «15-го»): «после»/"after" before it means the day after.
    exact: bool = False
    # Groups of an alternative branch that stand for another group ({"d2": "d"}).
    aliases: tuple[tuple[str, str], ...] = ()
    # A weekday next to an exact date only names it: «в четверг, 3 декабря» is 3 December.
    weekday: bool = False

    def groups(self, match: re.Match[str]) -> Groups:
        groups = match.groupdict()
        for alias, name in self.aliases:
            groups[name] = groups.get(name) or groups.get(alias)
        groups["0"] = match.group(0)
        return groups


def _rule(
    pattern: str,
    resolve: Resolver,
    *,
    weak: bool = False,
    exact: bool = False,
    aliases: dict[str, str] | None = None,
) -> _Rule:
    return _Rule(
        re.compile(pattern, re.X),
        resolve,
        weak,
        exact,
        tuple((aliases or {}).items()),
        weekday=resolve is _r_weekday,
    )


def _dateparser(phrase: str, ctx: _Context, language: str) -> dt.date | None:
    """dateparser's reading of one phrase, relative to the reply's local time."""
    try:
        found = dateparser.parse(
            phrase,
            languages=[language],
            settings={"PREFER_DATES_FROM": "future", "RELATIVE_BASE": ctx.now},
        )
    except Exception:
        # A bug in a third-party parser must not break webhook handling: the reply reads
        # as if it had no date, and the log keeps the evidence.
        logger.exception("dateparser failed on %r", phrase)
        return None
    return found.date() if isinstance(found, dt.datetime) else None


def _month_number(word: str | None) -> int | None:
    return _MONTH_KEYS.get((word or "").strip(".")[:3])


def _last_day(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def _add_months(day: dt.date, months: int) -> dt.date:
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _monday(day: dt.date, weeks_ahead: int = 0) -> dt.date:
    return day - dt.timedelta(days=day.weekday()) + dt.timedelta(weeks=weeks_ahead)


def _roll_to_future(today: dt.date, month: int, day: int) -> dt.date | None:
    """That day of that month this year, or next year once it has passed (today stays).
    A day that passed less than RECENT_PAST_DAYS ago is a reference to something done
    («оплатили 24.11»), not a date eleven months ahead: None."""
    for year in (today.year - 1, today.year, today.year + 1):
        if day > calendar.monthrange(year, month)[1]:
            continue
        when = dt.date(year, month, day)
        if when >= today:
            return when
        if (today - when).days < RECENT_PAST_DAYS:
            return None
    return None


def _with_year(year: int, month: int, day: int, today: dt.date) -> dt.date | None:
    """A date written with its year is taken as written, unless it is past: then it refers
    to something done, it sets no new date."""
    try:
        when = dt.date(year, month, day)
    except ValueError:
        return None
    return when if when >= today else None


def _day_of_month(today: dt.date, day: int) -> dt.date | None:
    """«15-го»: the 15th of this month if still ahead (or today), else of next month; a day
    the month lacks becomes its last day."""
    if not 1 <= day <= 31:
        return None
    first = today.replace(day=1) if day >= today.day else _add_months(today.replace(day=1), 1)
    return first.replace(day=min(day, calendar.monthrange(first.year, first.month)[1]))


def _amount(word: str | None) -> int:
    """«пару» → 2, "a" → 1, "3" → 3, «2-3» → 3 (a range means its far end); no word means
    one."""
    word = (word or "").strip()
    if word.replace("-", "").replace(" ", "").isdigit():
        return max(int(part) for part in word.split("-") if part.strip())
    if "couple" in word:
        return 2
    return next((_NUMBER_WORDS[w] for w in word.split() if w in _NUMBER_WORDS), 1)


def _position(word: str | None) -> str:
    """start / mid / end of a week or month, from «начале», "mid", «конце», "late"..."""
    word = (word or "").removeprefix("the ")
    if word.startswith(("сер", "mid")):
        return "mid"
    if word.startswith(("кон", "end", "late", "close")):
        return "end"
    return "start"


# Resolvers, one per kind of phrase: each returns the date the phrase names, or None.


def _r_today(g: Groups, ctx: _Context) -> dt.date | None:
    return _dateparser("today", ctx, "en")


def _r_tomorrow(g: Groups, ctx: _Context) -> dt.date | None:
    return _dateparser("tomorrow", ctx, "en")


def _r_after_tomorrow(g: Groups, ctx: _Context) -> dt.date | None:
    return _dateparser("day after tomorrow", ctx, "en")


def _r_in_amount(g: Groups, ctx: _Context) -> dt.date | None:
    """«через неделю», "in 2 weeks", «через пару дней»: that long after today."""
    n, unit = _amount(g["n"]), g["unit"] or ""
    if unit.startswith(("д", "day")):
        unit = "days"
    elif unit.startswith(("нед", "week")):
        unit = "weeks"
    else:
        unit = "months"
    return _dateparser(f"in {n} {unit}", ctx, "en") if 0 < n <= 366 else None


def _r_in_hours(g: Groups, ctx: _Context) -> dt.date | None:
    hours = 0.5 if "полчаса" in (g["0"] or "") else _amount(g["n"])
    return (ctx.now + dt.timedelta(hours=hours)).date() if hours <= 48 else None


def _r_clock(g: Groups, ctx: _Context) -> dt.date | None:
    """A clock time alone: today if it is still ahead, else tomorrow."""
    hour, minute = int(g["h"] or 0), int(g["m"] or 0)
    marker = (g.get("ap") or "").replace(".", "")
    if marker in ("pm", "дня", "вечера") and hour < 12:
        hour += 12
    elif marker in ("am", "утра") and hour == 12:
        hour = 0
    if hour > 23:
        return None
    return ctx.today + dt.timedelta(days=0 if dt.time(hour, minute) > ctx.now.time() else 1)


def _r_weekday(g: Groups, ctx: _Context) -> dt.date | None:
    """A weekday is the first such day strictly after today; "next Friday" / «в следующую
    пятницу» is the Friday of next calendar week."""
    word = g["wd"] or ""
    if _CYRILLIC.match(word):
        index = _RU_WEEKDAYS.get(word if len(word) <= 3 else word[:3])
    else:
        index = next((i for i, day in enumerate(_EN_WEEKDAYS) if day.startswith(word[:3])), None)
    if index is None:
        return None
    if g.get("next"):
        return _monday(ctx.today, 1) + dt.timedelta(days=index)
    return _dateparser(_EN_WEEKDAYS[index], ctx, "en")


_POSITION_WEEKDAY = {"start": 0, "mid": 2, "end": 4}  # Monday, Wednesday, Friday


def _r_next_week(g: Groups, ctx: _Context) -> dt.date | None:
    """Next week is its Monday; its middle a Wednesday, its end a Friday."""
    return _monday(ctx.today, 1) + dt.timedelta(days=_POSITION_WEEKDAY[_position(g["pos"])])


def _r_next_week_elliptic(g: Groups, ctx: _Context) -> dt.date | None:
    """«на этой неделе не получится, давайте на следующей»: «следующей» alone is the next
    week when the reply talks about weeks."""
    return _monday(ctx.today, 1) if "недел" in ctx.text else None


def _r_this_week(g: Groups, ctx: _Context) -> dt.date | None:
    """This week, its end: its Friday, or today once Friday has come."""
    return max(ctx.today, _monday(ctx.today) + dt.timedelta(days=4))


def _r_weekend(g: Groups, ctx: _Context) -> dt.date | None:
    return _dateparser("saturday", ctx, "en")


def _r_month_end(g: Groups, ctx: _Context) -> dt.date | None:
    month = _add_months(ctx.today.replace(day=1), 1 if g["next"] else 0)
    return _last_day(month.year, month.month)


def _r_next_month(g: Groups, ctx: _Context) -> dt.date | None:
    return _add_months(ctx.today.replace(day=1), 1)


def _r_mid_month(g: Groups, ctx: _Context) -> dt.date | None:
    if g["next"]:
        return _add_months(ctx.today.replace(day=1), 1).replace(day=15)
    return _day_of_month(ctx.today, 15)


def _r_next_quarter(g: Groups, ctx: _Context) -> dt.date | None:
    quarter_start = ctx.today.replace(month=(ctx.today.month - 1) // 3 * 3 + 1, day=1)
    return _add_months(quarter_start, 3)


_QUARTER_WORDS = {"перв": 1, "втор": 2, "трет": 3, "четв": 4}


def _r_quarter(g: Groups, ctx: _Context) -> dt.date | None:
    """ "Q1", «во втором квартале»: the quarter's first day, this year's if still ahead (or
    under way: then today), else next year's."""
    word = g["q"] or ""
    number = int(word) if word.isdigit() else _QUARTER_WORDS.get(word[:4])
    if number is None or not 1 <= number <= 4:
        return None
    start = dt.date(ctx.today.year, 3 * number - 2, 1)
    if start > ctx.today:
        return start
    if _add_months(start, 3) > ctx.today:
        return ctx.today
    return start.replace(year=start.year + 1)


def _r_year_end(g: Groups, ctx: _Context) -> dt.date | None:
    return dt.date(ctx.today.year, 12, 31)


def _r_month_name(g: Groups, ctx: _Context) -> dt.date | None:
    """«в январе» → 1 January, «в середине/конце декабря» → 15/31 December, the current
    month named alone → today; rolled into next year once past."""
    month = _month_number(g["mon"])
    if month is None:
        return None
    if not g["pos"] and month == ctx.today.month:
        return ctx.today
    position = _position(g["pos"])
    for year in (ctx.today.year, ctx.today.year + 1):
        last = calendar.monthrange(year, month)[1]
        when = dt.date(year, month, {"start": 1, "mid": 15, "end": last}[position])
        if when >= ctx.today:
            return when
    return None


def _r_day_of_month(g: Groups, ctx: _Context) -> dt.date | None:
    return _day_of_month(ctx.today, int(g["d"] or 0))


def _r_named_date(g: Groups, ctx: _Context) -> dt.date | None:
    """«15 декабря», "December 3rd": dateparser reads the day and month; the year is the one
    written, else this year or, once the day has passed, the next."""
    month_word = (g["mon"] or "").strip(".")
    language = "ru" if _CYRILLIC.match(month_word) else "en"
    found = _dateparser(f"{int(g['d'] or 0)} {month_word}", ctx, language)
    if found is None:
        return None
    if g["y"]:
        return _with_year(int(g["y"]), found.month, found.day, ctx.today)
    return _roll_to_future(ctx.today, found.month, found.day)


def _r_numeric_date(g: Groups, ctx: _Context) -> dt.date | None:
    """«15.12», "15/12", «12.01.2027»: day first; "12/15" (second number over 12) month
    first."""
    first, second, year = g["d"] or "", g["m"] or "", g["y"]
    if not year and len(first) < 2 and len(second) < 2:
        return None  # «5.5» is a number, not a date
    day, month = int(first), int(second)
    if g["sep"] == "/" and day <= 12 < month:
        day, month = month, day
    if not 1 <= month <= 12 or day < 1:
        return None
    if year:
        return _with_year(int(year) + (2000 if len(year) == 2 else 0), month, day, ctx.today)
    return _roll_to_future(ctx.today, month, day)


def _r_iso_date(g: Groups, ctx: _Context) -> dt.date | None:
    return _with_year(int(g["y"] or 0), int(g["m"] or 0), int(g["d"] or 0), ctx.today)


@lru_cache(maxsize=1)
def _holidays() -> Any:
    """The public holidays with their transferred days off, loaded on first need: the
    package takes a few hundred milliseconds to load."""
    import holidays

    return holidays.country_holidays(HOLIDAY_COUNTRY)


def _first_working_day_from(day: dt.date) -> dt.date:
    off = _holidays()
    while day in off or day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def _r_after_holidays(g: Groups, ctx: _Context) -> dt.date | None:
    """«после праздников»: the first working day after the next run of public holidays that
    is under way or starts within HOLIDAY_HORIZON_DAYS; beyond that the phrase is vague."""
    off = _holidays()
    for offset in range(HOLIDAY_HORIZON_DAYS + 1):
        day = ctx.today + dt.timedelta(days=offset)
        if day in off:
            return _first_working_day_from(day)
    return None


def _r_after_new_year(g: Groups, ctx: _Context) -> dt.date | None:
    """«после нового года»: the first working day after the New Year holidays (those under
    way, else the next)."""
    for year in (ctx.today.year, ctx.today.year + 1):
        back_to_work = _first_working_day_from(dt.date(year, 1, 1))
        if back_to_work > ctx.today:
            return back_to_work
    return None


def _r_next_year(g: Groups, ctx: _Context) -> dt.date | None:
    """«в следующем году»: work resumes after next year's New Year holidays."""
    return _first_working_day_from(dt.date(ctx.today.year + 1, 1, 1))


_RU_WEEKDAY = (
    r"(?:понедельник\w*|вторник\w*|сред[аеуы]|четверг\w*|пятниц\w*|суббот\w*|воскресень\w*)\b"
)
_EN_WEEKDAY = (
    r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|mon|tues?|wed|thu(?:rs?)?|fri)s?\b"
)

_RULES = (
    # Named days.
    _rule(r"\b(?:сегодня|седня|сегодн\w*)\b", _r_today, weak=True),
    _rule(
        r"""\b(?:вечером|после\s+обеда|до\s+обеда|до\s+вечера|к\s+вечеру|в\s+течение\s+дня
        |до\s+конца\s+(?:рабочего\s+)?дня)\b""",
        _r_today,
        weak=True,
    ),
    _rule(
        r"""\b(?:today|tonight|this\s+(?:afternoon|evening)|later\s+today
        |(?:by\s+)?(?:the\s+)?end\s+of\s+(?:the\s+)?(?:business\s+)?day|eod|cob)\b""",
        _r_today,
        weak=True,
    ),
    _rule(r"\b(?:завтр[аеоу]\w*|tomorrow|tomorow|tmrw|tmr)\b", _r_tomorrow),
    _rule(
        r"\b(?:послезавтра|после\s+завтра|(?:the\s+)?day\s+after\s+tomorrow)\b",
        _r_after_tomorrow,
    ),
    # Amounts of time from now.
    _rule(
        r"""\bчерез\s+(?P<unit4>недел\w*|дн[ейя]\w*|месяц\w*)\s+(?P<n4>пару|две|два|три|четыре
        |пять)\b
        |\bчерез\s+(?:(?P<n>[0-9]{1,3}(?:\s*-\s*[0-9]{1,3})?|пар[уы]|одн[уа]|один|два|две|три
        |четыре|пять|шесть|семь|восемь|девять|десять)\s+)?(?P<unit>дн[ейя]\w*|день\w*|денек
        |недел\w*|месяц\w*)
        |\bв\s+течени[еи]\s+(?:(?P<n2>[0-9]{1,3})\s+)?(?P<unit2>недел\w*|месяц\w*|дн[ейя]\w*)
        |\b(?P<unit3>недел\w*|дн[ейя]\w*|месяц\w*)\s+через\s+(?P<n3>[0-9]{1,3}|пару|две|два|три
        |четыре|пять)\b
        |\bдайте\s+(?:(?:нам|мне|еще|ещё)\s+)*(?P<n5>[0-9]{1,3}|пару|одну|два|две|три)?\s*
        (?P<unit5>недел\w*|дн[ейя]\w*|денек|денька)""",
        _r_in_amount,
        aliases={
            "n2": "n",
            "unit2": "unit",
            "n3": "n",
            "unit3": "unit",
            "n4": "n",
            "unit4": "unit",
            "n5": "n",
            "unit5": "unit",
        },
    ),
    _rule(
        r"""\b(?:in|within|give\s+(?:me|us)|need)\s+(?P<n>[0-9]{1,3}(?:\s*-\s*[0-9]{1,3})?|a|an|one|two|three|four|five|six|seven|eight
        |nine|ten|a\s+couple\s+of|couple\s+of|a\s+couple)\s+(?P<unit>days?|weeks?|months?)\b""",
        _r_in_amount,
    ),
    _rule(
        r"""\bчерез\s+(?:(?P<n>[0-9]{1,2}|пару|два|три)\s+)?час\w*|\bчерез\s+полчаса
        |\bin\s+(?P<n2>an?|one|[0-9]{1,2}|a\s+couple\s+of)\s+hours?\b""",
        _r_in_hours,
        weak=True,
        aliases={"n2": "n"},
    ),
    # Clock times.
    _rule(
        r"""\b(?:в|к|до|после|около|с)\s+(?P<h>[0-9]{1,2})(?::(?P<m>[0-5][0-9])|\.(?P<m2>00|30))
        (?![0-9.])
        |\b(?:в|к|до|после|около)\s+(?P<h2>[0-9]{1,2})\s*(?P<ap>утра|дня|вечера|час\w*|ч)\b""",
        _r_clock,
        weak=True,
        aliases={"m2": "m", "h2": "h"},
    ),
    _rule(
        r"""(?:\b(?:at|by|around|before|after)\s+)?\b(?P<h>[0-9]{1,2})(?::(?P<m>[0-5][0-9]))?
        \s*(?P<ap>am|pm|a\.m\.|p\.m\.)(?![a-z])
        |\bat\s+(?P<h2>[0-9]{1,2}):(?P<m2>[0-5][0-9])\b""",
        _r_clock,
        weak=True,
        aliases={"m2": "m", "h2": "h"},
    ),
    # Weekdays.
    _rule(
        rf"""(?:\b(?P<next>следующ\w*|след\.?|будущ\w*)\s+|\b(?:эт[аоиуй]\w*|ближайш\w*)\s+)?
        \b(?P<wd>{_RU_WEEKDAY})""",
        _r_weekday,
    ),
    _rule(r"\b(?:в|во|до|к|на|с|со|по)\s+(?P<wd>пн|вт|ср|чт|пт|птн|сб|вс)\b", _r_weekday),
    _rule(  # «в среду на следующей неделе», "Tuesday next week": next week's day
        rf"""\b(?P<next>(?:на\s+)?(?:следующей|след\.?|будущей)\s+неделе),?\s+(?:в|во)\s+
        (?P<wd>{_RU_WEEKDAY})|\b(?P<wd2>{_RU_WEEKDAY}),?\s+(?P<next2>на\s+(?:следующей|след\.?
        |будущей)\s+неделе)|\b(?P<next3>next\s+week),?\s+(?:on\s+)?(?P<wd3>{_EN_WEEKDAY})
        |\b(?P<wd4>{_EN_WEEKDAY}),?\s+(?:of\s+)?(?P<next4>next\s+week)\b""",
        _r_weekday,
        aliases={
            "wd2": "wd",
            "wd3": "wd",
            "wd4": "wd",
            "next2": "next",
            "next3": "next",
            "next4": "next",
        },
    ),
    _rule(
        rf"""(?:\b(?P<next>next)\s+|\b(?:this|coming|the\s+coming)\s+)?\b(?P<wd>{_EN_WEEKDAY})""",
        _r_weekday,
    ),
    # Weeks.
    _rule(
        r"""(?:\b(?:в|к|на|до|с|со)\s+)?(?:\b(?P<pos>начал\w*|середин\w*|конц\w*|конец)\s+)?
        \b(?:следующ\w*|след\.?|будущ\w*)\s+недел\w*""",
        _r_next_week,
    ),
    _rule(r"\b(?:на|с|со)\s+следующей(?=\s*(?:[,.!?;)]|$))", _r_next_week_elliptic),
    _rule(
        r"""(?:\b(?P<pos>(?:the\s+)?(?:early|beginning|start|mid|middle|end|late))(?:\s+of)?
        [-\s]+(?:the\s+)?)?\bnext\s+week\b""",
        _r_next_week,
    ),
    _rule(
        r"""\bна\s+(?:этой|текущей)\s+неделе|\b(?:до|к|в)\s+(?:конц\w*|конец)\s+(?:этой\s+
        |текущей\s+)?недели|\bконец\s+недели""",
        _r_this_week,
    ),
    _rule(
        r"""\b(?:later\s+)?this\s+week\b|(?:\b(?:by|at|towards?)\s+)?(?:the\s+)?\bend\s+of
        \s+(?:the\s+|this\s+)?week\b|\beow\b""",
        _r_this_week,
    ),
    _rule(
        r"""\b(?:в|на)\s+(?:эти\s+|ближайшие\s+)?выходн\w*
        |\b(?:over|at|on|during|this)\s+(?:the\s+)?weekend\b""",
        _r_weekend,
    ),
    # Months.
    _rule(
        r"""(?:\b(?:в|к|до|под|ближе\s+к)\s+)?\b(?:конц\w*|конец)\s+(?:(?P<next>следующего
        |след\.?|будущего)\s+|(?:этого|текущего)\s+)?месяц\w*
        |(?:\b(?:by|at|around|towards?|before)\s+)?(?:the\s+)?\b(?:end|close)\s+of\s+
        (?:(?P<next2>next)\s+|the\s+|this\s+)?month\b|\bmonth[-\s]end\b|\beom\b""",
        _r_month_end,
        aliases={"next2": "next"},
    ),
    _rule(
        r"""(?:\b(?:в|с|со|к)\s+)?(?:\bначал\w*\s+)?\b(?:следующего|след\.?|будущего)\s+месяц\w*
        |\bв\s+следующем\s+месяце|\b(?:в|с|к)\s+начал\w*\s+месяц\w*
        |\b(?:(?:the\s+)?(?:early|beginning\s+of|start\s+of)\s+)?next\s+month\b
        |\b(?:early|beginning|start)(?:\s+of)?\s+(?:the\s+)?month\b""",
        _r_next_month,
    ),
    _rule(
        r"""(?:\b(?:в|к|до|ближе\s+к)\s+)?\bсередин\w*\s+(?:(?P<next>следующего|след\.?
        |будущего)\s+|(?:этого|текущего)\s+)?месяц\w*
        |\bmid[-\s]?(?P<next2>next[-\s])?month\b|\b(?:the\s+)?middle\s+of\s+(?:(?P<next3>next)
        \s+|the\s+|this\s+)?month\b""",
        _r_mid_month,
        aliases={"next2": "next", "next3": "next"},
    ),
    _rule(
        r"\b(?:в|со?)\s+(?:следующ\w+|будущ\w+)\s+квартал\w*|\bnext\s+quarter\b", _r_next_quarter
    ),
    _rule(
        r"""\b(?:в|во|с|со)\s+(?P<q>[1-4]|перв\w*|втор\w*|трет\w*|четверт\w*)(?:-?м)?\s+квартал\w*
        |\b(?:in\s+)?q(?P<q2>[1-4])\b""",
        _r_quarter,
        aliases={"q2": "q"},
    ),
    _rule(
        r"""(?:\b(?:в|к|до|под)\s+)?\b(?:конц\w*|конец)\s+(?:этого\s+|текущего\s+)?года\b
        |(?:\b(?:by|at|before|towards?)\s+)?(?:the\s+)?\bend\s+of\s+(?:the\s+|this\s+)?year\b
        |\b(?:year[-\s]end|eoy)\b""",
        _r_year_end,
    ),
    _rule(
        r"""(?:\b(?:в|к|до|с|со|ближе\s+к)\s+)?(?:\b(?P<pos>начал\w*|середин\w*|конц\w*|конец)
        \s+)?\b(?P<mon>январ\w*|феврал\w*|март\w*|апрел\w*|ма[йяею]\b|июн\w*|июл\w*|август\w*
        |сентябр\w*|октябр\w*|ноябр\w*|декабр\w*)(?!\s+[0-9]{1,2}\b)""",
        _r_month_name,
    ),
    _rule(
        rf"""(?:(?:\b(?P<pos>early|beginning\s+of|start\s+of|mid|middle\s+of|late|end\s+of)[-\s]+
        (?:the\s+)?)?(?:\b(?:in|until|till|by)\s+)?\b(?P<mon>{_EN_MONTH_ALONE})
        |\b(?:(?P<pos2>early|beginning\s+of|start\s+of|mid|middle\s+of|late|end\s+of)[-\s]+
        |(?:in|until|till|by)\s+)(?P<mon2>may)\b)(?!\s+(?:the\s+)?[0-9]{{1,2}}(?![0-9]))""",
        _r_month_name,
        aliases={"mon2": "mon", "pos2": "pos"},
    ),
    # Days of the month and dates.
    _rule(
        r"""\b(?P<d>[0-9]{1,2})\s*-?\s*(?:го|ого|е|ое|му|ому)?\s+числ\w*
        |\b(?P<d2>[0-9]{1,2})(?:-|(?=го\b|ого\b|му\b|ому\b))(?:го|ого|е|ое|му|ому)\b
        |\b(?:the\s+)?(?P<d3>[0-9]{1,2})(?:st|nd|rd|th)\b""",
        _r_day_of_month,
        exact=True,
        aliases={"d2": "d", "d3": "d"},
    ),
    _rule(
        rf"""\b(?P<d>[0-9]{{1,2}})(?:\s*-?\s*(?:го|ое|е))?\s+(?P<mon>{_RU_MONTH})
        (?:\s+(?P<y>20[0-9]{{2}})(?:\s*(?:г\.|года|г\b))?)?
        |\b(?:(?P<mon2>{_EN_MONTH})\s+(?:the\s+)?(?P<d2>[0-9]{{1,2}})(?:st|nd|rd|th)?
        |(?:the\s+)?(?P<d3>[0-9]{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon3>{_EN_MONTH}))
        (?![0-9:])(?:,?\s+(?P<y2>20[0-9]{{2}}))?""",
        _r_named_date,
        exact=True,
        aliases={"d2": "d", "d3": "d", "mon2": "mon", "mon3": "mon", "y2": "y"},
    ),
    _rule(
        r"""(?<![0-9.,:/+\-])(?P<d>[0-9]{1,2})(?P<sep>[./])(?P<m>[0-9]{1,2})
        (?:(?P=sep)(?P<y>[0-9]{4}|[0-9]{2}))?
        (?![0-9]|[.,/][0-9]|\s*(?:%|руб|р\b|₽|\$|€|тыс|млн|шт|кг|usd|eur|rub))""",
        _r_numeric_date,
        exact=True,
    ),
    _rule(r"\b(?P<y>20[0-9]{2})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})\b", _r_iso_date, exact=True),
    # Holidays and the new year.
    _rule(
        r"""\b(?:после|с)\s+(?:нового\s+года|нг|новогодн\w+(?:\s+(?:праздник\w*|каникул\w*))?)\b
        |\bafter\s+(?:the\s+)?new\s*year(?:'s)?(?:\s+(?:holidays?|break|day))?
        |\bafter\s+(?:the\s+)?(?:christmas|xmas)\s+and\s+new\s+year(?:'s)?(?:\s+holidays?)?
        |\bin\s+the\s+new\s+year\b""",
        _r_after_new_year,
    ),
    _rule(
        r"""\bв\s+(?:следующем|будущем|новом)\s+году|\bв\s+начале\s+(?:следующего|нового
        |будущего)\s+года|\b(?:early\s+)?next\s+year\b""",
        _r_next_year,
    ),
    _rule(
        r"""\bпосле\s+(?:праздник\w*|майских|выходных\s+праздник\w*)
        |\bafter\s+(?:the\s+)?holidays?\b""",
        _r_after_holidays,
    ),
)


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    rule: _Rule
    match: re.Match[str]


_CLAUSE_BREAK = re.compile(r"[,;.!?()\n]|\s(?:но|а|зато|but|however)\s")
_NEGATION_BEFORE = re.compile(r"(?:\bне|\bnot|n't|\bnever)\s+((?:[\w'.-]+\s+){0,2})$")
_NOT_A_NEGATION = re.compile(r"раньше|ранее|позже|позднее|before|until|till|later|earlier|than")
_NEGATION_AFTER = re.compile(
    r"""^\s*(?:[\w'-]+\s+){0,2}?(?:не\s+(?:получится|успеем|успею|сможем|смогу|выйдет|могу|можем
    |подходит|подойдет|удобно|вариант)|неудобно|won't\s+work|will\s+not\s+work|doesn't\s+work
    |does\s+not\s+work|(?:is\s+)?not\s+possible|isn't\s+possible|won't\s+be\s+possible
    |is\s+no\s+good|is\s+bad)""",
    re.X,
)
_PAST_DEED = re.compile(
    r"""\b(?:получили|получил\w*|оплатили|оплатил\w*|оплачен\w*|отправили|отправил\w*|перевели
    |провели|got|received|paid|sent|did|was|were)\b""",
    re.X,
)
_PROPOSAL = re.compile(
    r"""\b(?:можно|давайте|давай|может|удобно|устроит|подойдет|пойдет|перенес\w*|сдвин\w*
    |отлож\w*|can\s+we|could\s+we|can\s+i|could\s+i|how\s+about|what\s+about|would|works?
    |ok\s+if|okay\s+if|shall\s+we|should\s+we|let's|push|move|postpone)\b""",
    re.X,
)
_AFTER = re.compile(r"\b(?:после|after)\s+(?:the\s+)?$")


def _clause_before(s: str, start: int) -> str:
    head = s[max(0, start - 80) : start]
    breaks = list(_CLAUSE_BREAK.finditer(head))
    return head[breaks[-1].end() :] if breaks else head


def _clause_after(s: str, end: int) -> str:
    tail = s[end : end + 80]
    found = _CLAUSE_BREAK.search(tail)
    return tail[: found.start()] if found else tail


def _sentence_around(s: str, start: int, end: int) -> str:
    left = max(s.rfind(mark, 0, start) for mark in ".!?\n")
    rights = [i for i in (s.find(mark, end) for mark in ".!?\n") if i >= 0]
    right = min(rights) if rights else len(s)
    return s[left + 1 : right + 1]


def _is_negated(s: str, mention: _Mention) -> bool:
    """«не в пятницу», "not this week", «сегодня не успеем»: the date is ruled out, not set.
    «не раньше пятницы», "not before the 10th" still set it."""
    before = _NEGATION_BEFORE.search(_clause_before(s, mention.start))
    if before and not _NOT_A_NEGATION.search(before.group(0)):
        return True
    return bool(_NEGATION_AFTER.match(_clause_after(s, mention.end)))


def _is_question_back(s: str, mention: _Mention) -> bool:
    """A date inside a question counts only when the question proposes it ("How about
    Thursday?", «Можно перенести на пятницу?»), not when it asks about something else
    («Сколько будет стоить доставка в пятницу?»)."""
    sentence = _sentence_around(s, mention.start, mention.end)
    return sentence.rstrip().endswith("?") and not _PROPOSAL.search(sentence)


def _mentions(s: str) -> list[_Mention]:
    """Date phrases in the reply; where two overlap, the longer one is kept."""
    found = [
        _Mention(m.start(), m.end(), rule, m)
        for rule in _RULES
        for m in rule.pattern.finditer(s)
        if m.end() > m.start()
    ]
    kept: list[_Mention] = []
    for mention in sorted(found, key=lambda mention: (mention.start - mention.end, mention.start)):
        if all(mention.end <= other.start or mention.start >= other.end for other in kept):
            kept.append(mention)
    kept.sort(key=lambda mention: mention.start)
    return [
        mention
        for i, mention in enumerate(kept)
        if not (mention.rule.weekday and _beside_exact_date(s, kept, i))
    ]


def _beside_exact_date(s: str, mentions: list[_Mention], i: int) -> bool:
    neighbours = (
        (mentions[i - 1], mentions[i]) if i > 0 else None,
        (mentions[i], mentions[i + 1]) if i + 1 < len(mentions) else None,
    )
    return any(
        pair is not None
        and (pair[0] if pair[1] is mentions[i] else pair[1]).rule.exact
        and not s[pair[0].end : pair[1].start].strip(" ,")
        for pair in neighbours
    )


def _resolve(mention: _Mention, ctx: _Context) -> dt.date | None:
    try:
        when = mention.rule.resolve(mention.rule.groups(mention.match), ctx)
        after = _AFTER.search(ctx.text[max(0, mention.start - 12) : mention.start])
        if when is not None and mention.rule.exact and after:
            when += dt.timedelta(days=1)
    except (OverflowError, ValueError):  # a date beyond the calendar's range: no date
        return None
    return when


def _find_date(s: str, now: dt.datetime) -> dt.date | None:
    """The date the reply sets: the earliest one it proposes, ignoring weak ones ("today", a
    clock time) when it also names a day."""
    ctx = _Context(now=now, text=s)
    strong: list[dt.date] = []
    weak: list[dt.date] = []
    for mention in _mentions(s)[:MAX_DATE_PHRASES]:
        if _is_negated(s, mention) or _is_question_back(s, mention):
            continue
        if mention.rule.weak and _PAST_DEED.search(
            _clause_before(s, mention.start) + " " + _clause_after(s, mention.end)
        ):
            continue  # «сегодня оплатили» reports a deed, it sets no date
        when = _resolve(mention, ctx)
        if when is None or when < ctx.today:
            continue
        (weak if mention.rule.weak else strong).append(when)
    chosen = strong or weak
    return min(chosen) if chosen else None


# --- Yes / no ---------------------------------------------------------------------------------

_YES_STRONG, _YES_WEAK, _NO_STRONG, _NO_WEAK, _UNSURE = "Y", "y", "N", "n", "?"
_FLIP = {_YES_STRONG: _NO_STRONG, _YES_WEAK: _NO_WEAK, _NO_STRONG: _YES_STRONG, _NO_WEAK: _YES_WEAK}


@dataclass(frozen=True)
class _Cue:
    pattern: re.Pattern[str]
    kind: str
    # What a negation in front makes of it: «не в силе» is a no, «не отказываемся» a yes,
    # "not paid yet" says nothing decided. None: the cue already holds its negation.
    negated: str | None


def _cue(pattern: str, kind: str, negated: str | None = "") -> _Cue:
    return _Cue(
        re.compile(pattern, re.X),
        kind,
        _FLIP.get(kind) if negated == "" else negated,
    )


# Ordered: phrases that contain a smaller cue come first and consume their text.
_CUES = (
    _cue(
        r"""\bничего\s+не\s+(?:изменилось|поменялось|менялось)|\bниче\s+не\s+(?:поменялось
        |изменилось)|\bбез\s+изменений|\bnothing(?:'s|\s+has|\s+have)?\s+changed
        |\bno\s+changes\b""",
        _YES_STRONG,
        None,
    ),
    _cue(r"\bнет\s+проблем|\bбез\s+проблем|\bno\s+problem\w*|\bno\s+worries\b", _YES_STRONG, None),
    _cue(
        r"""(?:\b(?:еще|пока)\s+)?\bне\s+(?:решили|решено|определились|знаю|знаем|уверен\w*
        |готовы)\b|\bnot\s+(?:sure|yet\s+decided|decided|yet)\b|\bno\s+decision\b|\b(?:haven't|have\s+not
        |hasn't|has\s+not)\s+(?:yet\s+)?decided|\bundecided\b""",
        _UNSURE,
        None,
    ),
    _cue(r"\bда\s+нет\b", _NO_WEAK, None),
    _cue(
        r"""\bне\s+(?:надо|нужно|нужен|нужна|нужны|интересно|интересует|подходит|будем
        |получится)\b|\bненужно\b|\bнеинтересно\b""",
        _NO_STRONG,
        None,
    ),
    _cue(
        r"""\bnot\s+interested\b|\bno\s+longer\b|\bnot\s+any\s*more\b|\bno\s+thank(?:s|\s+you)\b
        |\b(?:went|go|going|gone|decided\s+to\s+go)\s+with\s+(?:another|a\s+different|other
        |someone\s+else|a\s+competitor)|\b(?:chose|chosen|selected|picked|found|bought|ordered
        |purchased|went\s+for)\s+
        (?:[\w']+\s+){0,2}?(?:another|elsewhere|a\s+different|someone\s+else|cheaper
        |from\s+(?:another|someone))|\bdecided\s+(?:not\s+to|against)\b
        |\bchanged\s+(?:our|my)\s+minds?\b|\b(?:not|won't|will\s+not|aren't|are\s+not
        |not\s+be)\s+(?:going\s+ahead|proceeding|proceed|moving\s+forward|go\s+ahead)\b
        |\b(?:we'll|we\s+will|i'll|i\s+will)\s+pass\b|\bpass\s+on\s+(?:this|it)\b
        |\btoo\s+expensive\b|\bbudget\s+(?:got\s+|was\s+|has\s+been\s+)?(?:cut|slashed|frozen)
        |\bon\s+hold\b|\bnot\s+needed\b|\b(?:don't|do\s+not)\s+need\b
        |\b(?:stop|unsubscribe)\b|\b(?:don't|do\s+not)\s+(?:contact|message|write|email)\b
        |\bremove\s+me\b|\bне\s+(?:беспокойте|пишите|звоните)\b|\bотпиш(?:ите|итесь)\b
        |\bстоп\b""",
        _NO_STRONG,
        None,
    ),
    _cue(
        r"""\bнеактуальн\w*|\bотказ\w*|\bоткаж\w*|\bотмен\w*|\bпередумал\w*|\bпас\b
        |\bснима\w+\s+(?:заявк|заказ|вопрос)\w*|\bзакрыва\w+\s+(?:вопрос|заявк|сделк)\w*
        |\bзаморож\w*|\bзаморозил\w*|\b(?:проект|заказ|закупк\w*)\s+(?:закрыл\w*|закрыт\w*
        |свернул\w*|отменил\w*)|\bнет\s+бюджета|\bбюджет\w*\s+(?:урезал\w*|сократил\w*
        |порезал\w*)|\bдорого\b|\b(?:купили|взяли|заказали|нашли|выбрали)\s+(?:\w+\s+){0,2}?
        (?:в\s+другом|у\s+друг\w*|у\s+конкурент\w*|другого|другую|других|дешевле|в\s+другой)
        |\bcancel\w*""",
        _NO_STRONG,
    ),
    _cue(  # put off with no date: a no for now («не сейчас»), as "on hold" is
        r"""\bпритормоз\w*|\bотлож\w*|\bна\s+паузе?\b|\bпостав\w+\s+на\s+паузу
        |\bhold\s+off\b|\bon\s+ice\b|\bpostpon\w*|\bput\s+(?:it|this)\s+off\b""",
        _NO_STRONG,
        None,
    ),
    _cue(
        r"""\b(?:пока\s+)?думаем|\bподума\w*|\bрешаем\b|\bобсужда\w*|\bобсудим\b|\bсогласовыва\w*
        |\bна\s+согласовании|\bуточн\w*|\bпосоветова\w*|\bвернусь\s+с\s+ответом|\bсообщ(?:у|им)\b
        |\bотпишусь|\bотпишемся|\bнапишу\b|\bнапишем\b|\bпозже\b|\bпопозже\b|\bпотом\b
        |\bна\s+днях\b|\bкогда-нибудь|\bкак-нибудь|\bв\s+отпуске\b
        |\bstill\s+(?:deciding|thinking|discussing|waiting|considering)\b
        |\bthinking\s+(?:about\s+it|it\s+over)|\bdiscuss\w*|\bcheck\s+with\b|\bneed\s+to\s+check
        |\bwaiting\s+(?:on|for)\b|\blet\s+you\s+know\b|\bget\s+back\s+to\s+you\b|\bwill\s+revert
        |\blater\b|\bsome\s*(?:other\s+)?time\b|\bsoon\b|\bmaybe\b|\bperhaps\b|\bon\s+vacation
        |\bout\s+of\s+(?:the\s+)?office""",
        _UNSURE,
        None,
    ),
    _cue(
        r"""\bв\s+силе\b|\bактуальн\w*|\bпо\s+плану\b|\bвсе\s+(?:ок|окей|норм\w*|хорошо
        |в\s+порядке|отлично|так\s+же|также|как\s+договаривались|верно)\b|\bжд[еу]м\s+
        (?:сч[её]т\w*|счет\w*|поставк\w*|отгрузк\w*|договор\w*|доставк\w*|товар\w*)
        |\bоплатим\b|\bоплачиваем\b|\bберем\b|\bберу\b|\bбрать\b|\bвзять\b|\bвозьмем\b|\bвозьму\b|\bзабираем\b
        |\bзаберем\b|\bконечн\w*|\bразумеется\b|\bбезусловно\b|\bсогласн\w*|\bсогласовал\w*
        |\bсогласован\w*|\bподтвержда\w*|\bподтвердил\w*|\bдоговорились\b|\bгодится\b
        |\bвыставляйте\b|\bприсылайте\b|\bотправляйте\b|\bотгружайте\b|\bоформляем\b
        |\bоформляйте\b|\bзаказываем\b|\bрешили\s+(?:брать|взять|заказать)\b
        |\b(?:идем|двигаемся)\s+дальше\b""",
        _YES_STRONG,
    ),
    _cue(r"\bоплатили\b|\bоплачен\w*|\bоплатил\w*|\bpaid\b", _YES_STRONG, _UNSURE),
    _cue(
        r"""\bstill\s+(?:on|good|valid|interested)\b|\b(?:all|we're\s+all|everything(?:'s|\s+is)?)
        \s+good\b|\bgo\s+ahead\b|\bproceed\b|\bconfirm\w*|\babsolutely\b|\bdefinitely\b
        |\bof\s+course\b|\bcertainly\b|\b(?:going\s+ahead|moving\s+forward|proceeding)\b|\bsounds\s+(?:good|great)\b|\blooks\s+good\b
        |\bworks\s+for\s+(?:us|me)\b|\bgood\s+to\s+go\b|\blet's\s+(?:do\s+it|go)\b|\bwe're\s+in\b
        |\bcount\s+us\s+in\b|\bon\s+track\b|\b(?:we'll|we\s+will|i'll|i\s+will)\s+(?:take|pay
        |buy|order)\b|\bapproved\b|\bagreed\b|\bdeal\b|\byes\s+please\b|\binterested\b""",
        _YES_STRONG,
    ),
    _cue(
        r"""\bнет\b|\bнеа\b|\bне-а\b|\bне+е+т\b|\bне\s+сейчас\b|\bне\b(?=\s*(?:[,.!)]|$))
        |\bno\b|\bnope\b|\bnah\b|\bnot\s+(?:right\s+)?now\b|\bnot\s+at\s+the\s+moment\b
        |👎|❌|🚫|⛔|🙅""",
        _NO_WEAK,
        None,
    ),
    _cue(
        r"""\bда+\b|\bда-да\b|\bага\b|\bугу\b|\bок\b|\bоке\b|\bокей\b|\bокс\b|\bлады\b
        |\bдобро\b|\bхорошо\b|\bладно\b|\bнорм\w*
        |\bточно\b|\bверно\b|(?:^|[,.!;]\s*)давай(?:те)?\s*(?=[,.!;)]|$)
        |\bye+s+\b|\byeah\b|\byep\b|\byup\b|\bok\b|\bokay\b|\bk\b|\bsure\b|\bfine\b|\balright\b
        |(?:^|\s)\+(?:1)?(?=\s|$)|👍|👌|✅|✔|🤝|🆗|💯|🙌""",
        _YES_WEAK,
        None,
    ),
)

_NEGATED_CUE = re.compile(
    r"""(?:\bне|\bни|\bnot|n't|\bnever)\s+(?:(?:уже|так|очень|особо|больше|совсем|пока|то
    |будем|будут|буду|станем|хотим|планируем|собираемся|really|yet|very|so|be|been|anymore
    |going\s+to|want\s+to|plan\s+to|to)\s+)?$""",
    re.X,
)
_LEADING_ANSWER = re.compile(r"^\s*(?:да|нет|yes|no|ok|ок|конечно|sure)\s*,")


def _without_questions(s: str) -> str:
    """The reply with its questions back blanked out: «Заказ в силе?» asks, it does not
    answer. A leading «да,»/"yes," before a question still answers."""
    parts: list[str] = []
    for sentence in re.findall(r"[^.!?\n]*[.!?\n]*", s):
        if "?" in sentence:
            leading = _LEADING_ANSWER.match(sentence)
            kept = leading.group(0) if leading else ""
            sentence = kept + " " * (len(sentence) - len(kept))
        parts.append(sentence)
    return "".join(parts)


def _cues(s: str) -> list[tuple[int, str]]:
    """(position, kind) for every yes/no/unsure cue outside questions."""
    answers = _without_questions(s)
    work = answers  # cues found are blanked out of it, so that a phrase counts once
    found: list[tuple[int, str]] = []
    for cue in _CUES:
        for m in cue.pattern.finditer(work):
            if m.end() == m.start():
                continue
            kind = cue.kind
            if cue.negated is not None and _NEGATED_CUE.search(
                answers[max(0, m.start() - 30) : m.start()]
            ):
                kind = cue.negated
            found.append((m.start(), kind))
        work = cue.pattern.sub(lambda m: " " * len(m.group(0)), work)
    return sorted(found)


def _decide(s: str) -> str:
    """Strong cues outweigh weak ones; doubt («пока думаем») outweighs a weak yes; a bare
    «нет» with doubt («нет, может когда-нибудь потом») is still a no."""
    cues = _cues(s)
    kinds = [kind for _, kind in cues]
    yes_strong, no_strong = kinds.count(_YES_STRONG), kinds.count(_NO_STRONG)
    if yes_strong or no_strong:
        if yes_strong != no_strong:
            return YES if yes_strong > no_strong else NO
        last = next(kind for _, kind in reversed(cues) if kind in (_YES_STRONG, _NO_STRONG))
        return YES if last == _YES_STRONG else NO
    yes_weak, no_weak = kinds.count(_YES_WEAK), kinds.count(_NO_WEAK)
    if no_weak and not yes_weak:
        return NO
    if _UNSURE in kinds:
        return OTHER
    if yes_weak and not no_weak:
        return YES
    return OTHER
