"""The chain editor: the list of chains, one chain's steps with the live linter, a preview
for a real contact, the picture of the chain over days, and enabling or pausing a chain.

The page is one plain form; htmx posts it as it is typed to `lint` and `preview`, which
answer with fragments for the chain and, out of band, for each step. Saving goes through
`actions.save_chain` (all or nothing) and enabling through `actions.set_chain_active`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kasatka.accounts.access import business_of, needs, scope_to_user, user_of
from kasatka.accounts.models import Business, MethodSettings, SendingRules, User
from kasatka.channels.registry import active_accounts, available_channels
from kasatka.channels.sms.preview import SmsPreview, sms_sender
from kasatka.channels.sms.segments import sms_length
from kasatka.channels.telegram.bot import bot_username
from kasatka.contacts.actions import consent_states
from kasatka.contacts.models import Channel, Contact
from kasatka.engine.clock import now as clock_now
from kasatka.engine.rules import Route, choose_route, prefers_paper
from kasatka.sales.conversion import open_conversions
from kasatka.web.contacts import search as search_contacts
from kasatka.web.navigation import back

from .actions import (
    ChainHasErrors,
    StaleSteps,
    StepData,
    StepInUse,
    save_chain,
    set_chain_active,
)
from .forms import BaseStepFormSet, ChainForm, StepForm, step_formset
from .linter import ERROR, Draft, Finding, lint_draft, lint_steps
from .models import Chain, ChainKind, Enrollment, EnrollmentState, Step
from .templating import (
    KNOWN_FIELDS,
    SAMPLE_CONTACT,
    BusinessView,
    ContactView,
    DealView,
    LeadAnswersView,
    SellerView,
    TemplateError,
    build_context,
)
from .templating import render as render_template

DAY = timedelta(days=1)
RECENT_CONTACTS = 50  # offered in the preview's contact list before any search



# --- the list ---------------------------------------------------------------------


class _SharedDraft(Draft):
    """One chain's draft reading the business's settings from a draft shared by all."""

    def __init__(self, kind: str, steps: Sequence[Step], shared: Draft) -> None:
        super().__init__(kind, steps, shared.business)
        self._shared = shared

    @cached_property
    def method(self) -> MethodSettings:
        return self._shared.method

    @cached_property
    def rules(self) -> SendingRules:
        return self._shared.rules

    @cached_property
    def has_postal_address(self) -> bool:
        return self._shared.has_postal_address


@dataclass(frozen=True)
class ChainRow:
    chain: Chain
    steps: int
    contacts: int  # in the chain now (active enrollments)
    errors: int
    warnings: int


@needs("chains")
@require_GET
def chain_list(request: HttpRequest) -> HttpResponse:
    """Every chain of the business with its state, size, contacts and linter counts, in a
    number of queries that does not grow with the chains."""
    business = business_of(request.user)
    chains = list(
        Chain.objects.filter(business=business)
        .prefetch_related(Prefetch("steps", queryset=Step.objects.order_by("position")))
        .order_by("name", "pk")
    )
    contacts = dict(
        Enrollment.objects.filter(business=business, state=EnrollmentState.ACTIVE)
        .values_list("chain_id")
        .annotate(n=Count("pk"))
        .order_by()
    ) if chains else {}
    shared = Draft("", [], business)
    rows = []
    for chain in chains:
        steps = list(chain.steps.all())
        findings = lint_draft(_SharedDraft(chain.kind, steps, shared))
        errors = sum(f.level == ERROR for f in findings)
        rows.append(ChainRow(chain, len(steps), contacts.get(chain.pk, 0), errors,
                             len(findings) - errors))
    return render(request, "chains/list.html", {"rows": rows})


# --- the editor -------------------------------------------------------------------


def _chain(business: Business, pk: int) -> Chain:
    """A chain of the user's business, or 404 (another business's id is not confirmed)."""
    chain = get_object_or_404(Chain, business=business, pk=pk)
    chain.business = business  # already loaded: the linter and preview read it
    return chain


@needs("chains")
@require_http_methods(["GET", "POST"])
def chain_new(request: HttpRequest) -> HttpResponse:
    business = business_of(request.user)
    # A new chain starts paused: it is enabled once its steps are ready.
    return _editor(request, Chain(business=business, is_active=False))


@needs("chains")
@require_http_methods(["GET", "POST"])
def chain_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _editor(request, _chain(business_of(request.user), pk))


def _editor(request: HttpRequest, chain: Chain) -> HttpResponse:
    user = user_of(request)
    steps = list(chain.steps.order_by("position")) if chain.pk else []
    contact = _preview_contact(user, request.GET.get("contact") or request.POST.get("contact"))
    if request.method == "POST":
        form = ChainForm(request.POST, instance=chain)
        formset = step_formset(steps, request.POST)
        # Both checked, so that every mistake shows at once.
        if all([form.is_valid(), formset.is_valid()]):
            saved = _save(form, formset)
            if saved is not None:
                messages.success(request, _("Chain saved."))
                target = reverse("chains:edit", args=[saved.pk])
                if contact is not None:
                    target += f"?contact={contact.pk}"
                return redirect(target)
        status = 400
    else:
        form = ChainForm(instance=chain)
        formset = step_formset(steps)
        status = 200
    business = chain.business
    typed = formset.typed_steps()
    kind = str(form["kind"].value() or chain.kind or "")
    # A new chain is linted once something is typed: its blank first step is not a fault.
    linted = bool(chain.pk) or request.method == "POST"
    findings = lint_steps(kind, [d for _f, d in typed], business) if linted else []
    counts = _counts_by_step(business, chain.pk)
    lint_context = _lint_context(findings, typed)
    previews = _previews_by_prefix(contact, business, typed)
    step_rows = [
        {
            "form": step_form,
            "findings": lint_context["step_findings"].get(str(step_form.prefix), []),
            "preview": previews.get(str(step_form.prefix)),
            "contacts": counts.get(_int(str(step_form["id"].value())) or 0, 0),
        }
        for step_form in formset.forms
    ]
    context = {
        "chain": chain,
        "form": form,
        "formset": formset,
        "step_rows": step_rows,
        "contact": contact,
        "contacts": _contact_choices(user, contact),
        "variables": variables(),
        "empty_row": {"form": formset.empty_form, "findings": [], "preview": None},
        "linted": linted,
        **lint_context,
        "timeline": timeline(kind, [d for _f, d in typed], business, counts),
    }
    return render(request, "chains/editor.html", context, status=status)


def _save(form: ChainForm, formset: BaseStepFormSet) -> Chain | None:
    """Save, or put why not on the form that caused it (nothing is saved then)."""
    steps = formset.cleaned_steps()
    chain = form.save(commit=False)
    if chain.pk and chain.is_active:
        # An enabled chain must stay free of errors; a paused one is enabled only then too.
        errors = [f for f in lint_steps(chain.kind, steps, chain.business) if f.level == ERROR]
        if errors:
            formset.non_form_errors().extend(f.message for f in errors)
            return None
    try:
        return save_chain(chain, steps)
    except StepInUse as exc:
        message = _(
            "This step cannot be removed: touches were sent by it or contacts are at it, "
            "and that history is kept. Change its text instead."
        )
        where = [f for f in formset.forms if f.cleaned_data.get("id") == exc.step_id]
        if where:
            where[0].add_error(None, message)
        else:
            formset.non_form_errors().append(message)
    except StaleSteps:
        formset.non_form_errors().append(_(
            "The chain was changed elsewhere meanwhile: open it again to see its steps."
        ))
    except ValidationError as exc:
        formset.non_form_errors().extend(exc.messages)
    return None


@needs("chains")
@require_POST
def chain_active(request: HttpRequest, pk: int) -> HttpResponse:
    """Enable (refused while the linter finds errors) or pause a chain."""
    chain = _chain(business_of(request.user), pk)
    active = request.POST.get("active") == "1"
    try:
        set_chain_active(chain, active)
    except ChainHasErrors as exc:
        messages.error(request, _("The chain is not enabled: fix its errors first.") + " "
                       + " ".join(f.message for f in exc.findings))
    else:
        if active:
            messages.success(request, _("Chain enabled: %(name)s") % {"name": chain.name})
        else:
            messages.success(request, _("Chain paused: %(name)s") % {"name": chain.name})
    return back(request, "chains:edit", pk=chain.pk)


def _counts_by_step(business: Business, chain_id: int | None) -> dict[int, int]:
    """How many contacts are at each step now (active enrollments): one query."""
    if not chain_id:
        return {}
    rows = (
        Enrollment.objects.filter(
            business=business, chain_id=chain_id, state=EnrollmentState.ACTIVE
        )
        .values_list("step_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    return {step_id: n for step_id, n in rows if step_id is not None}


def _lint_context(
    findings: list[Finding], typed: list[tuple[StepForm, StepData]]
) -> dict[str, Any]:
    """The chain's findings for the top, and each step's by its form (the step's box)."""
    prefix_of = {data.position: str(form.prefix) for form, data in typed}
    by_prefix: dict[str, list[Finding]] = {str(form.prefix): [] for form, _d in typed}
    for finding in findings:
        if finding.step is not None and finding.step in prefix_of:
            by_prefix[prefix_of[finding.step]].append(finding)
    errors = sum(f.level == ERROR for f in findings)
    return {
        "chain_findings": [f for f in findings if f.step is None],
        "step_findings": by_prefix,
        "error_count": errors,
        "warning_count": len(findings) - errors,
    }


# --- the live linter ----------------------------------------------------------------


@needs("chains")
@require_POST
def lint(request: HttpRequest) -> HttpResponse:
    """The findings for the steps as typed: the chain's, and each step's out of band."""
    business = business_of(request.user)
    formset = step_formset([], request.POST)
    typed = formset.typed_steps()
    kind = request.POST.get("kind", "")
    kind = kind if kind in ChainKind.values else ""
    steps = [d for _f, d in typed]
    counts = _counts_by_step(business, _int(request.POST.get("chain")))
    lint_context = _lint_context(lint_steps(kind, steps, business), typed)
    context = {
        **lint_context,
        # Every step's box, the removed ones emptied.
        "step_boxes": [
            (f.prefix, lint_context["step_findings"].get(str(f.prefix), []))
            for f in formset.forms
        ],
        "timeline": timeline(kind, steps, business, counts),
    }
    return render(request, "chains/lint.html", context)


def _int(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


# --- the preview ----------------------------------------------------------------------


def _contacts(user: User) -> QuerySet[Contact]:
    # A marketer reads every contact of the business, as the preview needs.
    return scope_to_user(user, Contact.objects.all(), "owner", reading=True)


def _preview_contact(user: User, raw: str | None) -> Contact | None:
    """The chosen contact (404 unless the user may read it), else the most recent one."""
    contacts = _contacts(user).select_related("owner")
    if raw:
        pk = _int(raw)
        contact = contacts.filter(pk=pk).first() if pk is not None else None
        if contact is None:
            raise Http404
        return contact
    return contacts.order_by("-created_at", "-pk").first()


def _contact_choices(user: User, chosen: Contact | None) -> list[Contact]:
    recent = list(_contacts(user).order_by("-created_at", "-pk")[:RECENT_CONTACTS])
    if chosen is not None and all(c.pk != chosen.pk for c in recent):
        recent.insert(0, chosen)
    return recent


@needs("chains")
@require_GET
def contact_options(request: HttpRequest) -> HttpResponse:
    """The preview's contact list for a search by name (the select's options)."""
    user = user_of(request)
    contacts = _contacts(user)
    # The contact list's own search: a name, a phone or an e-mail, from indexes only.
    match = search_contacts(business_of(user), request.GET.get("q", ""))
    if match.ids is not None:
        contacts = contacts.filter(pk__in=match.ids)
    found = list(contacts.order_by("-created_at", "-pk")[:RECENT_CONTACTS])
    return render(request, "chains/contact_options.html", {"contacts": found})


@dataclass(frozen=True)
class StepPreview:
    """A step's message as the engine would write it for the contact now."""

    channel: str  # the label of the channel the engine would use; "" if none now
    note: str  # why channels were passed over (the engine's own words), or why none is used
    subject: str
    body: str
    error: str  # the template's error, when it does not render
    sms: SmsPreview | None


@needs("chains")
@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    """Each step rendered for the chosen contact: the status here, the steps out of band."""
    user = user_of(request)
    contact = _preview_contact(user, request.POST.get("contact"))
    formset = step_formset([], request.POST)
    previews = _previews_by_prefix(contact, business_of(user), formset.typed_steps())
    context = {
        "contact": contact,
        "step_boxes": [(f.prefix, previews.get(str(f.prefix))) for f in formset.forms],
    }
    return render(request, "chains/preview.html", context)


def _previews_by_prefix(
    contact: Contact | None, business: Business, typed: list[tuple[StepForm, StepData]]
) -> dict[str, StepPreview]:
    previews = preview_steps(contact, business, [d for _f, d in typed])
    return {str(form.prefix): p for (form, _d), p in zip(typed, previews, strict=True)}


def _sample_link(name: str) -> str:
    # The shape of the engine's signed link, without a working token: opening a link in
    # the preview must not unsubscribe or answer for the real contact.
    return settings.KASATKA_BASE_URL + reverse(name, kwargs={"token": "preview"})


def preview_steps(
    contact: Contact | None, business: Business, steps: Sequence[StepData]
) -> list[StepPreview]:
    """The steps as the engine's worker renders them for this contact now (its `_render`):
    the same context and route, with sample links in place of the signed ones. Without a
    contact (a business that has none yet) the sample contact of the templates is used."""
    if not steps:
        return []
    today = clock_now().astimezone(business.zone).date()
    business_view = BusinessView(business)
    accounts = active_accounts([business.pk])
    available = available_channels(business.pk, accounts)
    bot = bot_username(accounts.get((business.pk, Channel.TELEGRAM)))
    sender = sms_sender(business) if any(Channel.SMS in s.channels for s in steps) else ""
    if contact is None:
        contact_view = ContactView(SAMPLE_CONTACT, default_language=business_view.language)
        seller_view = SellerView(None)
        addresses: list[Any] = []
        consents: dict[tuple[int, str, str], str] = {}
        conversion = None
    else:
        contact_view = ContactView(contact, default_language=business_view.language)
        seller_view = SellerView(contact.owner)
        addresses = list(contact.addresses.all())
        consents = consent_states([contact.pk])
        asks = any("lead_answers" in s.body_template + s.subject_template for s in steps)
        conversion = open_conversions([contact.pk]).get(contact.pk) if asks else None
    answers = (
        LeadAnswersView({a: _sample_link("lead_answer") for a in KNOWN_FIELDS["lead_answers"]})
        if conversion is not None else LeadAnswersView(None)
    )
    previews = []
    for step in steps:
        route: Route | str = ""
        if contact is not None:
            route = choose_route(
                step.channels, step.is_commercial, contact.pk, addresses, consents, available,
                prefer_paper=prefers_paper(contact.birthday, today, business.paper_from_age),
            )
        channel = route.channel if isinstance(route, Route) else ""
        link = _sample_link("unsubscribe") if channel == Channel.EMAIL else ""
        context = build_context(
            contact_view,
            business=business_view,
            seller=seller_view,
            deal=DealView(None),
            nudge_text="",
            unsubscribe_url=link,
            preferences_url=link,
            telegram_link=f"https://t.me/{bot}?start=preview" if bot and contact else "",
            lead_answers=answers,
            today=today,
        )
        if isinstance(route, Route):
            note = route.skipped
        elif route:
            note = _("Would be skipped now: %(reason)s") % {"reason": route}
        else:
            note = ""
        try:
            subject = " ".join(render_template(step.subject_template, context).split())
            body = render_template(step.body_template, context)
        except TemplateError as exc:
            previews.append(StepPreview(_channel_label(channel), note, "", "", str(exc), None))
            continue
        sms = SmsPreview(body, sms_length(body), sender) if Channel.SMS in step.channels else None
        previews.append(StepPreview(_channel_label(channel), note, subject, body, "", sms))
    return previews


def _channel_label(code: str) -> str:
    return str(Channel(code).label) if code in Channel.values else ""


# --- the picture over days -------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    position: int
    left: float  # per cent of the axis
    lane: int
    when: str  # e.g. "day 3" or "day 2.5"
    channel: str  # the first channel's label
    more: int  # further channels in the list
    commercial: bool
    contacts: int  # at this step now


@dataclass(frozen=True)
class Timeline:
    markers: list[Marker]
    ticks: list[tuple[float, int]]  # (per cent, day)
    lanes: int
    days: int


# A marker takes this share of the axis; closer ones go on the next lane down.
_MARKER_WIDTH = 13.0
_TICK_STEPS = (1, 2, 5, 7, 10, 14, 30, 60, 90, 180, 365, 730)


def timeline(
    kind: str, steps: Sequence[StepData], business: Business, counts: dict[int, int]
) -> Timeline:
    """Each step on a day axis, where the engine's `due_time` puts it after the enrollment."""
    offsets = Draft(kind, steps, business).offsets  # no query: only the steps are read
    ordered = sorted(steps, key=lambda s: s.position)
    last = max((o / DAY for o in offsets), default=0.0)
    days = max(7, math.ceil(last) + 1)
    tick = next((t for t in _TICK_STEPS if days / t <= 10), _TICK_STEPS[-1])
    ticks = [(100 * d / days, d) for d in range(0, days + 1, tick)]
    lanes_end: list[float] = []
    markers = []
    for step, offset in zip(ordered, offsets, strict=True):
        left = 100 * (offset / DAY) / days
        lane = next((i for i, end in enumerate(lanes_end) if end <= left), len(lanes_end))
        if lane == len(lanes_end):
            lanes_end.append(0.0)
        lanes_end[lane] = left + _MARKER_WIDTH
        channels = [c for c in step.channels if c in Channel.values]
        markers.append(Marker(
            position=step.position,
            left=round(left, 2),
            lane=lane,
            when=_day_label(offset),
            channel=_channel_label(channels[0]) if channels else "?",
            more=len(channels) - 1 if channels else 0,
            commercial=step.is_commercial,
            contacts=counts.get(step.id, 0) if step.id is not None else 0,
        ))
    return Timeline(markers, ticks, max(len(lanes_end), 1), days)


def _day_label(offset: timedelta) -> str:
    days = offset / DAY
    if days == int(days):
        return _("day %(day)s") % {"day": int(days)}
    return _("day %(day)s") % {"day": formats.number_format(days, 1)}


# --- the variables a template may use -------------------------------------------------

# Arguments shown with the calls a template must make.
_CALL_EXAMPLES = {
    "name_in": "('dative')", "full_name_in": "('genitive')", "first_name_in": "('dative')",
    "last_name_in": "('instrumental')", "gendered": "('…', '…')", "strftime": "('%d.%m')",
}
_VIEWS: dict[str, Any] = {
    "contact": ContactView, "business": BusinessView, "seller": SellerView, "deal": DealView,
    "lead_answers": LeadAnswersView, "today": date,
}


def variables() -> list[tuple[str, list[str]]]:
    """Each root of the templates' variables with the expressions it offers, e.g.
    ("contact", ["{{ contact.name_in('dative') }}", …]): read from the templating module,
    so the list is what `validate_template` accepts."""
    groups = []
    for root, fields in KNOWN_FIELDS.items():
        if not fields:
            groups.append((root, ["{{ " + root + " }}"]))
            continue
        view = _VIEWS.get(root)
        shown = []
        for name in sorted(fields):
            if callable(getattr(view, name, None)):
                shown.append("{{ " + f"{root}.{name}{_CALL_EXAMPLES.get(name, '()')}" + " }}")
            else:
                shown.append("{{ " + f"{root}.{name}" + " }}")
        groups.append((root, shown))
    return groups
