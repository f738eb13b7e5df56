"""The chain linter: what a chain's steps break of the method, found before anything is sent.

Each rule is a small function registered in `RULES` with a stable code and a level; the
admin, `kasatka lint_chains`, `docs/linter.md` and the tests all enumerate that list. Rules
read the steps as plain data (`StepLike`), so the editor can lint what is being typed, and
fetch what they need of the business once per lint, never per step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any, Final, Protocol

from django.utils.translation import gettext as _

from kasatka.accounts.models import (
    Business,
    MethodSettings,
    SendingRules,
    method_settings,
    sending_rules,
)
from kasatka.contacts.models import Address, AddressKind, AddressState, Channel

from .models import Chain, ChainKind, DelayFrom
from .templating import TemplateError, validate_template

ERROR: Final = "error"
WARNING: Final = "warning"

DAY: Final = timedelta(days=1)
WEEK: Final = timedelta(days=7)
# A warming chain that falls silent this long has let its contact go cold again: the
# method's clients decide within 21–30 days (METHOD.md §3), so this is twice that.
LONG_SILENCE: Final = timedelta(days=60)


@dataclass(frozen=True)
class Finding:
    level: str  # ERROR or WARNING
    code: str  # stable, e.g. "step-without-reason"; docs/linter.md explains each
    message: str  # translated, with the figures
    step: int | None  # the step's position; None for the whole chain


class StepLike(Protocol):
    """What the linter reads of a step: a saved `Step` or the editor's unsaved one."""

    @property
    def position(self) -> int: ...
    @property
    def delay(self) -> timedelta: ...
    @property
    def delay_from(self) -> str: ...
    @property
    def channels(self) -> Any: ...  # a list of channel names, in order of preference
    @property
    def is_commercial(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def subject_template(self) -> str: ...
    @property
    def body_template(self) -> str: ...


class Draft:
    """The chain being linted: its steps in order, when each falls, and what the business
    allows (each read from the database once, on first use)."""

    def __init__(self, kind: str, steps: Sequence[StepLike], business: Business) -> None:
        self.kind = kind
        self.steps: list[StepLike] = sorted(steps, key=lambda s: s.position or 0)
        self.business = business

    @cached_property
    def offsets(self) -> list[timedelta]:
        """Each step's time after the enrollment, as the engine's `due_time` counts it."""
        offsets: list[timedelta] = []
        previous = timedelta(0)
        for step in self.steps:
            delay = step.delay or timedelta(0)
            if step.delay_from == DelayFrom.ENROLLMENT:
                previous = max(delay, previous)
            else:
                previous = previous + delay
            offsets.append(previous)
        return offsets

    @cached_property
    def method(self) -> MethodSettings:
        return method_settings(self.business)

    @cached_property
    def rules(self) -> SendingRules:
        return sending_rules(self.business)

    @cached_property
    def has_postal_address(self) -> bool:
        return Address.objects.filter(
            business=self.business,
            kind=AddressKind.POSTAL,
            state__in=(AddressState.ACTIVE, AddressState.UNVERIFIED),
        ).exists()


# A rule yields (step position or None, message) for each thing it finds.
Check = Callable[[Draft], Iterable[tuple[int | None, str]]]


@dataclass(frozen=True)
class Rule:
    code: str
    level: str
    check: Check


RULES: list[Rule] = []


def rule(code: str, level: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        RULES.append(Rule(code, level, check))
        return check

    return register


def lint_steps(kind: str, steps: Sequence[StepLike], business: Business) -> list[Finding]:
    """Every finding of every rule: errors first, then the chain's, then step by step."""
    return lint_draft(Draft(kind, steps, business))


def lint_draft(draft: Draft) -> list[Finding]:
    """The findings for a draft the caller built (the chain list lints many chains of one
    business with drafts that share its settings, read once)."""
    findings = [
        Finding(r.level, r.code, message, position)
        for r in RULES
        for position, message in r.check(draft)
    ]
    findings.sort(key=lambda f: (f.level != ERROR, f.step is not None, f.step or 0))
    return findings


def lint_chain(chain: Chain) -> list[Finding]:
    """The findings for a saved chain (its prefetched steps are used when there are some)."""
    return lint_steps(chain.kind, list(chain.steps.all()), chain.business)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.level == ERROR for f in findings)


# --- helpers -------------------------------------------------------------------


def _channels(step: StepLike) -> list[str]:
    value = step.channels
    return [str(c) for c in value] if isinstance(value, list) else []


def _blank(text: str | None) -> bool:
    return not (text or "").strip()


def _normalised(text: str | None) -> str:
    return " ".join((text or "").split()).casefold()


def _days(offset: timedelta) -> str:
    """An offset as days, with a fraction only when there is one ("2", "0.5")."""
    days = offset / DAY
    return f"{days:g}" if days != int(days) else str(int(days))


def _channel_label(name: str) -> str:
    return str(Channel(name).label) if name in Channel.values else name


# --- errors: the engine must never send these ------------------------------------


@rule("step-without-reason", ERROR)
def step_without_reason(draft: Draft) -> Iterator[tuple[int | None, str]]:
    for step in draft.steps:
        if _blank(step.reason):
            yield step.position, _(
                "Step %(n)s has no reason. A touch without a reason is spam: write what is "
                "new for the client."
            ) % {"n": step.position}


@rule("invalid-template", ERROR)
def invalid_template(draft: Draft) -> Iterator[tuple[int | None, str]]:
    for step in draft.steps:
        fields = ((step.subject_template, _("subject")), (step.body_template, _("text")))
        for source, label in fields:
            try:
                validate_template(source or "")
            except TemplateError as exc:
                yield step.position, _("Step %(n)s: the %(field)s does not work: %(error)s") % {
                    "n": step.position, "field": label, "error": exc,
                }


@rule("step-without-text", ERROR)
def step_without_text(draft: Draft) -> Iterator[tuple[int | None, str]]:
    for step in draft.steps:
        if _blank(step.body_template):
            yield step.position, _(
                "Step %(n)s has no text: write the message, or the script for a call."
            ) % {"n": step.position}


@rule("step-without-channel", ERROR)
def step_without_channel(draft: Draft) -> Iterator[tuple[int | None, str]]:
    for step in draft.steps:
        if not _channels(step):
            yield step.position, _(
                "Step %(n)s names no channel: it could reach nobody."
            ) % {"n": step.position}


@rule("unknown-channel", ERROR)
def unknown_channel(draft: Draft) -> Iterator[tuple[int | None, str]]:
    for step in draft.steps:
        unknown = [c for c in _channels(step) if c not in Channel.values]
        if unknown:
            yield step.position, _("Step %(n)s names an unknown channel: %(names)s.") % {
                "n": step.position, "names": ", ".join(unknown),
            }


# --- warnings: the method advises against these ----------------------------------


@rule("chain-without-steps", WARNING)
def chain_without_steps(draft: Draft) -> Iterator[tuple[int | None, str]]:
    if not draft.steps:
        yield None, _("The chain has no steps: no contact can be enrolled in it.")


@rule("warming-too-short", WARNING)
def warming_too_short(draft: Draft) -> Iterator[tuple[int | None, str]]:
    if draft.kind != ChainKind.WARMING or not draft.steps:
        return
    wanted = draft.method.warming_touches
    if len(draft.steps) < wanted:
        yield None, _(
            "A warming chain of %(count)s touches: most sales come only after %(wanted)s "
            "touches, and a chain that stops earlier gives up on the client too soon."
        ) % {"count": len(draft.steps), "wanted": wanted}


@rule("single-channel", WARNING)
def single_channel(draft: Draft) -> Iterator[tuple[int | None, str]]:
    used = {c for step in draft.steps for c in _channels(step)}
    if len(used) == 1:
        yield None, _(
            "Every step goes by %(channel)s only: people take things in through different "
            "channels, and a contact who does not read this one never hears from you."
        ) % {"channel": _channel_label(used.pop())}


@rule("only-commercial", WARNING)
def only_commercial(draft: Draft) -> Iterator[tuple[int | None, str]]:
    if draft.steps and all(step.is_commercial for step in draft.steps):
        yield None, _(
            "Every step is commercial: add useful or informational touches between the "
            "offers, or the chain reads as the blast the client gets twenty of a day."
        )


@rule("identical-texts", WARNING)
def identical_texts(draft: Draft) -> Iterator[tuple[int | None, str]]:
    first_with: dict[str, int] = {}
    for step in draft.steps:
        text = _normalised(step.body_template)
        if not text:
            continue
        if text in first_with:
            yield step.position, _(
                "Step %(n)s says the same as step %(first)s: a repeated message brings "
                "nothing new."
            ) % {"n": step.position, "first": first_with[text]}
        else:
            first_with[text] = step.position


def _over_cap(
    draft: Draft, span: timedelta, cap: int, channel_cap: int
) -> Iterator[tuple[StepLike, int, int, str]]:
    """Commercial steps that would be over a cap in the `span` ending at them.

    The engine's week is the last 7 × 24 hours, as here; its day is the contact's local
    calendar day, which touches less than 24 hours apart share for some enrollment times.

    Yields (step, touches in the span, the cap, the channel whose cap it is or "").
    The channel is the step's first: the one the engine tries first.
    """
    commercial = sorted(
        (
            (offset, step.position or 0, step)
            for offset, step in zip(draft.offsets, draft.steps, strict=True)
            if step.is_commercial
        ),
        key=lambda item: (item[0], item[1]),
    )
    for index, (offset, _position, step) in enumerate(commercial):
        in_span = [s for o, _p, s in commercial[: index + 1] if o > offset - span]
        if len(in_span) > cap:
            yield step, len(in_span), cap, ""
            continue
        channel = next(iter(_channels(step)), "")
        same_channel = [s for s in in_span if next(iter(_channels(s)), "") == channel]
        if channel and len(same_channel) > channel_cap:
            yield step, len(same_channel), channel_cap, channel


@rule("over-daily-cap", WARNING)
def over_daily_cap(draft: Draft) -> Iterator[tuple[int | None, str]]:
    rules = draft.rules
    for step, count, cap, channel in _over_cap(
        draft, DAY, rules.cap_per_day, rules.cap_per_channel_per_day
    ):
        params = {"n": step.position, "count": count, "cap": cap,
                  "channel": _channel_label(channel)}
        if channel:
            message = _(
                "Step %(n)s makes %(count)s commercial touches by %(channel)s within 24 "
                "hours; the business allows %(cap)s a day on one channel: where they fall on "
                "one day, the engine will postpone it, or skip it if it waits too long."
            )
        else:
            message = _(
                "Step %(n)s makes %(count)s commercial touches within 24 hours; the business "
                "allows %(cap)s a day: where they fall on one day, the engine will postpone "
                "it, or skip it if it waits too long."
            )
        yield step.position, message % params


@rule("over-weekly-cap", WARNING)
def over_weekly_cap(draft: Draft) -> Iterator[tuple[int | None, str]]:
    rules = draft.rules
    for step, count, cap, channel in _over_cap(
        draft, WEEK, rules.cap_per_week, rules.cap_per_channel_per_week
    ):
        params = {"n": step.position, "count": count, "cap": cap,
                  "channel": _channel_label(channel)}
        if channel:
            message = _(
                "Step %(n)s makes %(count)s commercial touches by %(channel)s within 7 days; "
                "the business allows %(cap)s a week on one channel: the engine will postpone "
                "it, or skip it if it waits too long."
            )
        else:
            message = _(
                "Step %(n)s makes %(count)s commercial touches within 7 days; the business "
                "allows %(cap)s a week: the engine will postpone it, or skip it if it waits "
                "too long."
            )
        yield step.position, message % params


@rule("letter-without-postal-address", WARNING)
def letter_without_postal_address(draft: Draft) -> Iterator[tuple[int | None, str]]:
    letters = [step for step in draft.steps if Channel.LETTER in _channels(step)]
    if not letters or draft.has_postal_address:
        return
    for step in letters:
        if _channels(step) == [Channel.LETTER]:
            message = _(
                "Step %(n)s goes as a printed letter, but no contact of the business has a "
                "postal address: it reaches nobody until postal addresses are recorded."
            )
        else:
            message = _(
                "Step %(n)s may go as a printed letter, but no contact of the business has a "
                "postal address: until postal addresses are recorded, nobody gets paper."
            )
        yield step.position, message % {"n": step.position}


@rule("email-without-subject", WARNING)
def email_without_subject(draft: Draft) -> Iterator[tuple[int | None, str]]:
    for step in draft.steps:
        if Channel.EMAIL in _channels(step) and _blank(step.subject_template):
            yield step.position, _(
                "Step %(n)s may go by e-mail but has no subject: a letter without one looks "
                "like spam and is the first to be deleted."
            ) % {"n": step.position}


@rule("after-lead-window", WARNING)
def after_lead_window(draft: Draft) -> Iterator[tuple[int | None, str]]:
    if draft.kind != ChainKind.LEAD_CONVERSION or not draft.steps:
        return
    window = timedelta(days=draft.method.lc_window_days)
    for offset, step in zip(draft.offsets, draft.steps, strict=True):
        if offset > window:
            yield step.position, _(
                "Step %(n)s falls on day %(day)s, after the %(window)s-day lead-conversion "
                "window: the chain ends when the window's question is answered, so it may "
                "never be sent."
            ) % {"n": step.position, "day": _days(offset), "window": window.days}


@rule("long-silence", WARNING)
def long_silence(draft: Draft) -> Iterator[tuple[int | None, str]]:
    if draft.kind != ChainKind.WARMING:
        return
    previous = timedelta(0)
    for index, (offset, step) in enumerate(zip(draft.offsets, draft.steps, strict=True)):
        if offset - previous > LONG_SILENCE:
            params = {"n": step.position, "days": _days(offset - previous)}
            if index == 0:
                message = _(
                    "Step %(n)s comes %(days)s days after the enrollment: a contact being "
                    "warmed has gone cold by then."
                )
            else:
                message = _(
                    "Step %(n)s comes %(days)s days after the touch before it: a contact "
                    "being warmed has gone cold again by then."
                )
            yield step.position, message % params
        previous = offset
