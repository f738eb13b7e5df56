"""Lead capture's actions: read a posted lead, hand it to the lead intake once per
`Idempotency-Key`, keep the consent text, manage the business's capture forms.

The public view (`views.capture`) and the API (`POST /api/v1/leads`) both call
`capture_lead`; neither writes a model itself.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from kasatka.accounts.models import Business
from kasatka.api.problems import django_errors, problem_body
from kasatka.contacts.models import Channel
from kasatka.engine.clock import now as clock_now
from kasatka.sales.actions import normalise_reach
from kasatka.sales.forms import CONSENT_CHANNELS
from kasatka.sales.intake import UTM_KEYS, create_lead

from .models import CaptureForm, ConsentText, IdempotentAnswer, LeadInbox

logger = logging.getLogger("kasatka.capture")

# The longest value each field may bring; more is refused, not cut.
LIMITS = {
    "name": 300, "phone": 40, "email": 254, "source": 200, "consent_text": 5000,
    "utm_source": 200, "utm_medium": 200, "utm_campaign": 200, "page_url": 2000,
}
# The honeypot: a box hidden from people that bots fill in.
HONEYPOT = "website"
IDEMPOTENCY_KEY_MAX = 255


@dataclass(frozen=True)
class Submission:
    """A lead as posted, its values checked for type and length only."""

    name: str = ""
    phone: str = ""
    email: str = ""
    source: str = ""
    utm: dict[str, str] = field(default_factory=dict)
    consent: tuple[str, ...] = ()
    consent_text: str = ""
    honeypot: str = ""

    def fingerprint(self) -> str:
        """What makes two posts "the same request" for an Idempotency-Key."""
        content = asdict(self)
        del content["honeypot"]
        return hashlib.sha256(
            json.dumps(content, sort_keys=True, ensure_ascii=False).encode()
        ).hexdigest()


def _text(data: Mapping[str, Any], name: str, errors: dict[str, list[ValidationError]]) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if isinstance(value, list | tuple):  # a form field sent twice: the last one, as Django does
        value = value[-1] if value else ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        errors[name] = [ValidationError(_("Send text here."), code="type")]
        return ""
    text = str(value).strip()
    if len(text) > LIMITS.get(name, 200):
        errors[name] = [ValidationError(
            _("At most %(limit)d characters."), params={"limit": LIMITS.get(name, 200)},
            code="max_length",
        )]
        return ""
    return text


def _utm_of_url(url: str) -> dict[str, str]:
    query = parse_qs(urlsplit(url).query)
    return {k: query[k][0].strip()[:200] for k in UTM_KEYS if query.get(k, [""])[0].strip()}


def read_submission(
    data: Mapping[str, Any], consent: Sequence[Any], page_urls: Sequence[str] = ()
) -> Submission:
    """A Submission from a form post or a JSON object; ValidationError keyed by field.

    UTM tags come from the posted fields; when none was posted, from the query of the
    page the form was on (the `page_url` field the snippet's script fills in, then the
    Referer the browser sends with a plain post).
    """
    errors: dict[str, list[ValidationError]] = {}
    values = {
        name: _text(data, name, errors)
        for name in ("name", "phone", "email", "source", "consent_text", HONEYPOT, *UTM_KEYS)
    }
    utm = {k: values[k] for k in UTM_KEYS if values[k]}
    if not utm:
        for url in (_text(data, "page_url", errors), *page_urls):
            utm = _utm_of_url(url) if url else {}
            if utm:
                break
    keys: list[str] = []
    for item in consent:
        if not isinstance(item, str):
            errors["consent"] = [ValidationError(_("Send channel names."), code="type")]
            break
        keys.extend(k.strip() for k in item.split(",") if k.strip())
    return_value = Submission(
        name=values["name"], phone=values["phone"], email=values["email"],
        source=values["source"], utm=utm, consent=tuple(dict.fromkeys(keys)),
        consent_text=values["consent_text"], honeypot=values[HONEYPOT],
    )
    if errors:
        raise ValidationError(errors)
    return return_value


def consent_channels(keys: Sequence[str], offered: Sequence[str] | None) -> list[str]:
    """The channels behind the boxes ticked ("messengers" is three), or a ValidationError
    keyed "consent" naming a box the form does not offer. `offered` None: any channel."""
    channels: list[str] = []
    for key in keys:
        if offered is not None and key not in offered:
            raise ValidationError({"consent": [ValidationError(
                _("This form does not offer “%(key)s”."), params={"key": key}, code="offered"
            )]})
        if key in CONSENT_CHANNELS:
            channels.extend(CONSENT_CHANNELS[key])
        elif key in Channel.values:
            channels.append(key)
        else:
            raise ValidationError({"consent": [ValidationError(
                _("“%(key)s” is not a channel."), params={"key": key}, code="invalid"
            )]})
    return list(dict.fromkeys(channels))


# (business id, digest) of the texts this process knows are kept: a form shows one text to
# every lead, so after the first lead it costs no query. Rows are never deleted.
_KEPT_TEXTS: set[tuple[int, str]] = set()
_KEPT_TEXTS_MAX = 10_000


def keep_consent_text(business: Business, text: str) -> str:
    """The SHA-256 of the text, kept whole once per business."""
    digest = hashlib.sha256(text.encode()).hexdigest()
    if (business.pk, digest) in _KEPT_TEXTS:
        return digest
    if not ConsentText.objects.filter(business=business, digest=digest).exists():
        try:
            with transaction.atomic():
                ConsentText.objects.create(
                    business=business, digest=digest, text=text, first_seen_at=clock_now()
                )
        except IntegrityError:
            pass  # kept by a lead posted at the same moment
    transaction.on_commit(lambda: _remember_text(business.pk, digest))
    return digest


def _remember_text(business_id: int, digest: str) -> None:
    # Only once committed: a transaction rolled back would have taken the row with it.
    if len(_KEPT_TEXTS) >= _KEPT_TEXTS_MAX:
        _KEPT_TEXTS.clear()
    _KEPT_TEXTS.add((business_id, digest))


def consent_where(label: str, business: Business, text: str) -> str:
    """The consent entries' `source`: where the lead gave it and which text they saw
    (its digest names the whole text in ConsentText; its start is readable in place)."""
    if not text:
        return label[:300]
    digest = keep_consent_text(business, text)
    return f"{label} · text {digest[:12]}: {text}"[:300]


# --- answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What to tell the caller: a status and a JSON body (a problem when >= 400)."""

    status: int
    body: dict[str, Any]
    replayed: bool = False

    @property
    def is_problem(self) -> bool:
        return self.status >= 400


def problem_answer(status: int, detail: str, errors: Sequence[tuple[str, str]] = ()) -> Answer:
    return Answer(status, problem_body(status, detail, errors))


def invalid(exc: ValidationError) -> Answer:
    return problem_answer(422, "Some fields are not valid.", django_errors(exc))


def check_idempotency_key(key: str) -> None:
    if len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise ValidationError({"Idempotency-Key": [ValidationError(
            _("At most %(limit)d printable characters."), params={"limit": IDEMPOTENCY_KEY_MAX},
            code="idempotency_key",
        )]})


def _lock(name: str) -> None:
    """PostgreSQL: serialise requests of one Idempotency-Key until the transaction ends
    (SQLite's write transactions run one at a time already)."""
    if connection.vendor == "postgresql":
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                             signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def capture_lead(
    business: Business,
    submission: Submission,
    *,
    scope: str,
    label: str,
    default_source: str = "",
    offered: Sequence[str] | None = None,
    idempotency_key: str = "",
    success: Mapping[str, Any] | None = None,
) -> Answer:
    """Hand a lead to the intake (find or create the contact, attribute the source, record
    the consent with the text shown) and say how it went.

    With an `idempotency_key` (unique within `scope`: a form's or an API key's), the first
    answer is kept for KASATKA_IDEMPOTENCY_HOURS and a retry gets it back untouched; the
    same key with other content is refused (422). `success` is the body of a success
    (a public form tells a stranger nothing about who is already a client); None: the
    contact's id and whether it is new.
    """
    at = clock_now()
    fingerprint = submission.fingerprint() if idempotency_key else ""
    with transaction.atomic():
        if idempotency_key:
            _lock(f"idempotency:{scope}:{idempotency_key}")
            kept = IdempotentAnswer.objects.filter(scope=scope, key=idempotency_key).first()
            if kept is not None and kept.expires_at > at:
                if kept.fingerprint != fingerprint:
                    return problem_answer(
                        422, "This Idempotency-Key was used for another request.",
                        [("Idempotency-Key", _("Use a new key for a different request."))],
                    )
                return Answer(kept.status, json.loads(kept.body), replayed=True)
        try:
            lead = create_lead(
                business,
                name=submission.name,
                phone=submission.phone,
                email=submission.email,
                utm=submission.utm,
                source_name=submission.source or (default_source if not submission.utm else ""),
                consent=consent_channels(submission.consent, offered),
                consent_source=consent_where(label, business, submission.consent_text),
                at=at,
            )
        except ValidationError as exc:
            answer = invalid(exc)
        else:
            body = dict(success) if success is not None else {
                "contact_id": lead.contact.pk,
                "created": lead.is_new,
                "source": lead.contact.source.name if lead.contact.source else None,
            }
            answer = Answer(201 if lead.is_new and success is None else 200, body)
        if idempotency_key:
            hours = settings.KASATKA_CAPTURE["IDEMPOTENCY_HOURS"]
            IdempotentAnswer.objects.update_or_create(
                scope=scope, key=idempotency_key,
                defaults={
                    "fingerprint": fingerprint, "status": answer.status,
                    "body": json.dumps(answer.body, ensure_ascii=False),
                    "created_at": at, "expires_at": at + timedelta(hours=hours),
                },
            )
    return answer


def purge_expired_answers(now: datetime | None = None) -> int:
    """Forget the idempotent answers and processed inbox rows past their time (an engine
    trigger)."""
    now = now or clock_now()
    deleted, _by_model = IdempotentAnswer.objects.filter(expires_at__lte=now).delete()
    kept_since = now - timedelta(hours=settings.KASATKA_CAPTURE["IDEMPOTENCY_HOURS"])
    gone, _by_model = LeadInbox.objects.filter(
        processed_at__isnull=False, received_at__lt=kept_since
    ).delete()
    return deleted + gone


# --- the inbox: accept now, hand to the intake a moment later ------------------------------


def check_submission(business: Business, submission: Submission, offered: Sequence[str]) -> None:
    """What the intake would refuse and needs no database to see: raise it now, keyed by
    field, so that the visitor fixes the box while still on the page."""
    normalise_reach(business, submission.phone, submission.email)
    if not (submission.phone or submission.email):
        raise ValidationError(
            {"phone": [ValidationError(_("Leave a phone or an e-mail."), code="required")]}
        )
    consent_channels(submission.consent, offered)


def accept_lead(
    form: CaptureForm, submission: Submission, success: Mapping[str, Any],
    idempotency_key: str = "",
) -> Answer:
    """Keep a checked lead in the inbox and thank the visitor (the same answer to a retry
    with the same `Idempotency-Key`; 422 when the key came with another lead)."""
    at = clock_now()
    fingerprint = submission.fingerprint() if idempotency_key else ""
    row = LeadInbox(
        business_id=form.business_id, form=form, submission=asdict(submission),
        idempotency_key=idempotency_key, fingerprint=fingerprint, received_at=at,
    )
    for _attempt in range(2):
        try:
            with transaction.atomic():
                row.save(force_insert=True)
            return Answer(200, dict(success))
        except IntegrityError:
            kept = LeadInbox.objects.filter(form=form, idempotency_key=idempotency_key).first()
            if kept is None:
                continue  # purged in between: insert again
            hours = settings.KASATKA_CAPTURE["IDEMPOTENCY_HOURS"]
            if kept.received_at + timedelta(hours=hours) <= at and kept.processed_at:
                LeadInbox.objects.filter(pk=kept.pk).delete()  # an expired key: new again
                continue
            if kept.fingerprint != fingerprint:
                return problem_answer(
                    422, "This Idempotency-Key was used for another request.",
                    [("Idempotency-Key", _("Use a new key for a different request."))],
                )
            return Answer(200, dict(success), replayed=True)
    return problem_answer(409, "The lead could not be kept: send it again.")


def _submission_of(row: LeadInbox) -> Submission:
    data = dict(row.submission)
    data["consent"] = tuple(data.get("consent") or ())
    return Submission(**data)


def process_inbox(limit: int | None = None) -> int:
    """Hand the accepted leads to the intake, oldest first; how many were handled.

    Each lead in its own transaction, taken under a row lock (PostgreSQL: SKIP LOCKED, so
    task workers share the inbox; SQLite: the write lock) and re-checked, so a lead is
    handled once whatever runs this at the same time. A lead the intake refuses keeps the
    reason; an unexpected error is retried on the next sweep, up to
    KASATKA_CAPTURE["INBOX_ATTEMPTS"] times, and then kept with its error for the owner.
    """
    batch = limit or settings.KASATKA_CAPTURE["INBOX_BATCH"]
    attempts = settings.KASATKA_CAPTURE["INBOX_ATTEMPTS"]
    ids = list(
        LeadInbox.objects.filter(processed_at__isnull=True, attempts__lt=attempts)
        .order_by("id").values_list("id", flat=True)[:batch]
    )
    handled = 0
    for pk in ids:
        with transaction.atomic():
            row = (
                LeadInbox.objects.select_for_update(skip_locked=True)
                .select_related("form__business")
                .filter(pk=pk, processed_at__isnull=True).first()
            )
            if row is None:
                continue  # another worker has it
            form = row.form
            try:
                with transaction.atomic():
                    answer = capture_lead(
                        form.business, _submission_of(row), scope=f"form:{form.pk}",
                        label=f"capture form «{form.name}»",
                        default_source=form.default_source, offered=form.channel_keys,
                    )
            except Exception as exc:
                logger.exception("lead %s of the inbox failed", row.pk)
                row.attempts += 1
                row.error = f"{type(exc).__name__}: {exc}"[:2000]
                row.save(update_fields=["attempts", "error"])
                continue
            row.processed_at = clock_now()
            row.attempts += 1
            if answer.is_problem:
                row.error = json.dumps(answer.body.get("errors", []), ensure_ascii=False)
            else:
                row.contact_id = answer.body.get("contact_id")
                row.error = ""
            row.save(update_fields=["processed_at", "attempts", "error", "contact"])
            handled += 1
    return handled


# --- the business's forms ------------------------------------------------------------


def find_form(key: str) -> CaptureForm | None:
    """The active form a public post is for: by its token, else the default form of the
    business with this slug (made the first time that address is used)."""
    form = CaptureForm.objects.select_related("business").filter(token=key).first()
    if form is None:
        business = Business.objects.filter(slug=key).first()
        if business is None:
            return None
        form = default_form(business)
    return form if form.is_active else None


def default_form(business: Business) -> CaptureForm:
    """The business's form behind `/capture/<slug>/`."""
    form = CaptureForm.objects.filter(business=business, is_default=True).first()
    if form is None:
        try:
            with transaction.atomic():
                form = CaptureForm.objects.create(
                    business=business, name=_("Site form"), is_default=True,
                    channels=",".join(CONSENT_CHANNELS), created_at=clock_now(),
                )
        except IntegrityError:
            form = CaptureForm.objects.get(business=business, is_default=True)
    form.business = business
    return form


def count_trapped(form: CaptureForm) -> None:
    """A bot filled the honeypot: counted, nothing else stored."""
    CaptureForm.objects.filter(pk=form.pk).update(trapped=F("trapped") + 1)


def save_form(form: CaptureForm, values: Mapping[str, Any]) -> CaptureForm:
    """Save a capture form from the owner's page (values already cleaned by its form)."""
    for name in ("name", "allowed_origins", "default_source", "consent_text", "thank_you_url",
                 "is_active"):
        if name in values:
            setattr(form, name, values[name])
    if "channels" in values:
        form.channels = ",".join(k for k in CONSENT_CHANNELS if k in values["channels"])
    form.full_clean(exclude=["business", "token"])
    form.save()
    return form
