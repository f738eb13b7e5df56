"""The authorisation matrix: every URL × every role × own / another seller's / another
business's object → allowed, 403 or 404, as designed.

The design, in one place:
- not signed in → the login page (public pages excepted: they carry their own token);
- a role without the page's capability (`kasatka.accounts.access.CAPABILITIES`) → 403;
- another business's object → 404, whatever the role: an id is never confirmed to exist;
- another seller's client, deal or task → 404 for a seller; the owner and the head of sales
  see the whole team; a marketer may *read* every contact but act on none.

Every route of the site must be listed in `ROUTES` (the last test fails on a new one), so a
new page cannot ship without its line in the matrix. Each request runs in a savepoint that
is rolled back, so one role's POST never changes what the next one finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from kasatka.accounts.access import CAPABILITIES
from kasatka.accounts.models import Business, BusinessDay, Notice, Role, User
from kasatka.api.keys import issue_key
from kasatka.api.models import Scope
from kasatka.capture.models import CaptureForm
from kasatka.channels.call.models import CallTask
from kasatka.channels.models import ProviderAccount
from kasatka.deals.actions import create_deal
from kasatka.deals.library import ensure_default_pipeline
from kasatka.deals.models import Answer, DealTask, Nudge
from kasatka.deals.nudging import nudge_stuck_deals
from kasatka.deals.replies import record_answer
from kasatka.imports.actions import create_job
from kasatka.insights.pages import PAGES
from kasatka.sales.models import (
    LeadConversion,
    LeadSource,
    LeadSourceCost,
    LossKind,
    LossReason,
)
from kasatka.webhooks.actions import create_subscription, send_test
from kasatka.webhooks.models import EventType
from tests import builders
from tests.channels.letter import letters
from tests.exports.world import done_export

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

MSK = ZoneInfo("Europe/Moscow")
ALLOWED, FORBIDDEN, NOT_FOUND, LOGIN = "allowed", "403", "404", "login"

# Whose object a request is about: the seller's own, a colleague's, another business's.
MINE, COLLEAGUES, FOREIGN = "mine", "colleague's", "foreign"


@dataclass(frozen=True)
class Route:
    """How to call one URL and who may."""

    name: str
    method: str = "GET"
    cap: str | None = None  # the capability the page needs; None: any signed-in user
    obj: str | None = None  # the kind of object in the URL (a key of World.objects)
    # How rows are scoped: "seller" (a seller: own only), "reading" (a seller: own only,
    # a marketer: all), "business" (everyone with the capability: all of the business).
    scope: str = "business"
    data: dict[str, Any] = field(default_factory=dict)
    # Public pages need no sign-in (a token, a key or a slug is the credential) and give
    # everyone the same answer: signing in grants nothing there.
    public: str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)  # URL arguments that are no object


def R(name: str, method: str = "GET", **kwargs: Any) -> Route:  # short: the table reads better
    return Route(name, method, **kwargs)


ROUTES: list[Route] = [
    # Signing in and out, the language: anyone.
    R("login", public=ALLOWED),
    R("logout", "POST", public=LOGIN),  # back to the login page
    R("set_language", "POST", public=ALLOWED, data={"language": "en"}),
    R("language", "POST", public=ALLOWED, data={"language": "en"}),
    # Public pages with a forged token or key: refused alike for everyone, signed in or not
    # (their valid tokens are tested in tests/web/test_unsubscribe.py, test_preferences.py,
    # tests/sales/test_conversion.py and tests/channels/).
    R("unsubscribe", public=NOT_FOUND, obj="token"),
    R("confirm_consent", public=NOT_FOUND, obj="token"),
    R("lead_answer", public=NOT_FOUND, obj="token"),
    R("channel_hook", "POST", public=FORBIDDEN, obj="hook"),
    # The business's own lead form, by its slug.
    R("lead_form", public=ALLOWED, obj="slug"),
    # The API's documentation (the API itself authenticates by key, not by session: its
    # own matrix of keys and scopes is in tests/api/).
    R("api_docs", public=ALLOWED),
    # The seller's day.
    R("web:home"),
    R("web:calls", cap="sell"),
    R("web:close_call", "POST", cap="sell", obj="call", scope="seller",
      data={"outcome": "reached"}),
    R("web:touches"),
    R("web:contacts"),
    R("web:contact_duplicates", cap="sell", data={"phone": "+79161234567"}),
    R("web:contact", obj="contact", scope="reading"),
    R("web:qualification", cap="sell", obj="contact", scope="seller"),
    R("web:visits", cap="sell"),
    R("web:dismiss_notice", "POST", cap="settings", obj="notice"),
    R("web:new_visit", cap="sell"),
    R("lead_answer_by_seller", "POST", cap="sell", obj="conversion", scope="seller",
      data={"outcome": "thinking"}),
    # Deals.
    R("deals:plan", cap="sell"),
    R("deals:board"),  # a marketer sees it, without the means to move a card
    R("deals:move", "POST", cap="edit_deals", obj="deal", scope="seller",
      data={"to": "won"}),
    R("deals:propose", "POST", cap="edit_deals", obj="deal", scope="seller"),
    R("deals:throw", "POST", cap="edit_deals", obj="nudge", scope="seller",
      data={"mode": "message"}),
    R("deals:task_done", "POST", cap="edit_deals", obj="task", scope="seller"),
    R("deals:correct", "POST", cap="edit_deals", obj="reply", scope="seller",
      data={"answer": "yes"}),
    R("deals:deal", obj="deal", scope="reading"),
    R("deals:answer", "POST", cap="edit_deals", obj="deal", scope="seller",
      data={"answer": "yes"}),
    # Printed letters: the sales office's work.
    R("letters:queue", cap="sell"),
    R("letters:print", "POST", cap="sell"),
    R("letters:reprint", cap="sell"),
    R("letters:labels", cap="sell"),
    R("letters:post_all", "POST", cap="sell"),
    R("letters:pdf", cap="sell", obj="letter", scope="seller"),
    R("letters:post", "POST", cap="sell", obj="letter", scope="seller"),
    # Figures.
    R("insights:lapsing"),
    R("insights:index", cap="insights"),
    *[R("insights:page", cap="insights", fixed={"slug": page.slug}) for page in PAGES],
    *[R("insights:page", cap="insights", fixed={"slug": slug}, data={"csv": table})
      for slug, table in (("funnel", "stages"), ("sources", "sources"), ("lapse", "winback"))],
    # Plotly's JavaScript is a static file of the installed package.
    R("insights:plotly", public=ALLOWED, fixed={"version": "7"}),
    # Chains and settings.
    R("chains:list", cap="chains"),
    R("chains:new", cap="chains"),
    R("chains:edit", cap="chains", obj="chain"),
    R("chains:active", "POST", cap="chains", obj="chain", data={"active": "0"}),
    R("chains:lint", "POST", cap="chains"),
    R("chains:preview", "POST", cap="chains"),
    R("chains:contacts", cap="chains", data={"q": "Ив"}),
    R("settings:index", cap="sources"),  # a marketer finds the lead sources there
    R("settings:business", cap="settings"),
    R("settings:sending", cap="settings"),
    R("settings:calendar", cap="settings"),
    R("settings:calendar_remove", "POST", cap="settings", obj="day"),
    R("settings:method", cap="settings"),
    R("settings:loss_reasons", cap="settings"),
    R("settings:loss_reason", cap="settings", obj="reason"),
    R("settings:loss_reason_move", "POST", cap="settings", obj="reason", data={"step": "1"}),
    R("settings:loss_reason_remove", "POST", cap="settings", obj="reason"),
    R("settings:pipelines", cap="settings"),
    R("settings:pipeline", cap="settings", obj="pipeline"),
    R("settings:stage_add", "POST", cap="settings", obj="pipeline", data={"name": "Замер"}),
    R("settings:stage", cap="settings", obj="stage"),
    R("settings:stage_move", "POST", cap="settings", obj="stage", data={"step": "1"}),
    R("settings:stage_remove", "POST", cap="settings", obj="stage"),
    R("settings:channels", cap="settings"),
    R("settings:channel_new", cap="settings"),
    R("settings:channel", cap="settings", obj="provider"),
    R("settings:channel_deactivate", "POST", cap="settings", obj="provider"),
    R("settings:users", cap="users"),
    R("settings:user_new", cap="users"),
    R("settings:user", cap="users", obj="user"),
    R("settings:user_password", "POST", cap="users", obj="user",
      data={"password1": "x", "password2": "y"}),
    R("settings:sources", cap="sources"),
    R("settings:source", cap="sources", obj="source"),
    R("settings:source_cost_add", "POST", cap="sources", obj="source",
      data={"period_start": "2026-03-01", "period_end": "2026-03-31", "amount": "1000"}),
    R("settings:source_cost_remove", "POST", cap="sources", obj="cost"),
    # Lead capture: the owner's forms (owner + head of sales: capability "settings").
    R("capture:forms", cap="settings"),
    R("capture:forms", "POST", cap="settings", data={"name": "Форма", "is_active": "on"}),
    R("capture:form", obj="capture_form", cap="settings"),
    R("capture:form", "POST", obj="capture_form", cap="settings", data={"name": "Форма"}),
    # The public endpoint the snippets post to, with a forged token: 404 for everyone
    # (valid tokens, the slug, CORS, rate limits: tests/capture/test_capture.py).
    R("capture:submit", public=NOT_FOUND, obj="token"),
    # Exports: the business's files, for those who may export (owner, head, marketer); a
    # seller 403; another business's export 404. The World's export belongs to the
    # business (requested by its owner), so a colleague's is the same row.
    R("exports:index", cap="export"),
    R("exports:index", "POST", cap="export",
      data={"kind": "contacts", "format": "csv", "separator": ";"}),
    R("exports:job", cap="export", obj="export"),
    R("exports:download", cap="export", obj="export"),
    # API keys: the owner only (`integrations`); another business's key 404.
    R("apikeys:list", cap="integrations"),
    R("apikeys:list", "POST", cap="integrations", data={"name": "Сайт", "scope": "leads"}),
    R("apikeys:revoke", "POST", cap="integrations", obj="apikey"),
    # Imports from CSV/XLSX files: owner and head of sales; another business's job 404.
    R("imports:index", cap="import"),
    R("imports:job", cap="import", obj="import_job"),
    R("imports:job", "POST", cap="import", obj="import_job"),  # no mapping: 400, the form again
    R("imports:progress", cap="import", obj="import_job"),
    R("imports:rejected", cap="import", obj="import_job"),
    R("imports:resume", "POST", cap="import", obj="import_job"),  # not failed: back, told why
    R("imports:delete", "POST", cap="import", obj="import_job"),
    # Outbound webhooks: the owner's alone (capability "integrations").
    R("webhooks:list", cap="integrations"),
    R("webhooks:detail", cap="integrations", obj="webhook"),
    R("webhooks:delete", "POST", cap="integrations", obj="webhook"),
    R("webhooks:test", "POST", cap="integrations", obj="webhook"),
    R("webhooks:pause", "POST", cap="integrations", obj="webhook"),
    R("webhooks:resume", "POST", cap="integrations", obj="webhook"),
    R("webhooks:rotate_secret", "POST", cap="integrations", obj="webhook"),
    R("webhooks:delivery", cap="integrations", obj="delivery"),
    R("webhooks:resend", "POST", cap="integrations", obj="delivery"),
]

ROLES = ("owner", "head", "alice", "marketer")


class World:
    """Two sellers' worth of everything in the shop, and the same in another shop."""

    def __init__(self, shop: Business, other: Business, people: dict[str, User], clock):
        self.people = people
        clock.set(datetime(2026, 3, 2, 9, tzinfo=MSK))
        self.objects: dict[str, dict[str, Any]] = {}
        sellers = {MINE: (shop, people["alice"]), COLLEAGUES: (shop, people["bob"]),
                   FOREIGN: (other, people["charlie"])}
        made: dict[str, dict[str, Any]] = {}
        for target, (business, seller) in sellers.items():
            n = len(made) + 1
            contact = builders.contact(
                business, email=f"client{n}@example.com", phone=f"+7916123456{n}",
                owner=seller,
            )
            stage = ensure_default_pipeline(business).stages.order_by("position")[1]
            deal = create_deal(contact, f"Сделка {n}", Decimal("50000"), stage, seller=seller,
                               at=clock.now())
            made[target] = {"business": business, "seller": seller, "contact": contact,
                            "deal": deal}
        clock.set(datetime(2026, 3, 5, 9, tzinfo=MSK))
        nudge_stuck_deals(clock.now())
        for target, o in made.items():
            o["nudge"] = Nudge.objects.get(deal=o["deal"])
            o["reply"] = record_answer(o["deal"], Answer.OTHER, o["seller"], text="Перезвоните")
            # "Other" gives the seller a task to read the answer: the task routes act on it.
            o["task"] = DealTask.objects.get(deal=o["deal"], reply=o["reply"])
            o["call"] = CallTask.objects.create(
                business=o["business"], contact=o["contact"], assignee=o["seller"],
                phone=o["contact"].addresses.get(kind="phone").value, reason="Перезвонить",
            )
            o["conversion"] = LeadConversion.objects.create(
                business=o["business"], contact=o["contact"], started_at=clock.now(),
                ends_at=clock.now(), call_task=o["call"],
            )
            postal = letters.postal_contact(
                o["business"], owner=o["seller"], email=f"post{target[:3]}@example.com"
            )
            o["letter"] = letters.letters_for(o["business"], clock, [postal])[0]
        # Business-wide objects: the same one for both sellers of a shop.
        shared = {b.pk: self._business_objects(b) for b in (shop, other)}
        for o in made.values():
            o.update(shared[o["business"].pk])
            o["user"] = o["seller"]  # the settings' user pages act on a seller
        self.objects = made

    @staticmethod
    def _business_objects(business: Business) -> dict[str, Any]:
        pipeline = ensure_default_pipeline(business)
        source = LeadSource.objects.create(business=business, name="Яндекс Директ")
        # Only rows: nothing is sent until a sweep runs.
        webhook = create_subscription(
            business, "https://example.ru/hooks", [EventType.CONTACT_CREATED]
        )
        return {
            "webhook": webhook,
            "delivery": send_test(webhook),
            "chain": builders.chain(business, name="Прогрев"),
            "day": BusinessDay.objects.create(
                business=business, date=datetime(2026, 3, 9).date(), is_working=True
            ),
            "reason": LossReason.objects.create(
                business=business, name="Дорого", kind=LossKind.values[0]
            ),
            "pipeline": pipeline,
            "stage": pipeline.stages.order_by("-position").first(),
            "provider": ProviderAccount.objects.create(
                business=business, channel="sms", provider="smsru", name="SMS"
            ),
            "source": source,
            "notice": Notice.objects.create(business=business, kind="test", title="Notice"),
            "capture_form": CaptureForm.objects.create(business=business, name="Сайт"),
            "export": done_export(business),
            "apikey": issue_key(business, "Сайт", Scope.WRITE).key,
            "import_job": create_job(
                business, "contacts", BytesIO("Имя;Телефон\nАнна;+7 916 123-45-67\n".encode()),
                file_name="clients.csv",
            ),
            "cost": LeadSourceCost.objects.create(
                business=business, source=source, period_start=datetime(2026, 1, 1).date(),
                period_end=datetime(2026, 1, 31).date(), amount=Decimal("5000"),
            ),
        }

    def kwargs(self, route: Route, target: str) -> dict[str, Any]:
        if route.obj is None:
            return dict(route.fixed)
        o = self.objects[target]
        if route.obj == "slug":
            return {"slug": o["business"].slug}
        if route.obj == "token":
            return {"token": "not-a-valid-token"}
        if route.obj == "hook":
            return {"account_id": 1, "key": "wrong"}
        return {"pk": o[route.obj].pk}


@pytest.fixture
def world(
    shop, other_shop, owner, head, alice, bob, marketer, charlie, clock, settings, tmp_path
) -> World:
    settings.KASATKA_EXPORTS = {**settings.KASATKA_EXPORTS, "DIR": tmp_path / "exports"}
    settings.KASATKA_IMPORTS = {**settings.KASATKA_IMPORTS, "DIR": tmp_path / "imports"}
    people = {"owner": owner, "head": head, "alice": alice, "bob": bob,
              "marketer": marketer, "charlie": charlie}
    return World(shop, other_shop, people, clock)


def expected(route: Route, role: str | None, target: str, user: User | None) -> str:
    if route.public:
        return route.public
    if user is None:
        return LOGIN
    if route.cap and user.role not in CAPABILITIES[route.cap]:
        return FORBIDDEN
    if route.obj is None:
        return ALLOWED
    if target == FOREIGN:
        return NOT_FOUND
    if target == COLLEAGUES and user.role == Role.SELLER and route.scope != "business":
        return NOT_FOUND
    if target == COLLEAGUES and user.role == Role.MARKETER and route.scope == "seller":
        return NOT_FOUND
    return ALLOWED


def outcome(response) -> str:
    code = response.status_code
    if code == 302 and "/login/" in response.headers.get("Location", ""):
        return LOGIN
    if code == 403:
        return FORBIDDEN
    if code == 404:
        return NOT_FOUND
    assert code < 500, f"server error {code}"
    return ALLOWED


def _request(route: Route, user: User | None, kwargs: dict[str, Any]):
    client = Client()
    if user is not None:
        client.force_login(user)
    url = reverse(route.name, kwargs=kwargs)
    with transaction.atomic():
        if route.method == "POST":
            response = client.post(url, route.data)
        else:
            response = client.get(url, route.data)
        transaction.set_rollback(True)
    return response


def test_every_role_gets_what_the_design_says(world):
    """One world for the whole matrix (building it is the slow part); every cell checked."""
    wrong, checked = [], 0
    for route in ROUTES:
        targets = (MINE, COLLEAGUES, FOREIGN) if route.obj else (MINE,)
        for role in (None, *ROLES):
            user = world.people[role] if role else None
            for target in targets:
                want = expected(route, role, target, user)
                got = outcome(_request(route, user, world.kwargs(route, target)))
                checked += 1
                if got != want:
                    wrong.append(
                        f"{route.name}: {role or 'anonymous'} × {target}: {got}, expected {want}"
                    )
    assert not wrong, f"{len(wrong)} of {checked} cells differ:\n" + "\n".join(wrong)


def _names(patterns: list[Any], namespace: str = "") -> list[str]:
    names = []
    for p in patterns:
        if isinstance(p, URLResolver):
            inner = f"{namespace}{p.namespace}:" if p.namespace else namespace
            # Django's admin has its own staff checks; the API its keys (tests/api/).
            if p.namespace not in {"admin", "api"}:
                names += _names(p.url_patterns, inner)
        elif isinstance(p, URLPattern) and p.name:
            names.append(namespace + p.name)
    return names


def test_every_route_of_the_site_is_in_the_matrix():
    listed = {r.name for r in ROUTES}
    missing = sorted(set(_names(get_resolver().url_patterns)) - listed)
    assert not missing, f"routes without a line in the matrix: {missing}"
