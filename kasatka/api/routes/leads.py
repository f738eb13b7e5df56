"""`POST /leads`: a lead from a site's backend, through the same capture as the public forms.

An `Idempotency-Key` header makes a retry harmless: the first answer (status and body) is
kept for KASATKA_IDEMPOTENCY_HOURS per API key and given back to every retry; the same key
with another body is refused with 422. A lead whose phone or e-mail the business knows
merges into that contact (200); a new one is created (201).
"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.params import HeaderEx, P

from kasatka.capture import actions

from ..auth import LEADS, key_of, require_scope
from ..problems import COMMON_PROBLEMS

router = Router(tags=["leads"])


class LeadIn(Schema):
    name: str = Field("", max_length=300)
    phone: str = Field("", max_length=40, description="In any spelling; the business's country "
                       "is assumed without a +country code")
    email: str = Field("", max_length=254)
    source: str = Field("", max_length=200, description="A lead source's name; made when new")
    utm_source: str = Field("", max_length=200)
    utm_medium: str = Field("", max_length=200)
    utm_campaign: str = Field("", max_length=200)
    page_url: str = Field("", max_length=2000,
                          description="The page the lead was on: its UTM tags when none is sent")
    consent: list[str] = Field(
        default_factory=list, max_length=20,
        description="Channels the lead agreed to: email, sms, call, messengers, telegram, "
                    "whatsapp, viber, vk, letter",
    )
    consent_text: str = Field("", max_length=5000,
                              description="The consent text the lead was shown")


class LeadOut(Schema):
    contact_id: int
    created: bool
    source: str | None


@router.post(
    "",
    auth=LEADS,
    response={200: LeadOut, 201: LeadOut, **COMMON_PROBLEMS},
    operation_id="lead_create",
    summary="Hand in a lead (merged into the contact with the same phone or e-mail)",
)
def create_lead(
    request: HttpRequest,
    payload: LeadIn,
    idempotency_key: HeaderEx[str | None, P(alias="Idempotency-Key", max_length=255)] = None,
) -> HttpResponse:
    business = require_scope(request, "leads")
    key = key_of(request)
    values = payload.dict()
    try:
        submission = actions.read_submission(values, payload.consent)
        if idempotency_key:
            actions.check_idempotency_key(idempotency_key.strip())
    except ValidationError as exc:
        answer = actions.invalid(exc)
    else:
        answer = actions.capture_lead(
            business, submission,
            scope=f"apikey:{key.pk}",
            label=f"API key «{key.name}»",
            idempotency_key=(idempotency_key or "").strip(),
        )
    return HttpResponse(
        json.dumps(answer.body, ensure_ascii=False), status=answer.status,
        content_type="application/problem+json" if answer.is_problem else "application/json",
    )
