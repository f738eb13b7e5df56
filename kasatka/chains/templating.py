"""Marketer-written message templates: a strict Jinja2 sandbox, their validation and rendering."""

# Greetings are Russian words, so Cyrillic letters in strings are meant.

from __future__ import annotations

import contextvars
import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, ClassVar, Final

from jinja2 import (
    Environment,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    meta,
    nodes,
    pass_environment,
    pass_eval_context,
)
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.filters import (
    do_batch,
    do_center,
    do_format,
    do_indent,
    do_join,
    do_replace,
    do_slice,
    do_wordwrap,
)
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from kasatka.contacts import names

# Bounds on what one render may build; a marketer's message never comes near them.
MAX_SOURCE_LENGTH: Final = 100_000
MAX_OUTPUT_LENGTH: Final = 200_000
MAX_TEXT_LENGTH: Final = 100_000
MAX_RANGE: Final = 1000
MAX_LOOP_ITERATIONS: Final = 10_000
MAX_WIDTH: Final = 1000
_MAX_INT_BITS: Final = 4096

_DATE_FIELDS: Final = frozenset("year month day weekday isoweekday isoformat strftime".split())

KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "contact": frozenset(
        (
            "first_name last_name patronymic full_name name gender company birthday stage"
            " language name_in full_name_in first_name_in last_name_in gendered dear greeting"
        ).split()
    ),
    "business": frozenset("name phone email address website".split()),
    "seller": frozenset("first_name last_name full_name phone email".split()),
    "deal": frozenset("title amount".split()),
    "unsubscribe_url": frozenset(),
    "preferences_url": frozenset(),
    # The contact's personal link to the business's Telegram bot; empty without a bot.
    "telegram_link": frozenset(),
    # One-click answers to the lead-conversion question; empty without an open window.
    "lead_answers": frozenset("competitor not_relevant not_ripe".split()),
    # The question a seller throws about a stuck deal (the nudge chain's step).
    "nudge_text": frozenset(),
    "today": _DATE_FIELDS,
}

# Methods a template must call, with how many arguments they take (least, most).
_METHOD_ARITY: Final[dict[tuple[str, str], tuple[int, int]]] = {
    ("contact", "name_in"): (1, 1),
    ("contact", "full_name_in"): (1, 1),
    ("contact", "first_name_in"): (1, 1),
    ("contact", "last_name_in"): (1, 1),
    ("contact", "gendered"): (2, 3),
    ("today", "weekday"): (0, 0),
    ("today", "isoweekday"): (0, 0),
    ("today", "isoformat"): (0, 0),
    ("today", "strftime"): (1, 1),
}
_CASE_METHODS: Final = frozenset({"name_in", "full_name_in", "first_name_in", "last_name_in"})

# Attributes of values other than the views (strings, dates, loop, dicts built
# in the template) that a template may use; everything else — str.format,
# str.ljust and any dunder — stays out of reach.
_SAFE_ATTRS: Final = frozenset(
    (
        # str
        "upper lower title capitalize strip lstrip rstrip startswith endswith split rsplit"
        " splitlines count find isdigit isalpha"
        # dict
        " items keys values get"
        # the difference of two dates
        " days"
        # the loop variable
        " index index0 revindex revindex0 first last length previtem nextitem cycle depth"
        " depth0 changed"
    ).split()
).union(_DATE_FIELDS)
# A local name ({% set c = contact %}) may stand for any root, so statically an
# attribute of a non-root value is allowed if any root or safe value has it.
_ANY_KNOWN_ATTR: Final = _SAFE_ATTRS.union(*KNOWN_FIELDS.values())

# Filters that take an attribute name to read from each item.
_ATTRIBUTE_FILTERS: Final = frozenset(
    {"map", "sort", "groupby", "sum", "unique", "min", "max", "selectattr", "rejectattr"}
)


class TemplateError(ValueError):
    """A template that cannot be used, with the line it fails on when known."""

    def __init__(self, message: str, lineno: int | None = None) -> None:
        super().__init__(message, lineno)
        self.message = message
        self.lineno = lineno

    def __str__(self) -> str:
        if self.lineno is None:
            return self.message
        return f"line {self.lineno}: {self.message}"


# --- what templates see ------------------------------------------------------


class _View:
    """A read-only face of some object: templates reach only FIELDS, nothing of the object."""

    ROOT: ClassVar[str] = ""
    FIELDS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, source: object = None) -> None:
        self._source = source

    def _raw(self, name: str) -> object:
        source = self._source
        if source is None:
            return None
        if isinstance(source, Mapping):
            return source.get(name)
        return getattr(source, name, None)

    def _text(self, *candidates: str) -> str:
        """The first non-empty of the named attributes, as stripped text."""
        for name in candidates:
            value = self._raw(name)
            # Methods of the wrapped object are never called from a template.
            if value is None or callable(value):
                continue
            text = str(value).strip()
            if text:
                return text
        return ""

    def __repr__(self) -> str:
        return f"<{self.ROOT}>"


class ContactView(_View):
    """The contact a message is rendered for, with names declined on request."""

    ROOT = "contact"
    FIELDS = KNOWN_FIELDS["contact"]

    def __init__(self, source: object = None, *, default_language: str = "") -> None:
        super().__init__(source)
        self.first_name = self._text("first_name")
        self.last_name = self._text("last_name")
        self.patronymic = self._text("patronymic")
        self.company = self._text("company")
        self.stage = self._text("stage")
        self.language = (self._text("language") or default_language or "ru").lower()
        self.birthday = _as_date(self._raw("birthday"))
        self.gender = names.normalize_gender(self._raw("gender")) or names.infer_gender(
            self.first_name, self.patronymic, self.last_name
        )

    def __str__(self) -> str:
        return self.full_name

    @property
    def _english(self) -> bool:
        return re.split(r"[-_]", self.language, maxsplit=1)[0] == "en"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.last_name, self.first_name, self.patronymic) if p)

    @property
    def name(self) -> str:
        """First name and patronymic, the polite Russian form of address."""
        if not self.first_name:
            return ""
        return " ".join(p for p in (self.first_name, self.patronymic) if p)

    def name_in(self, case: str) -> str:
        if not self.first_name:
            return ""
        return names.full_name_in(
            case, self.gender, first=self.first_name, patronymic=self.patronymic
        )

    def full_name_in(self, case: str) -> str:
        return names.full_name_in(
            case,
            self.gender,
            last=self.last_name,
            first=self.first_name,
            patronymic=self.patronymic,
            order="last first middle",
        )

    def first_name_in(self, case: str) -> str:
        return names.inflect(self.first_name, "first", case, self.gender)

    def last_name_in(self, case: str) -> str:
        return names.inflect(self.last_name, "last", case, self.gender)

    def gendered(self, masculine: object, feminine: object, neutral: object = None) -> object:
        if self.gender == names.MALE:
            return masculine
        if self.gender == names.FEMALE:
            return feminine
        return f"{masculine}/{feminine}" if neutral is None else neutral

    @property
    def dear(self) -> str:
        if self._english:
            return "Dear"
        return str(self.gendered("Уважаемый", "Уважаемая", "Уважаемый(ая)"))

    @property
    def greeting(self) -> str:
        if self._english:
            return f"Dear {self.first_name}" if self.first_name else "Hello"
        return f"{self.dear} {self.name}" if self.first_name else "Здравствуйте"


class BusinessView(_View):
    """The business sending the message."""

    ROOT = "business"
    FIELDS = KNOWN_FIELDS["business"]

    def __init__(self, source: object = None) -> None:
        super().__init__(source)
        self.name = self._text("name")
        self.phone = self._text("phone")
        self.email = self._text("email")
        self.address = self._text("address", "postal_address")
        self.website = self._text("website")
        self.language = self._text("language")

    def __str__(self) -> str:
        return self.name


class SellerView(_View):
    """The seller in charge of the contact, for signatures."""

    ROOT = "seller"
    FIELDS = KNOWN_FIELDS["seller"]

    def __init__(self, source: object = None) -> None:
        super().__init__(source)
        self.first_name = self._text("first_name")
        self.last_name = self._text("last_name")
        self.phone = self._text("phone")
        self.email = self._text("email")
        composed = " ".join(p for p in (self.first_name, self.last_name) if p)
        self.full_name = composed or self._text("full_name")

    def __str__(self) -> str:
        return self.full_name


class DealView(_View):
    """The deal a message is about, when there is one."""

    ROOT = "deal"
    FIELDS = KNOWN_FIELDS["deal"]

    def __init__(self, source: object = None) -> None:
        super().__init__(source)
        self.title = self._text("title")
        amount = self._raw("amount")
        self.amount = amount if isinstance(amount, int | float | Decimal) else None

    def __str__(self) -> str:
        return self.title


class LeadAnswersView(_View):
    """The contact's one-click answers to "how are things?" at the end of the lead window."""

    ROOT = "lead_answers"
    FIELDS = KNOWN_FIELDS["lead_answers"]

    def __init__(self, source: object = None) -> None:
        super().__init__(source)
        self.competitor = self._text("competitor")
        self.not_relevant = self._text("not_relevant")
        self.not_ripe = self._text("not_ripe")

    def __str__(self) -> str:
        return ""


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def build_context(
    contact: object,
    business: object = None,
    seller: object = None,
    **extra: object,
) -> dict[str, object]:
    """The variables of a render: contact, business, seller and deal wrapped in views, and today."""
    business_view = business if isinstance(business, BusinessView) else BusinessView(business)
    contact_view = (
        contact
        if isinstance(contact, ContactView)
        else ContactView(contact, default_language=business_view.language)
    )
    seller_view = seller if isinstance(seller, SellerView) else SellerView(seller)
    deal = extra.pop("deal", None)
    today = extra.pop("today", None)
    answers = extra.pop("lead_answers", None)
    context: dict[str, object] = dict(extra)
    # Empty unless the caller knows the business's bot (the engine does): a preview of a
    # template that offers the link renders rather than fails.
    context.setdefault("telegram_link", "")
    context.setdefault("nudge_text", "")
    context.update(
        contact=contact_view,
        business=business_view,
        seller=seller_view,
        deal=deal if isinstance(deal, DealView) else DealView(deal),
        # Empty links unless the engine knows the contact's open window.
        lead_answers=answers if isinstance(answers, LeadAnswersView) else LeadAnswersView(answers),
        today=_as_date(today) or date.today(),
    )
    return context


# --- the sandbox -------------------------------------------------------------


class _Budget:
    """What is left of one render's allowance of loop iterations."""

    def __init__(self) -> None:
        self.iterations = MAX_LOOP_ITERATIONS

    def iterate(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.iterations -= 1
            if self.iterations < 0:
                raise TemplateError(
                    f"loops may repeat at most {MAX_LOOP_ITERATIONS} times in one message"
                )
            yield item


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "kasatka_template_budget", default=None
)
_LOOP_GUARD: Final = "_loop_guard"


def _loop_guard(value: Any) -> Any:
    budget = _budget.get()
    return value if budget is None else budget.iterate(value)


def _check_length(length: int, what: str = "text") -> None:
    if length > MAX_TEXT_LENGTH:
        raise TemplateError(f"{what} longer than {MAX_TEXT_LENGTH} characters")


def _check_width(width: object) -> None:
    size = len(width) if isinstance(width, str) else width
    if isinstance(size, int) and size > MAX_WIDTH:
        raise TemplateError(f"widths above {MAX_WIDTH} are not allowed")


_PRINTF_SPEC: Final = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_printf(pattern: str) -> None:
    """Refuse %-format widths that would build huge strings ('%999999999s')."""
    for width, precision in _PRINTF_SPEC.findall(pattern):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_WIDTH):
                raise TemplateError(f"format widths above {MAX_WIDTH} are not allowed")


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise TemplateError(f"range() may give at most {MAX_RANGE} numbers")
    return numbers


def _date_filter(value: object, pattern: str = "%d.%m.%Y") -> str:
    """{{ contact.birthday|date('%d.%m') }}; empty for a missing date."""
    if value is None or value == "":
        return ""
    as_date = value if isinstance(value, date) else _as_date(value)
    if as_date is None:
        raise TemplateError(f"the date filter needs a date, not {type(value).__name__}")
    _check_length(len(pattern), "date format")
    return as_date.strftime(pattern)


def _finalize(value: object) -> object:
    # A missing optional value (a deal's amount, a birthday) prints as nothing, not "None".
    return "" if value is None else value


def _center(value: str, width: int = 80) -> str:
    _check_width(width)
    return do_center(value, width)


def _indent(value: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    _check_width(width)
    text = str(value)
    per_line = len(width) if isinstance(width, str) else width
    _check_length(len(text) + (text.count("\n") + 1) * max(0, per_line))
    return do_indent(value, width, first, blank)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _check_width(linecount)
    batches: Iterator[list[Any]] = do_batch(value, linecount, fill_with)
    return batches


def _slice(value: Iterable[Any], slices: int, fill_with: Any = None) -> Iterator[list[Any]]:
    _check_width(slices)
    pieces: Iterator[list[Any]] = do_slice(value, slices, fill_with)
    return pieces


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    _check_printf(str(value))
    return do_format(value, *args, **kwargs)


@pass_environment
def _wordwrap(
    environment: Environment,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    # Every character may end a line, and a long wrapstring multiplies the text.
    _check_length(len(s) * max(0, len(wrapstring or "\n") - 1))
    return do_wordwrap(environment, s, width, break_long_words, wrapstring, break_on_hyphens)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None) -> str:
    text = str(s)
    hits = len(text) + 1 if old == "" else text.count(str(old))
    if count is not None and count >= 0:
        hits = min(hits, count)
    _check_length(len(text) + hits * max(0, len(str(new)) - len(str(old))))
    return do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def _join(
    eval_ctx: EvalContext, value: Iterable[Any], d: str = "", attribute: str | int | None = None
) -> str:
    items = list(value)
    _check_length(len(items) * len(str(d)))
    return str(do_join(eval_ctx, items, d, attribute))


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator with the ~ operator routed through a length check."""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.checked_join({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(SandboxedEnvironment):
    """The sandbox: views expose only their fields, other values a short safe list."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # Every loop draws on the render's iteration budget, so nested loops stay bounded.
        for loop in tree.find_all(nodes.For):
            guarded = nodes.Filter(loop.iter, _LOOP_GUARD, [], [], None, None, lineno=loop.lineno)
            guarded.set_environment(self)
            loop.iter = guarded
        return tree

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, _View):
            return attr in obj.FIELDS
        return attr in _SAFE_ATTRS and super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, _View):
            return _view_field(obj, attribute)
        if attribute not in _SAFE_ATTRS:
            return self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, _View):
            return _view_field(obj, argument)
        if isinstance(argument, str) and argument not in _SAFE_ATTRS:
            # Items of dicts, never attributes: super() would fall back to getattr.
            try:
                return obj[argument]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=argument)
        return super().getitem(obj, argument)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def checked_join(self, join: Callable[[Iterable[Any]], str], parts: Iterable[Any]) -> str:
        result = join(parts)
        _check_length(len(result))
        return result


def _view_field(view: _View, name: object) -> Any:
    if not isinstance(name, str):
        raise TemplateError(f"unknown field '{view.ROOT}[{name!r}]'")
    if name not in view.FIELDS:
        raise TemplateError(f"unknown field '{view.ROOT}.{name}'")
    return getattr(view, name)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_binop(operator: str, left: Any, right: Any) -> None:
    sequences = (str, list, tuple)
    if operator == "**" and _is_int(left) and _is_int(right) and abs(left) > 1:
        if right > 0 and left.bit_length() * right > _MAX_INT_BITS:
            raise TemplateError("number too large")
    elif operator == "*":
        if isinstance(left, sequences) and _is_int(right):
            _check_length(len(left) * right)
        elif isinstance(right, sequences) and _is_int(left):
            _check_length(len(right) * left)
        elif _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > _MAX_INT_BITS:
                raise TemplateError("number too large")
    elif operator == "+":
        if isinstance(left, sequences) and isinstance(right, sequences):
            _check_length(len(left) + len(right))
    elif operator == "%" and isinstance(left, str):
        _check_printf(left)


env: Final = _Sandbox(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    cache_size=400,
    finalize=_finalize,
)
env.globals.clear()
env.globals["range"] = _safe_range
env.filters.update(
    {
        "date": _date_filter,
        "center": _center,
        "indent": _indent,
        "batch": _batch,
        "slice": _slice,
        "format": _format,
        "wordwrap": _wordwrap,
        "replace": _replace,
        "join": _join,
        _LOOP_GUARD: _loop_guard,
    }
)


# --- compiling and rendering -------------------------------------------------


@lru_cache(maxsize=1024)
def _compiled(source: str) -> Template:
    if len(source) > MAX_SOURCE_LENGTH:
        raise TemplateError(f"a template may be at most {MAX_SOURCE_LENGTH} characters long")
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(exc.message or str(exc), exc.lineno) from exc


def _template_line(exc: BaseException) -> int | None:
    """The template line an error was raised on: Jinja rewrites tracebacks to show it."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"no item {exc.args[0]!r}" if exc.args else "missing item"
    return str(exc) or type(exc).__name__


def render(source: str, context: dict[str, object]) -> str:
    """The rendered text; any failure of the template is raised as TemplateError."""
    if "{" not in source:
        return source  # plain text (a fixed subject): nothing for Jinja to do
    template = _compiled(source)
    token = _budget.set(_Budget())
    try:
        parts: list[str] = []
        length = 0
        for chunk in template.generate(context):
            length += len(chunk)
            if length > MAX_OUTPUT_LENGTH:
                raise TemplateError(f"the message is longer than {MAX_OUTPUT_LENGTH} characters")
            parts.append(chunk)
        return "".join(parts)
    except TemplateError as exc:
        if exc.lineno is None:
            exc.lineno = _template_line(exc)
        raise
    except Exception as exc:
        # Whatever the template did wrong, the caller gets one kind of error to show.
        raise TemplateError(_describe(exc), _template_line(exc)) from exc
    finally:
        _budget.reset(token)


# --- validation --------------------------------------------------------------


def _did_you_mean(name: str, choices: Iterable[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f" (did you mean '{prefix}{close[0]}'?)" if close else ""


def _unknown_field(root: str, attr: str) -> str:
    return f"unknown field '{root}.{attr}'" + _did_you_mean(
        attr, KNOWN_FIELDS[root], prefix=f"{root}."
    )


def _root_of(node: nodes.Node) -> str | None:
    """The known variable a node names directly, if it does."""
    if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in KNOWN_FIELDS:
        return node.name
    return None


def _check_attribute(target: nodes.Node, attr: str) -> str | None:
    root = _root_of(target)
    if root is not None:
        return None if attr in KNOWN_FIELDS[root] else _unknown_field(root, attr)
    if attr not in _ANY_KNOWN_ATTR:
        return f"attribute '{attr}' is not allowed" + _did_you_mean(attr, _ANY_KNOWN_ATTR)
    return None


def _check_attribute_path(path: str) -> str | None:
    """An attribute path given to map(attribute='a.b'), sort(attribute=…) and the like."""
    for part in path.split("."):
        if not part.isdigit() and part not in _ANY_KNOWN_ATTR:
            return f"attribute '{part}' is not allowed"
    return None


def _const_str(node: nodes.Node | None) -> str | None:
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return node.value
    return None


def _check_filter(node: nodes.Filter | nodes.Test) -> str | None:
    if isinstance(node, nodes.Test):
        return None if node.name in env.tests else f"unknown test '{node.name}'"
    if node.name not in env.filters:
        return f"unknown filter '{node.name}'" + _did_you_mean(node.name, env.filters)
    if node.name == "attr":
        name = _const_str(node.args[0]) if node.args else None
        if name is None:
            return "the attr filter needs a quoted field name"
        return _check_attribute(node.node, name) if node.node is not None else None
    if node.name in _ATTRIBUTE_FILTERS:
        paths: list[nodes.Node] = [kw.value for kw in node.kwargs if kw.key == "attribute"]
        if node.name in ("selectattr", "rejectattr", "groupby") and node.args:
            paths.append(node.args[0])
        for path_node in paths:
            path = _const_str(path_node)
            if path is None and not (
                isinstance(path_node, nodes.Const) and _is_int(path_node.value)
            ):
                return f"the {node.name} filter needs a quoted attribute name"
            problem = _check_attribute_path(path) if path is not None else None
            if problem:
                return problem
    if node.name in ("map", "select", "reject", "selectattr", "rejectattr") and node.args:
        # map('upper'), select('odd'), selectattr('x', 'odd') name a filter or test.
        index = 1 if node.name in ("selectattr", "rejectattr") else 0
        named = _const_str(node.args[index]) if len(node.args) > index else None
        table = env.filters if node.name == "map" else env.tests
        if named is not None and named not in table:
            kind = "filter" if node.name == "map" else "test"
            return f"unknown {kind} '{named}'"
    return None


def _check_call(node: nodes.Call) -> str | None:
    callee = node.node
    if not isinstance(callee, nodes.Getattr):
        return None
    root = _root_of(callee.node)
    arity = _METHOD_ARITY.get((root or "", callee.attr))
    if root is None or arity is None or node.dyn_args is not None or node.dyn_kwargs is not None:
        return None
    given = len(node.args) + len(node.kwargs)
    least, most = arity
    if not least <= given <= most:
        wanted = str(least) if least == most else f"{least} or {most}"
        return f"{root}.{callee.attr}() takes {wanted} argument(s), not {given}"
    if callee.attr in _CASE_METHODS:
        case = _const_str(node.args[0]) if node.args else None
        if case is not None and case.strip().lower() not in names.CASES:
            return f"unknown case '{case}'" + _did_you_mean(case, names.CASES)
    return None


def _static_problems(tree: nodes.Template) -> list[tuple[int, str]]:
    problems: list[tuple[int, str]] = []
    undeclared = meta.find_undeclared_variables(tree) - set(KNOWN_FIELDS) - set(env.globals)
    for name in undeclared:
        lines = [n.lineno for n in tree.find_all(nodes.Name) if n.name == name]
        message = f"unknown variable '{name}'" + _did_you_mean(name, KNOWN_FIELDS)
        problems.append((min(lines, default=1), message))

    called: set[int] = set()
    for call in tree.find_all(nodes.Call):
        called.add(id(call.node))
        call_problem = _check_call(call)
        if call_problem:
            problems.append((call.lineno, call_problem))

    unsupported: tuple[tuple[type[nodes.Node], str], ...] = (
        (nodes.Extends, "{% extends %} is not supported"),
        (nodes.Include, "{% include %} is not supported"),
        (nodes.Import, "{% import %} is not supported"),
        (nodes.FromImport, "{% from … import %} is not supported"),
        (nodes.NSRef, "setting attributes ({% set a.b = … %}) is not supported"),
    )
    for node in tree.find_all(nodes.Node):
        problem: str | None = None
        for node_type, message in unsupported:
            if isinstance(node, node_type):
                problem = message
        if isinstance(node, nodes.Name) and node.ctx in ("store", "param"):
            if node.name in KNOWN_FIELDS or node.name in env.globals:
                problem = f"'{node.name}' is a reserved name"
        elif isinstance(node, nodes.Getattr):
            problem = _check_attribute(node.node, node.attr)
            root = _root_of(node.node)
            if problem is None and root and (root, node.attr) in _METHOD_ARITY:
                if id(node) not in called:
                    problem = f"{root}.{node.attr} must be called, e.g. {root}.{node.attr}(…)"
        elif isinstance(node, nodes.Getitem):
            key = _const_str(node.arg)
            root = _root_of(node.node)
            if key is not None:
                problem = _check_attribute(node.node, key) if root or key.startswith("_") else None
            elif root is not None:
                problem = f"write {root}.<field> instead of {root}[…]"
        elif isinstance(node, nodes.Filter | nodes.Test):
            problem = _check_filter(node)
        if problem:
            problems.append((node.lineno, problem))
    return problems


# A contact, seller and deal as the engine would see typical ones: templates are checked
# against them on save, and previews (SMS length) render with them.
SAMPLE_CONTACT: dict[str, object] = {
    "first_name": "Анна",
    "last_name": "Иванова",
    "patronymic": "Сергеевна",
    "company": "ООО «Ромашка»",
    "birthday": date(1990, 5, 17),
    "stage": "lead",
    "language": "ru",
}
SAMPLE_SELLER: dict[str, object] = {
    "first_name": "Иван",
    "last_name": "Петров",
    "phone": "+7 900 000-00-01",
    "email": "ivan@example.com",
}
SAMPLE_DEAL: dict[str, object] = {"title": "Поставка мебели", "amount": Decimal("150000.00")}


def _sample_contexts() -> list[tuple[str, dict[str, object]]]:
    urls = {
        "unsubscribe_url": "https://example.com/unsubscribe/sample",
        "preferences_url": "https://example.com/preferences/sample",
        "telegram_link": "https://t.me/sample_bot?start=1-1_sample",
    }
    full = build_context(
        SAMPLE_CONTACT,
        business={
            "name": "Касатка",
            "phone": "+7 900 000-00-00",
            "email": "hello@example.com",
            "address": "Москва, ул. Примерная, 1",
            "website": "https://example.com",
        },
        seller=SAMPLE_SELLER,
        deal=SAMPLE_DEAL,
        lead_answers={
            answer: f"https://example.com/lc/sample-{answer}/"
            for answer in KNOWN_FIELDS["lead_answers"]
        },
        **urls,
    )
    # Real contacts often lack a patronymic, a birthday or even a name.
    sparse = build_context({}, **{**urls, "telegram_link": ""})  # a business without a bot
    return [("", full), (" (for a contact with empty fields and no deal)", sparse)]


def validate_template(source: str) -> None:
    """Raise TemplateError unless the template compiles, uses only known fields and renders."""
    if len(source) > MAX_SOURCE_LENGTH:
        raise TemplateError(f"a template may be at most {MAX_SOURCE_LENGTH} characters long")
    # Compiling first reports syntax errors and the misuses Jinja itself notices.
    _compiled(source)
    problems = _static_problems(env.parse(source))
    if problems:
        lineno, message = min(problems)
        raise TemplateError(message, lineno)
    for suffix, context in _sample_contexts():
        try:
            render(source, context)
        except TemplateError as exc:
            raise TemplateError(exc.message + suffix, exc.lineno) from exc
