"""What a step's text comes to as SMS, shown to the marketer before the chain goes out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kasatka.chains.templating import (
    SAMPLE_CONTACT,
    SAMPLE_DEAL,
    SAMPLE_SELLER,
    TemplateError,
    build_context,
    render,
)
from kasatka.channels.models import ProviderAccount
from kasatka.contacts.models import Channel

from .segments import Encoding, SmsLength, sms_length

if TYPE_CHECKING:
    from kasatka.accounts.models import Business
    from kasatka.chains.models import Step

@dataclass(frozen=True)
class SmsPreview:
    text: str  # the step's text rendered for the sample contact
    length: SmsLength
    sender: str  # the sender name the business's SMS account sends under ("" if none)

    def summary(self) -> str:
        """E.g. "UCS-2 (Cyrillic), 83 characters, 2 SMS; sender: Kedr"."""
        length = self.length
        if length.encoding is Encoding.GSM7:
            encoding = "GSM-7"
        elif length.is_cyrillic:
            encoding = _("UCS-2 (Cyrillic)")
        else:
            encoding = _("UCS-2 (because of “%(char)s”)") % {"char": length.trigger}
        characters = ngettext(
            "%(count)d character", "%(count)d characters", length.characters
        ) % {"count": length.characters}
        messages = ngettext("%(count)d SMS", "%(count)d SMS", length.segments) % {
            "count": length.segments
        }
        sender = self.sender or _("the provider's default")
        return _("%(encoding)s, %(characters)s, %(messages)s; sender: %(sender)s") % {
            "encoding": encoding, "characters": characters, "messages": messages,
            "sender": sender,
        }


def sms_sender(business: Business | int) -> str:
    """The sender name of the business's active SMS account (Twilio's is its From number)."""
    account = ProviderAccount.objects.filter(
        business=business, channel=Channel.SMS, is_active=True
    ).first()
    if account is None:
        return ""
    options = account.options if isinstance(account.options, dict) else {}
    return str(options.get("sender") or options.get("from") or "")


def preview_step(step: Step) -> SmsPreview:
    """The step's text as SMS for a sample contact; TemplateError if it does not render."""
    business = step.chain.business
    context = build_context(
        SAMPLE_CONTACT, business, SAMPLE_SELLER, deal=SAMPLE_DEAL,
        # The engine gives SMS no link: unsubscribing is a "STOP" reply.
        unsubscribe_url="", preferences_url="",
    )
    text = render(step.body_template, context)
    return SmsPreview(text, sms_length(text), sms_sender(business))


def step_display(step: Step) -> str:
    """For the step's admin: the summary and the sample text it counts, or why there is none."""
    if Channel.SMS not in (step.channels or []):
        return _("This step is not sent by SMS.")
    try:
        preview = preview_step(step)
    except TemplateError as exc:
        return _("The text does not render: %(error)s") % {"error": exc}
    return format_html(
        '{}<div class="help">{} {}</div>',
        preview.summary(), _("For a sample contact:"), preview.text,
    )
