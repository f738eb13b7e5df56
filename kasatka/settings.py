"""Django settings, read from the environment with safe defaults for a laptop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
import django_stubs_ext
from django.utils.translation import gettext_lazy as _

# Lets admin and model classes be written with type parameters (ModelAdmin[Contact]).
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KASATKA_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEBUG = env_bool("KASATKA_DEBUG", False)
# The default key only suits a laptop demo; `kasatka check --deploy` warns about it.
SECRET_KEY = os.environ.get(
    "KASATKA_SECRET_KEY", "insecure-kasatka-dev-key-change-me-0123456789abcdefghijklmnop"
)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("KASATKA_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("KASATKA_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
# Encrypts provider secrets at rest; defaults to the secret key. Changing it makes the
# stored secrets unreadable (they must be entered again).
KASATKA_ENCRYPTION_KEY = os.environ.get("KASATKA_ENCRYPTION_KEY", "")
# Absolute base of links that leave the site (unsubscribe links in e-mails).
KASATKA_BASE_URL = os.environ.get("KASATKA_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "django_tasks",
    "django_tasks_db",
    "kasatka.accounts",
    "kasatka.contacts",
    "kasatka.sales",
    "kasatka.deals",
    "kasatka.chains",
    "kasatka.channels",
    "kasatka.channels.call",
    "kasatka.channels.letter",
    "kasatka.channels.telegram",
    "kasatka.engine",
    "kasatka.insights",
    "kasatka.web",
    "kasatka.api",
    "kasatka.webhooks",
    "kasatka.imports",
    "kasatka.exports",
    "kasatka.capture",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the session and the user: a signed-in user's own language wins.
    "kasatka.accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it answers a locked-out login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "kasatka.urls"
WSGI_APPLICATION = "kasatka.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "kasatka.accounts.access.capabilities",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# SQLite by default (one file under var/), PostgreSQL through DATABASE_URL.
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'kasatka.sqlite3'}"
_db: dict[str, Any] = dict(dj_database_url.parse(DATABASE_URL, conn_max_age=60))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        # Every write transaction takes the write lock at BEGIN: the engine's claim
        # is one short BEGIN IMMEDIATE, and no transaction fails half-way on upgrade.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;"
            # 64 MB of page cache per connection (SQLite's default is 2 MB): the plan's
            # and the insights' scans of a big book stay in memory.
            " PRAGMA cache_size=-65536;"
        ),
    }
    # Tests use a file, not memory, so that worker processes started by a test
    # see the same database; one per test run, so that two runs at once never clash.
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test-kasatka-{os.getpid()}.sqlite3")}
else:
    _db["TEST"] = {"NAME": f"test_{_db.get('NAME') or 'kasatka'}_{os.getpid()}"}
    if _db["ENGINE"].endswith((".postgresql", ".postgis")):
        # JIT off for Kasatka's connections: its queries are short aggregations, and on a big
        # book their inflated cost estimates made PostgreSQL spend 0.2-0.9 s compiling each
        # (docs/performance.md, "Insights"). A `-c` in DATABASE_URL's options is kept.
        _options = _db.setdefault("OPTIONS", {})
        _options["options"] = " ".join(filter(None, [_options.get("options"), "-c jit=off"]))
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a sign-in while the user name or address is locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"

# --- Sign-in brute force (django-axes) ----------------------------------------
# After this many failed sign-ins for one user name from one address, that pair is
# locked out for the cool-off time; a success resets the count.
AXES_FAILURE_LIMIT = env_int("KASATKA_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("KASATKA_LOGIN_COOLOFF_MINUTES", 15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# --- Content Security Policy (django-csp) ---------------------------------------
# No inline script anywhere: every script is a static file of ours or of django-htmx.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # Plotly's charts set style attributes; nothing else needs inline style.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    },
}
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "login"

# --- Languages and time ------------------------------------------------------
LANGUAGE_CODE = os.environ.get("KASATKA_LANGUAGE", "ru")
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "kasatka" / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("KASATKA_TIME_ZONE", "Europe/Moscow")

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# whitenoise serves app static files from the finders; the root only has to exist.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- E-mail ------------------------------------------------------------------
EMAIL_BACKEND = os.environ.get(
    "KASATKA_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("KASATKA_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = env_int("KASATKA_SMTP_PORT", 2525)
EMAIL_HOST_USER = os.environ.get("KASATKA_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("KASATKA_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("KASATKA_SMTP_STARTTLS", False)
EMAIL_USE_SSL = env_bool("KASATKA_SMTP_SSL", False)
EMAIL_TIMEOUT = env_int("KASATKA_SMTP_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = os.environ.get("KASATKA_FROM_EMAIL", "kasatka@localhost")
# The domain of Message-IDs: <idempotency-key@KASATKA_MESSAGE_ID_DOMAIN>.
KASATKA_MESSAGE_ID_DOMAIN = os.environ.get("KASATKA_MESSAGE_ID_DOMAIN", "kasatka.local")

# --- Channels ------------------------------------------------------------------
# Seconds to wait for a provider's answer; a lost answer makes a touch "unknown"
# unless the provider dedupes by our key.
KASATKA_HTTP_TIMEOUT = float(os.environ.get("KASATKA_HTTP_TIMEOUT", "10"))
# Messages per second per channel, for all businesses and workers together (on top of
# each provider account's own limit), e.g. {"sms": 50}.
KASATKA_CHANNEL_RATES: dict[str, float] = {}
# Replies that withdraw consent for the channel they came on (compared case-blind,
# without punctuation).
KASATKA_STOP_WORDS = ["stop", "стоп", "/stop", "unsubscribe", "отписаться", "отписка"]

# Call tasks: how often a number that does not answer is tried, and how far apart.
KASATKA_CALLS = {
    "NO_ANSWER_ATTEMPTS": env_int("KASATKA_CALL_NO_ANSWER_ATTEMPTS", 3),
    "NO_ANSWER_RETRY_HOURS": env_int("KASATKA_CALL_NO_ANSWER_RETRY_HOURS", 24),
}
# Days a seller's "which of the three cases?" task may stay open before the lead's
# conversion counts as unanswered (and goes to the nurture chain).
KASATKA_LC_ANSWER_DAYS = env_int("KASATKA_LC_ANSWER_DAYS", 7)
# The default of each new business's "printed letters from age" (METHOD.md §2: 50+).
KASATKA_PAPER_FROM_AGE = env_int("KASATKA_PAPER_FROM_AGE", 50)

# --- The touch engine ------------------------------------------------------
KASATKA_ENGINE = {
    # Enrollments claimed per batch and how long a claim is held before
    # another worker may take it back.
    "BATCH_SIZE": env_int("KASATKA_ENGINE_BATCH_SIZE", 100),
    "LEASE_SECONDS": env_int("KASATKA_ENGINE_LEASE_SECONDS", 300),
    # Seconds a worker sleeps when nothing is due.
    "IDLE_SECONDS": float(os.environ.get("KASATKA_ENGINE_IDLE_SECONDS", "2")),
    # Transient failures: exponential backoff from BASE, capped at MAX, at most
    # MAX_ATTEMPTS tries before the touch fails for good.
    "RETRY_BASE_SECONDS": env_int("KASATKA_ENGINE_RETRY_BASE_SECONDS", 60),
    "RETRY_MAX_SECONDS": env_int("KASATKA_ENGINE_RETRY_MAX_SECONDS", 6 * 3600),
    "MAX_ATTEMPTS": env_int("KASATKA_ENGINE_MAX_ATTEMPTS", 8),
    # Seconds between runs of the time-based triggers (lead windows ending, lapses).
    "TRIGGER_SECONDS": env_int("KASATKA_ENGINE_TRIGGER_SECONDS", 60),
}
# The clock: "speed" > 1 makes time run faster (demo fast-forward) from "anchor".
KASATKA_CLOCK_SPEED = float(os.environ.get("KASATKA_CLOCK_SPEED", "1"))
KASATKA_CLOCK_ANCHOR = os.environ.get("KASATKA_CLOCK_ANCHOR", "")
# Seconds added to real time (a worker started "in the future", for drills and tests).
KASATKA_CLOCK_OFFSET = float(os.environ.get("KASATKA_CLOCK_OFFSET", "0"))

# --- Background tasks (imports, exports, outbound webhooks) --------------------------
# Django's Tasks API (django-tasks) on the database: no broker to install. `kasatka run`
# starts one task worker beside the engine; `kasatka tasks` runs one on its own.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
KASATKA_TASKS: dict[str, Any] = {
    # A task still "running" this long after it started, when a task worker starts, is
    # taken for the work of a worker that died and is queued again (long tasks resume).
    "STALE_MINUTES": env_int("KASATKA_TASK_STALE_MINUTES", 15),
    # Seconds a task worker sleeps when nothing is ready.
    "IDLE_SECONDS": float(os.environ.get("KASATKA_TASK_IDLE_SECONDS", "1")),
    # Work kept in tables of its own that the task worker sweeps, this often (seconds).
    "SWEEPS": [
        "kasatka.capture.actions.process_inbox",
        "kasatka.webhooks.delivery.deliver_due",
        "kasatka.insights.journey.refresh_step",
    ],
    "SWEEP_SECONDS": float(os.environ.get("KASATKA_TASK_SWEEP_SECONDS", "1")),
}

# --- Outbound webhooks (docs/webhooks.md) ---------------------------------------------
KASATKA_WEBHOOKS = {
    # Seconds one POST may take before it counts as failed (Standard Webhooks: 15–30).
    "TIMEOUT_SECONDS": env_int("KASATKA_WEBHOOK_TIMEOUT_SECONDS", 15),
    # Failed deliveries: exponential backoff from BASE (±20 % jitter), capped at MAX,
    # tried for WINDOW_HOURS; a receiver failing that long is paused and the owner told.
    "RETRY_BASE_SECONDS": env_int("KASATKA_WEBHOOK_RETRY_BASE_SECONDS", 30),
    "RETRY_MAX_SECONDS": env_int("KASATKA_WEBHOOK_RETRY_MAX_SECONDS", 6 * 3600),
    "RETRY_WINDOW_HOURS": env_int("KASATKA_WEBHOOK_RETRY_WINDOW_HOURS", 72),
    # Deliveries one sweep claims at a time, and how long its claim holds them.
    "BATCH_SIZE": env_int("KASATKA_WEBHOOK_BATCH_SIZE", 10),
    "LEASE_SECONDS": env_int("KASATKA_WEBHOOK_LEASE_SECONDS", 300),
    # How long an emitting process trusts its list of who subscribed to what.
    "CACHE_SECONDS": env_int("KASATKA_WEBHOOK_CACHE_SECONDS", 5),
    # Characters of a receiver's answer kept in the delivery log.
    "RESPONSE_CHARS": env_int("KASATKA_WEBHOOK_RESPONSE_CHARS", 500),
}

# --- Imports of contacts, purchases and deals from CSV/XLSX (docs/imports.md) ---------
KASATKA_IMPORTS = {
    # Where uploaded files wait for their import (kept until the job is deleted).
    "DIR": Path(os.environ.get("KASATKA_IMPORT_DIR", VAR_DIR / "imports")),
    # Rows written per transaction, each with the job's checkpoint: a dead worker resumes
    # from the last committed batch.
    "BATCH_ROWS": env_int("KASATKA_IMPORT_BATCH_ROWS", 2000),
    # Largest upload accepted, in megabytes.
    "MAX_UPLOAD_MB": env_int("KASATKA_IMPORT_MAX_UPLOAD_MB", 200),
    # Rows shown on the mapping step.
    "PREVIEW_ROWS": env_int("KASATKA_IMPORT_PREVIEW_ROWS", 5),
    # Processes parsing a large file (phones, e-mails) beside the one writing it; 0: one
    # per CPU, at most 4; 1: parse in the importing process.
    "PROCESSES": env_int("KASATKA_IMPORT_PROCESSES", 0),
}

# --- Insights -------------------------------------------------------------------
KASATKA_INSIGHTS = {
    # "Where you give up too early": a warming that ended after at most this many touches.
    "GIVE_UP_TOUCHES": env_int("KASATKA_INSIGHTS_GIVE_UP_TOUCHES", 3),
    # A purchase within this many days after a touch is attributed to it.
    "ATTRIBUTION_DAYS": env_int("KASATKA_INSIGHTS_ATTRIBUTION_DAYS", 7),
    # The pages' default period (days up to today), the cohorts' (months), and the longest.
    "DEFAULT_DAYS": env_int("KASATKA_INSIGHTS_DEFAULT_DAYS", 30),
    "COHORT_MONTHS": env_int("KASATKA_INSIGHTS_COHORT_MONTHS", 12),
    "MAX_PERIOD_DAYS": env_int("KASATKA_INSIGHTS_MAX_PERIOD_DAYS", 1096),
    # A business with this many contacts gets the touches-before-purchase rollup, rebuilt
    # by the task worker every ROLLUP_MINUTES, ROLLUP_CHUNK contacts a sweep.
    "ROLLUP_CONTACTS": env_int("KASATKA_INSIGHTS_ROLLUP_CONTACTS", 100_000),
    "ROLLUP_MINUTES": env_int("KASATKA_INSIGHTS_ROLLUP_MINUTES", 60),
    "ROLLUP_CHUNK": env_int("KASATKA_INSIGHTS_ROLLUP_CHUNK", 5000),
}

# --- The REST API -------------------------------------------------------------
KASATKA_API = {
    # Requests per minute per API key (a key may have its own figure), and the burst.
    "RATE_PER_MINUTE": env_int("KASATKA_API_RATE_PER_MINUTE", 600),
    "BURST": env_int("KASATKA_API_BURST", 60),
}

# --- Lead capture (public forms on the business's sites) ------------------------
KASATKA_CAPTURE = {
    # Posts per minute (and burst) from one IP address and to one form; 0: no limit.
    "PER_IP_PER_MINUTE": env_int("KASATKA_CAPTURE_PER_IP_PER_MINUTE", 10),
    "PER_IP_BURST": env_int("KASATKA_CAPTURE_PER_IP_BURST", 5),
    "PER_FORM_PER_MINUTE": env_int("KASATKA_CAPTURE_PER_FORM_PER_MINUTE", 600),
    "PER_FORM_BURST": env_int("KASATKA_CAPTURE_PER_FORM_BURST", 120),
    # How long the first answer to an Idempotency-Key is replayed to its retries.
    "IDEMPOTENCY_HOURS": env_int("KASATKA_IDEMPOTENCY_HOURS", 24),
    # Public forms: keep the checked lead in an inbox and answer at once (the task worker
    # hands it to the intake within a second or two); false: the intake runs in the request.
    "DEFER": env_bool("KASATKA_CAPTURE_DEFER", True),
    # Leads handed to the intake per sweep, and tries before a failing one is set aside.
    "INBOX_BATCH": env_int("KASATKA_CAPTURE_INBOX_BATCH", 500),
    "INBOX_ATTEMPTS": env_int("KASATKA_CAPTURE_INBOX_ATTEMPTS", 5),
}

# --- Exports (CSV / XLSX of contacts, touches, visits, deals) --------------------
KASATKA_EXPORTS = {
    # Where the files go: <DIR>/<business id>/<job id>-<kind>.<csv|xlsx>.
    "DIR": Path(os.environ.get("KASATKA_EXPORT_DIR", VAR_DIR / "exports")),
    # Days a finished export can be downloaded before its file is removed.
    "KEEP_DAYS": env_int("KASATKA_EXPORT_KEEP_DAYS", 7),
    # Rows read from the database at a time (memory stays flat whatever the total).
    "CHUNK_ROWS": env_int("KASATKA_EXPORT_CHUNK_ROWS", 2000),
    # Characters of a touch's text written into the export.
    "EXCERPT_CHARS": env_int("KASATKA_EXPORT_EXCERPT_CHARS", 200),
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "kasatka": {"handlers": ["console"], "level": os.environ.get("KASATKA_LOG_LEVEL", "INFO")},
    },
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"
