"""The contact list: search by name, phone or e-mail, and filters, fast at a million contacts.

How it stays fast:

- A search reads indexes only, never a `LIKE '%…'` scan. A phone typed in any format is
  normalised to E.164 and matched exactly on the address index; an e-mail is a
  case-insensitive prefix and a name a prefix of the last or first name, on the indexes of
  the migration contacts 0006. Each way yields contact ids; several ways are joined by
  UNION ALL, so each part keeps its own index.
- Pages are keyset pages, newest first (`?after=<id>` / `?before=<id>`): no OFFSET and no
  COUNT(*); a page reads one row more than it shows, to know whether there is a next one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from kasatka.accounts.access import CAPABILITIES, business_of, scope_to_user, sees_whole_team
from kasatka.accounts.models import Business, User
from kasatka.chains.models import Chain, Enrollment, EnrollmentState
from kasatka.contacts.actions import normalise_phone
from kasatka.contacts.models import Address, AddressKind, Contact, Stage
from kasatka.engine.clock import now as clock_now
from kasatka.insights.models import ClientRisk
from kasatka.sales.models import LeadSource

PAGE_SIZE = 50
# Address kinds that hold a phone number in E.164.
PHONE_KINDS = (AddressKind.PHONE, AddressKind.WHATSAPP, AddressKind.VIBER)
# What a phone search looks like: digits and the usual separators.
_PHONE_TYPED = re.compile(r"\+?[\d\s().\-]+")
# What the start of an e-mail address looks like (a search for "anna.iv" is one).
_LOCAL_PART = re.compile(r"[A-Za-z0-9._%+\-]+")
# Stripped from the ends of a name's words: a prefix must end on a letter (see _prefix).
_PUNCTUATION = ".,;:-–—'\"«»()"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class Risk:
    """The lapse-risk filter, read from insights.ClientRisk."""

    LAPSED = "lapsed"
    OVERDUE = "overdue"
    IN_RHYTHM = "in_rhythm"

    choices = [
        (LAPSED, gettext_lazy("lapsed: flagged for a win-back")),
        (OVERDUE, gettext_lazy("past their usual gap")),
        (IN_RHYTHM, gettext_lazy("buying in their rhythm")),
    ]


UNASSIGNED = "none"


class ContactFilters(forms.Form):
    """The list's search and filters (GET); a bad value is an error on its field."""

    q = forms.CharField(label=gettext_lazy("Name, phone or e-mail"), required=False,
                        max_length=200)
    stage = forms.ChoiceField(label=gettext_lazy("Stage"), required=False)
    seller = forms.ChoiceField(label=gettext_lazy("Seller"), required=False)
    source = forms.ChoiceField(label=gettext_lazy("Source"), required=False)
    chain = forms.ChoiceField(label=gettext_lazy("In the chain"), required=False)
    risk = forms.ChoiceField(label=gettext_lazy("Lapse risk"), required=False)

    def __init__(
        self, data: QueryDict, *, sellers: list[User], sources: list[LeadSource],
        chains: list[Chain], team: bool,
    ) -> None:
        super().__init__(data)
        anything = ("", _("any"))
        self._choices("stage", [anything, *Stage.choices])
        self._choices("source", [anything, *((str(s.pk), s.name) for s in sources)])
        self._choices("chain", [anything, *((str(c.pk), c.name) for c in chains)])
        self._choices("risk", [anything, *Risk.choices])
        if team:
            self._choices("seller", [
                anything, (UNASSIGNED, _("unassigned")),
                *((str(u.pk), u.full_name or u.username) for u in sellers),
            ])
        else:  # a seller sees their own clients: there is no one else to choose
            del self.fields["seller"]

    def _choices(self, name: str, choices: list[tuple[str, Any]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = choices

    @property
    def filtering(self) -> bool:
        """Whether a filter other than the search is set (the filters stay unfolded)."""
        return any(self.data.get(name) for name in self.fields if name != "q")


# --- search -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """What a search term finds: contact ids (None: no search), and a word for the user."""

    ids: QuerySet[Any] | None
    way: str = ""  # phone, email, name
    hint: str = ""


def search(business: Business, term: str) -> Match:
    """The contacts whose phone, e-mail or name the term is (or begins), as an id query."""
    term = " ".join(term.split())
    if not term:
        return Match(None)
    if _PHONE_TYPED.fullmatch(term):
        try:
            phone = normalise_phone(term, business.country)
        except ValidationError:
            # A part of a number cannot be found by an index (it may sit anywhere in it).
            return Match(Contact.objects.none().values("id"), "phone",
                         _("Type the whole phone number, in any format."))
        ids = Address.objects.filter(business=business, kind__in=PHONE_KINDS, value=phone)
        return Match(ids.values("contact_id"), "phone")
    if "@" in term:
        return Match(_email_ids(business, term), "email")
    parts = _name_ids(business, term)
    if _LOCAL_PART.fullmatch(term):
        parts.append(_email_ids(business, term))
    if not parts:
        return Match(Contact.objects.none().values("id"), "name")
    first, *rest = parts
    return Match(first.union(*rest, all=True) if rest else first, "name")


def _email_ids(business: Business, term: str) -> QuerySet[Any]:
    """Addresses beginning with the term, whatever the case (exact is a prefix too)."""
    if connection.vendor == "sqlite":
        # SQLite's lower() folds ASCII letters only: the term must be folded the same way.
        prefix = term.translate(_ASCII_LOWER)
    else:
        prefix = term.lower()
    rows = Address.objects.filter(business=business, kind=AddressKind.EMAIL).annotate(
        lowered=Lower("value")
    )
    return rows.filter(_prefix("lowered", prefix)).values("contact_id")


def _name_ids(business: Business, term: str) -> list[QuerySet[Any]]:
    """One word: a last or a first name beginning with it; two: a last and a first name
    (in either order). Names are written capitalised, whatever the seller types."""
    words = [w.strip(_PUNCTUATION) for w in term.split()]
    words = [w for w in words if w][:2]
    contacts = Contact.objects.filter(business=business)
    if not words:
        return []
    if len(words) == 1:
        return [
            contacts.filter(_prefix(field, variant)).values("id")
            for variant in _variants(words[0])
            for field in ("last_name", "first_name")
        ]
    one, two = words
    return [
        contacts.filter(_prefix(first, a), _prefix(second, b)).values("id")
        for a, b in dict.fromkeys(zip(_variants(one), _variants(two), strict=False))
        for first, second in (("last_name", "first_name"), ("first_name", "last_name"))
    ]


def _variants(word: str) -> list[str]:
    """As typed, and as a name is written: «иванова» → «Иванова», «ИВАНОВА» → «Иванова»."""
    variants = (word, word[:1].upper() + word[1:], word.capitalize())
    return list(dict.fromkeys(variants))


def _prefix(field: str, value: str) -> Q:
    """`field` begins with `value`, in a form the database answers from an index.

    PostgreSQL: LIKE 'value%', served by the pattern-ops indexes whatever the collation.
    SQLite: its LIKE ignores case and cannot use an index; the range [value, next) can,
    and under SQLite's BINARY collation it holds exactly the strings that begin so.
    """
    if connection.vendor == "sqlite":
        following = ord(value[-1]) + 1
        if 0xD800 <= following <= 0xDFFF:  # no string holds a lone surrogate: skip them
            following = 0xE000
        if following > 0x10FFFF:  # nothing sorts after the last code point
            return Q(**{f"{field}__gte": value})
        upper = value[:-1] + chr(following)
        return Q(**{f"{field}__gte": value, f"{field}__lt": upper})
    return Q(**{f"{field}__startswith": value})


# --- the page -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the list: the contact, how to reach them, their lapse risk."""

    contact: Contact
    phone: Address | None
    email: Address | None
    risk: ClientRisk | None

    @classmethod
    def of(cls, contact: Contact) -> Row:
        addresses = list(contact.addresses.all())  # prefetched
        try:
            risk: ClientRisk | None = contact.risk  # selected with the contact
        except ClientRisk.DoesNotExist:
            risk = None
        return cls(
            contact,
            next((a for a in addresses if a.kind == AddressKind.PHONE), None),
            next((a for a in addresses if a.kind == AddressKind.EMAIL), None),
            risk,
        )


def _filtered(
    rows: QuerySet[Contact], data: dict[str, Any], now: datetime
) -> QuerySet[Contact]:
    if data.get("stage"):
        rows = rows.filter(stage=data["stage"])
    seller = data.get("seller")
    if seller == UNASSIGNED:
        rows = rows.filter(owner__isnull=True)
    elif seller:
        rows = rows.filter(owner_id=int(seller))
    if data.get("source"):
        rows = rows.filter(source_id=int(data["source"]))
    if data.get("chain"):
        # Driven by the chain's enrollments (its index), not by probing every contact.
        rows = rows.filter(pk__in=Enrollment.objects.filter(
            chain_id=int(data["chain"]), state=EnrollmentState.ACTIVE,
        ).values("contact_id"))
    risk = data.get("risk")
    if risk == Risk.LAPSED:
        rows = rows.filter(risk__flagged_for=F("risk__last_purchase_at"))
    elif risk == Risk.OVERDUE:
        rows = rows.filter(risk__lapse_at__lte=now)
    elif risk == Risk.IN_RHYTHM:
        rows = rows.filter(risk__lapse_at__gt=now)
    return rows


def _id(value: str | None) -> int | None:
    """A page's key from the query string; anything else is the first page."""
    if value and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _page_url(request: HttpRequest, **cursor: int) -> str:
    params = request.GET.copy()
    for key in ("after", "before"):
        params.pop(key, None)
    for key, value in cursor.items():
        params[key] = str(value)
    return "?" + params.urlencode()


@login_required
@require_GET
def contact_list(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
    business = business_of(user)
    team = sees_whole_team(user)
    sellers = (
        list(User.objects.filter(business=business, role__in=CAPABILITIES["sell"])
             .order_by("last_name", "first_name", "pk"))
        if team else []
    )
    form = ContactFilters(
        request.GET, team=team, sellers=sellers,
        sources=list(LeadSource.objects.filter(business=business).order_by("name")),
        chains=list(Chain.objects.filter(business=business).order_by("name")),
    )
    form.is_valid()  # the valid fields filter; a bad one shows its error
    data = form.cleaned_data
    match = search(business, data.get("q", ""))
    rows = scope_to_user(user, Contact.objects.all(), "owner", reading=True)
    if match.ids is not None:
        rows = rows.filter(pk__in=match.ids)
    rows = _filtered(rows, data, clock_now()).select_related("owner", "source", "risk")
    rows = rows.prefetch_related(Prefetch(
        "addresses",
        queryset=Address.objects.filter(kind__in=(AddressKind.PHONE, AddressKind.EMAIL))
        .order_by("-is_primary", "id"),
    ))

    after, before = _id(request.GET.get("after")), _id(request.GET.get("before"))
    if before is not None:
        page = list(rows.filter(pk__gt=before).order_by("pk")[:PAGE_SIZE + 1])
        newer, older = len(page) > PAGE_SIZE, True
        page = page[:PAGE_SIZE][::-1]
    else:
        if after is not None:
            rows = rows.filter(pk__lt=after)
        page = list(rows.order_by("-pk")[:PAGE_SIZE + 1])
        newer, older = after is not None, len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
    return render(request, "web/contacts.html", {
        "form": form,
        "match": match,
        "rows": [Row.of(contact) for contact in page],
        "team": team,
        "now": clock_now(),
        "newer_url": _page_url(request, before=page[0].pk) if newer and page else "",
        "older_url": _page_url(request, after=page[-1].pk) if older and page else "",
        "first_url": _page_url(request) if (after or before) else "",
    })
