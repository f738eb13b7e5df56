"""The page-level defences: a Content Security Policy, no inline script, CSRF on every form."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kasatka

pytestmark = pytest.mark.django_db

TEMPLATES = sorted(
    p for p in Path(kasatka.__file__).parent.rglob("templates/**/*.html")
    if "/admin/" not in str(p)
)
SCRIPT_WITH_BODY = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>(?!\s*</script>)", re.I)
HANDLER = re.compile(r"<[^>]*\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.I)
POST_FORM = re.compile(r"<form\b[^>]*method=[\"']?post[\"']?[^>]*>(.*?)</form>", re.I | re.S)


def test_there_are_templates_to_check():
    assert len(TEMPLATES) > 20


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p).split("kasatka/", 1)[-1])
def test_no_template_has_inline_script_or_handlers(path):
    text = path.read_text()
    assert not SCRIPT_WITH_BODY.search(text), "inline <script>: the CSP blocks it"
    match = HANDLER.search(text)
    assert not match, f"inline event handler {match.group(1) if match else ''}"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p).split("kasatka/", 1)[-1])
def test_every_post_form_carries_the_csrf_token(path):
    text = path.read_text()
    if "{# csrf-exempt view:" in text:  # public pages whose signed token is the credential
        return
    for body in POST_FORM.findall(text):
        assert "{% csrf_token %}" in body


def test_the_policy_forbids_inline_and_foreign_script(client, alice):
    client.force_login(alice)
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in policy.split(";") if part.strip()
    )
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-eval'" not in policy


@pytest.mark.parametrize("url", ["/login/", "/u/not-a-token/"])
def test_public_pages_send_the_policy_too(client, url):
    response = client.get(url)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


def test_a_post_without_the_csrf_token_is_refused(alice):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/language/", {"language": "en", "next": "/"})
    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.language == ""
