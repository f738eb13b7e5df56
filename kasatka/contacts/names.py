"""Russian personal names: gender inference and declension by case, built on petrovich."""

# Russian words are the subject here, so Cyrillic letters in strings are meant.

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

import petrovich
from petrovich.enums import Case
from petrovich.main import Petrovich

MALE: Final = "male"
FEMALE: Final = "female"
UNKNOWN: Final = ""
_ANDROGYNOUS: Final = "androgynous"

NOMINATIVE: Final = -1
CASES: dict[str, int] = {
    "nominative": NOMINATIVE,
    "genitive": int(Case.GENITIVE),
    "dative": int(Case.DATIVE),
    "accusative": int(Case.ACCUSATIVE),
    "instrumental": int(Case.INSTRUMENTAL),
    "prepositional": int(Case.PREPOSITIONAL),
    "именительный": NOMINATIVE,
    "родительный": int(Case.GENITIVE),
    "дательный": int(Case.DATIVE),
    "винительный": int(Case.ACCUSATIVE),
    "творительный": int(Case.INSTRUMENTAL),
    "предложный": int(Case.PREPOSITIONAL),
}

Part = Literal["first", "last", "middle"]
_PETROVICH_PART: Final[dict[str, str]] = {
    "first": "firstname",
    "last": "lastname",
    "middle": "middlename",
}

_GENDER_ALIASES: Final[dict[str, str]] = {
    "male": MALE,
    "m": MALE,
    "м": MALE,
    "муж": MALE,
    "мужской": MALE,
    "female": FEMALE,
    "f": FEMALE,
    "ж": FEMALE,
    "жен": FEMALE,
    "женский": FEMALE,
}

_RULES_DIR: Final = Path(petrovich.__file__).resolve().parent / "rules"
_CYRILLIC: Final = re.compile(r"[а-яё]", re.IGNORECASE)
_SEGMENT_SPLIT: Final = re.compile(r"([\s\-]+)")
_EDGE_SPACE: Final = re.compile(r"^(\s*)(.*?)(\s*)$", re.DOTALL)


def normalize_gender(value: object) -> str:
    """MALE, FEMALE or UNKNOWN from a stored value such as 'male', 'F' or 'ж'."""
    if not isinstance(value, str):
        return UNKNOWN
    return _GENDER_ALIASES.get(value.strip().lower(), UNKNOWN)


# --- gender inference -------------------------------------------------------


class _GenderRules:
    """Exact words and suffixes of one name part, each mapped to the gender it signals."""

    def __init__(self) -> None:
        self.words: dict[str, str] = {}
        self.suffixes: dict[str, str] = {}
        self.lengths: tuple[int, ...] = ()

    def add(self, table: dict[str, str], gender: str, entries: Iterable[object]) -> None:
        for entry in entries:
            if not isinstance(entry, str) or not entry:
                continue
            key = entry.lower()
            # A suffix listed for two genders decides nothing.
            table[key] = gender if table.get(key, gender) == gender else _ANDROGYNOUS

    def finish(self) -> _GenderRules:
        self.lengths = tuple(sorted({len(s) for s in self.suffixes}, reverse=True))
        return self

    def lookup(self, word: str) -> str | None:
        """The gender (possibly androgynous) the word signals, or None if no rule matches."""
        found = self._lookup(word)
        if found is None and "ё" in word:
            # «Семён» is as often written «Семен»; the rules spell some words one way only.
            found = self._lookup(word.replace("ё", "е"))
        return found

    def _lookup(self, word: str) -> str | None:
        found = self.words.get(word)
        if found is not None:
            return found
        # The longest matching suffix is the most specific rule.
        for length in self.lengths:
            if length <= len(word):
                found = self.suffixes.get(word[-length:])
                if found is not None:
                    return found
        return None


def _parse_simple_yaml(text: str) -> dict[str, Any]:
    """Read the nested-keys-and-lists subset of YAML that petrovich's gender.yml is written in."""
    root: dict[str, Any] = {}
    # Open mappings with the indentation of their keys (unknown for the root until seen).
    stack: list[tuple[int | None, dict[str, Any]]] = [(None, root)]
    pending: tuple[str, int, dict[str, Any]] | None = None
    current_list: list[str] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if body.startswith("- "):
            if current_list is None:
                if pending is None or indent < pending[1]:
                    raise ValueError(f"list item without a key: {raw!r}")
                current_list = []
                pending[2][pending[0]] = current_list
                pending = None
            current_list.append(body[2:].strip().strip("'\""))
            continue
        if not body.endswith(":") or " " in body[:-1].strip():
            raise ValueError(f"unsupported YAML line: {raw!r}")
        current_list = None
        if pending is not None:
            if indent > pending[1]:
                child: dict[str, Any] = {}
                pending[2][pending[0]] = child
                stack.append((indent, child))
            else:
                pending[2][pending[0]] = None
        while len(stack) > 1 and (stack[-1][0] or 0) > indent:
            stack.pop()
        if stack[-1][0] is None:
            stack[-1] = (indent, stack[-1][1])
        if stack[-1][0] != indent:
            raise ValueError(f"bad indentation: {raw!r}")
        pending = (body[:-1].strip(), indent, stack[-1][1])
    if pending is not None:
        pending[2][pending[0]] = None
    return root


# Everyday short forms that neither edition lists and whose «-а»/«-я» ending
# would otherwise read as female.
_EXTRA_FIRST_NAMES: Final[dict[str, str]] = {
    **dict.fromkeys(
        (
            "паша лёша леша алёша алеша гоша гриша кеша рома тёма сёма сема стёпа федя сеня"
            " лёня леня илюша андрюша серёжа сережа"
        ).split(),
        MALE,
    ),
    **dict.fromkeys(("слава", "валя", "шура"), _ANDROGYNOUS),
}


def _add_rules(result: dict[str, _GenderRules], data: object) -> bool:
    """Add either shape of petrovich gender data to result; False if it is neither.

    gender.yml groups each part into exceptions (whole words) and suffixes;
    gender.json flattens both into one list per gender, so there every entry
    counts as a suffix (a whole word is just its own longest suffix).
    """
    if not isinstance(data, dict) or not isinstance(data.get("gender"), dict):
        return False
    for part in ("firstname", "middlename", "lastname"):
        spec = data["gender"].get(part)
        if not isinstance(spec, dict):
            return False
        rules = result.setdefault(part, _GenderRules())
        if "exceptions" in spec or "suffixes" in spec:
            groups = (("exceptions", rules.words), ("suffixes", rules.suffixes))
            for group, table in groups:
                by_gender = spec.get(group) or {}
                if not isinstance(by_gender, dict):
                    return False
                for gender, entries in by_gender.items():
                    if isinstance(entries, list):
                        rules.add(table, str(gender), entries)
        else:
            for gender, entries in spec.items():
                if isinstance(entries, list):
                    rules.add(rules.suffixes, str(gender), entries)
    return True


@lru_cache(maxsize=1)
def _gender_rules() -> dict[str, _GenderRules]:
    # petrovich 2.0.1 ships two editions of the gender rules: gender.json is a
    # flat list per gender without exceptions (it calls «Никита» androgynous and
    # would make «Илья», «Миша» female), gender.yml keeps the whole-word
    # exceptions but lacks some suffixes the JSON has (e.g. «-рь», «-овь»).
    # Both are read; exceptions win over suffixes, longer suffixes over shorter.
    result: dict[str, _GenderRules] = {}
    loaded = False
    sources = (
        ("gender.yml", _parse_simple_yaml),
        ("gender.json", json.loads),
    )
    for filename, parse in sources:
        try:
            data = parse((_RULES_DIR / filename).read_text("utf-8"))
        except (OSError, ValueError):
            continue
        loaded = _add_rules(result, data) or loaded
    if not loaded:
        raise RuntimeError(f"no usable petrovich gender rules in {_RULES_DIR}")
    for word, gender in _EXTRA_FIRST_NAMES.items():
        result["firstname"].words.setdefault(word, gender)
    for rules in result.values():
        rules.finish()
    return result


def _segments(value: str) -> list[str]:
    return [s for s in re.split(r"[\s\-]+", value.strip().lower()) if s]


def _gender_of(part: str, value: str) -> str | None:
    """The first decisive gender among the segments of a name, androgynous, or None."""
    if not value or not value.strip():
        return None
    rules = _gender_rules()[part]
    whole = " ".join(_segments(value))
    found = rules.lookup(whole)
    seen_androgynous = found == _ANDROGYNOUS
    if found in (MALE, FEMALE):
        return found
    for segment in _segments(value):
        found = rules.lookup(segment)
        if found in (MALE, FEMALE):
            return found
        seen_androgynous = seen_androgynous or found == _ANDROGYNOUS
    return _ANDROGYNOUS if seen_androgynous else None


def infer_gender(first_name: str = "", patronymic: str = "", last_name: str = "") -> str:
    """MALE or FEMALE from the patronymic, else the first name, else the last name; or UNKNOWN."""
    for part, value in (
        ("middlename", patronymic),
        ("firstname", first_name),
        ("lastname", last_name),
    ):
        found = _gender_of(part, value if isinstance(value, str) else "")
        if found in (MALE, FEMALE):
            return found
    return UNKNOWN


# --- declension -------------------------------------------------------------


def _engine_data(base: dict[str, Any], gender: str) -> dict[str, Any]:
    """petrovich's rules rewritten so petrovich 2.0.1 applies them as the rule authors meant.

    In the reference implementations a rule tagged androgynous applies to every
    gender and a '.' modifier means "leave the word as it is" (ending the search).
    petrovich 2.0.1 instead skips androgynous rules for a given gender (so a
    man's «Никита» is not declined at all) and treats '.' as "try the next rule".
    """
    data = copy.deepcopy(base)
    for part in data.values():
        for group in part.values():
            for rule in group:
                if rule.get("gender") == _ANDROGYNOUS:
                    rule["gender"] = gender
                rule["mods"] = ["" if mod == "." else mod for mod in rule["mods"]]
    return data


class _Inflector:
    """One petrovich instance whose rules are prepared for a single gender."""

    def __init__(self, gender: str) -> None:
        self._gender = gender
        self._petrovich = Petrovich()
        self._petrovich.data = _engine_data(self._petrovich.data, gender)

    def inflect(self, word: str, part: str, case: int) -> str:
        if part == "firstname":
            result = self._petrovich.firstname(word, case, self._gender)
        elif part == "lastname":
            result = self._petrovich.lastname(word, case, self._gender)
        else:
            result = self._petrovich.middlename(word, case, self._gender)
        if not isinstance(result, str):
            return word
        return _spelling_fixed(word, result, part)


def _common_prefix_length(a: str, b: str) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


def _spelling_fixed(word: str, inflected: str, part: str) -> str:
    """Russian spelling applied to an ending petrovich glued on without it.

    petrovich's rules have no masculine rule for «-ша», «-жа» (so «Сашы»,
    «Мишой»); after ж, ш, ч, щ, г, к, х Russian always writes «и», never «ы»,
    and an unstressed ending after a hushing consonant is «-ей» — first names
    in «-ша», «-жа», «-ча» are unstressed at the end.
    """
    stem_length = _common_prefix_length(word, inflected)
    stem, ending = inflected[:stem_length], inflected[stem_length:]
    if not stem:
        return inflected
    if stem[-1] in "жшчщгкх" and ending.startswith("ы"):
        ending = "и" + ending[1:]
    if part == "firstname" and stem[-1] in "жшчщ" and ending == "ой":
        ending = "ей"
    return stem + ending


@lru_cache(maxsize=3)
def _inflector(gender: str) -> _Inflector:
    return _Inflector(gender)


def _case_index(case: str) -> int:
    key = case.strip().lower() if isinstance(case, str) else case
    if not isinstance(key, str) or key not in CASES:
        raise ValueError(f"unknown grammatical case: {case!r}")
    return CASES[key]


def _with_casing_of(original: str, inflected: str) -> str:
    """The inflected lower-case word written in the letter case of the original."""
    common = _common_prefix_length(original.lower(), inflected)
    tail = inflected[common:]
    if original.isupper() and len(original) > 1:
        tail = tail.upper()
    return original[:common] + tail


def _inflect_word(word: str, part: str, case: int, gender: str) -> str:
    if not _CYRILLIC.search(word):
        return word
    lower = word.lower()
    try:
        if gender == _ANDROGYNOUS:
            # petrovich's androgynous rules are few («Сашы»); where both genders
            # decline the word alike, the gender does not matter and that form is right.
            as_male = _inflector(MALE).inflect(lower, part, case)
            agreed = as_male == _inflector(FEMALE).inflect(lower, part, case)
            inflected = as_male if agreed else _inflector(gender).inflect(lower, part, case)
        else:
            inflected = _inflector(gender).inflect(lower, part, case)
    except (ValueError, IndexError, KeyError, TypeError):
        # petrovich rejects some degenerate words; the name is still usable as written.
        return word
    return _with_casing_of(word, inflected)


def _split_keep(value: str) -> Iterator[str]:
    return (s for s in _SEGMENT_SPLIT.split(value) if s)


def inflect(value: str, part: Part | str, case: str, gender: str) -> str:
    """The name part ('first', 'last' or 'middle') in the given case; Latin names stay as written.

    An unknown gender is inferred from the value itself, else petrovich's
    androgynous rules apply. Raises ValueError for an unknown case or part.
    """
    if not isinstance(value, str):
        return ""
    return _inflect_cached(value, part, case, gender)


# Names repeat (a shop has many Анна and Иван): declining each once saves the engine
# most of petrovich's rule matching when it renders a batch.
@lru_cache(maxsize=16384)
def _inflect_cached(value: str, part: Part | str, case: str, gender: str) -> str:
    case_index = _case_index(case)
    petrovich_part = _PETROVICH_PART.get(part)
    if petrovich_part is None:
        raise ValueError(f"unknown name part: {part!r}")
    if not isinstance(value, str) or not value.strip():
        return ""
    if case_index == NOMINATIVE:
        return value
    resolved = normalize_gender(gender)
    if resolved == UNKNOWN:
        guessed = _gender_of(petrovich_part, value)
        resolved = guessed if guessed in (MALE, FEMALE) else _ANDROGYNOUS
    match = _EDGE_SPACE.match(value)
    lead, core, trail = match.groups() if match else ("", value, "")
    # Each part of a double name («Римский-Корсаков», «Анна-Мария») declines on its own.
    words = [
        piece
        if _SEGMENT_SPLIT.fullmatch(piece)
        else _inflect_word(piece, petrovich_part, case_index, resolved)
        for piece in _split_keep(core)
    ]
    return lead + "".join(words) + trail


_ORDER_PARTS: Final[dict[str, Part]] = {
    "first": "first",
    "middle": "middle",
    "patronymic": "middle",
    "last": "last",
}


def full_name_in(
    case: str,
    gender: str,
    last: str = "",
    first: str = "",
    patronymic: str = "",
    order: str = "first middle",
) -> str:
    """The name in a case, parts in the given order ('first', 'middle', 'last'), empties skipped.

    An unknown gender is inferred from all three parts together.
    """
    resolved = normalize_gender(gender) or infer_gender(first, patronymic, last)
    values: dict[Part, str] = {"first": first, "middle": patronymic, "last": last}
    pieces: list[str] = []
    for token in order.split():
        part = _ORDER_PARTS.get(token.lower())
        if part is None:
            raise ValueError(f"unknown name part in order: {token!r}")
        piece = inflect(values[part], part, case, resolved).strip()
        if piece:
            pieces.append(piece)
    return " ".join(pieces)
