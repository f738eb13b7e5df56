"""Personas and real parts shared by the whole suite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from django.db import connection

from kasatka.accounts.models import Business, Role, User
from kasatka.engine.clock import ManualClock, set_clock

from .smtp import SMTPServer


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "postgresql"))
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgres://…)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)
        # One Playwright per run: a browser test elsewhere would start a second one (by
        # importing the fixtures), whose event loop breaks every later browser test.
        if "browser" in item.keywords and "tests/browser/" not in item.path.as_posix():
            raise pytest.UsageError(f"{item.nodeid}: browser tests belong in tests/browser/")


@pytest.fixture(autouse=True)
def fast_passwords(settings: object) -> None:
    """The personas' passwords hashed cheaply: PBKDF2 costs about a second per user, and
    no test is about the hash itself."""
    settings.PASSWORD_HASHERS = [  # type: ignore[attr-defined]
        "django.contrib.auth.hashers.MD5PasswordHasher"
    ]


@pytest.fixture
def clock() -> Iterator[ManualClock]:
    """The engine's clock, stopped at a Monday morning; tests move it by hand."""
    manual = ManualClock(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    set_clock(manual)
    yield manual
    set_clock(None)


@pytest.fixture
def shop(db: None) -> Business:
    return Business.objects.create(name="Мебель «Кедр»", slug="kedr", email="shop@kedr.example")


@pytest.fixture
def other_shop(db: None) -> Business:
    return Business.objects.create(name="Диваны «Сосна»", slug="sosna")


def _user(business: Business, username: str, role: str, first: str, last: str) -> User:
    return User.objects.create_user(
        username, password="pw-Kasatka-1", business=business, role=role,
        first_name=first, last_name=last,
    )


@pytest.fixture
def owner(shop: Business) -> User:
    return _user(shop, "olga", Role.OWNER, "Ольга", "Кедрова")


@pytest.fixture
def alice(shop: Business) -> User:
    """A seller of the shop."""
    return _user(shop, "alice", Role.SELLER, "Алиса", "Петрова")


@pytest.fixture
def bob(shop: Business) -> User:
    """Another seller of the same shop."""
    return _user(shop, "bob", Role.SELLER, "Борис", "Смирнов")


@pytest.fixture
def head(shop: Business) -> User:
    """The shop's head of sales: every seller's clients and plans, most settings."""
    return _user(shop, "galina", Role.HEAD_OF_SALES, "Галина", "Орлова")


@pytest.fixture
def marketer(shop: Business) -> User:
    """The shop's marketer: chains, sources and figures; edits no deal."""
    return _user(shop, "ksenia", Role.MARKETER, "Ксения", "Лебедева")


@pytest.fixture
def charlie(other_shop: Business) -> User:
    """A seller of another shop: must never see the first shop's clients."""
    return _user(other_shop, "charlie", Role.SELLER, "Карл", "Соснин")


@pytest.fixture
def smtp(settings: object) -> Iterator[SMTPServer]:
    """A real SMTP server on 127.0.0.1 that Django's SMTP backend talks to."""
    server = SMTPServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # type: ignore[attr-defined]
    settings.EMAIL_HOST = "127.0.0.1"  # type: ignore[attr-defined]
    settings.EMAIL_PORT = server.port  # type: ignore[attr-defined]
    settings.EMAIL_TIMEOUT = 10  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"
