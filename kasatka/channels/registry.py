"""The registry of channels: adding one is a folder plus one line here."""

from __future__ import annotations

from collections.abc import Iterable

from kasatka.channels.base import BaseChannel
from kasatka.channels.call.channel import CallChannel
from kasatka.channels.email.channel import EmailChannel
from kasatka.channels.email.imap import ImapEmailChannel
from kasatka.channels.email.replies import InboundEmailChannel
from kasatka.channels.letter.channel import LetterChannel
from kasatka.channels.models import ProviderAccount
from kasatka.channels.sms.smsc import SmscChannel
from kasatka.channels.sms.smsru import SmsRuChannel
from kasatka.channels.sms.twilio import TwilioChannel
from kasatka.channels.telegram.channel import TelegramChannel
from kasatka.channels.viber.bot import ViberChannel
from kasatka.channels.vk.community import VkChannel
from kasatka.channels.whatsapp.cloud import WhatsAppChannel

# Channels that need no provider account: they work as soon as Kasatka runs.
CHANNELS: dict[str, type[BaseChannel]] = {
    EmailChannel.code: EmailChannel,
    CallChannel.code: CallChannel,
    LetterChannel.code: LetterChannel,
}

# Channels spoken through a provider, by provider code; each class's `code` names
# its channel. A business uses one when it has an active ProviderAccount for it.
PROVIDERS: dict[str, type[BaseChannel]] = {
    SmsRuChannel.provider: SmsRuChannel,
    TelegramChannel.provider: TelegramChannel,
    SmscChannel.provider: SmscChannel,
    TwilioChannel.provider: TwilioChannel,
    WhatsAppChannel.provider: WhatsAppChannel,
    ViberChannel.provider: ViberChannel,
    VkChannel.provider: VkChannel,
    # E-mail is sent the same with or without these; they take replies in.
    ImapEmailChannel.provider: ImapEmailChannel,
    InboundEmailChannel.provider: InboundEmailChannel,
}

Accounts = dict[tuple[int, str], ProviderAccount]


def channel_class(code: str, account: ProviderAccount | None = None) -> type[BaseChannel] | None:
    if account is not None:
        cls = PROVIDERS.get(account.provider)
        return cls if cls is not None and cls.code == code else None
    return CHANNELS.get(code)


def get_channel(code: str, account: ProviderAccount | None = None) -> BaseChannel:
    cls = channel_class(code, account)
    if cls is None:
        raise LookupError(f"channel {code!r} is not set up")
    return cls(account)


def provider_choices() -> list[tuple[str, str]]:
    return [(name, f"{cls.code}: {name}") for name, cls in sorted(PROVIDERS.items())]


def active_accounts(business_ids: Iterable[int]) -> Accounts:
    """The active provider account of each business and channel, for a batch."""
    return {
        (a.business_id, a.channel): a
        for a in ProviderAccount.objects.filter(
            business_id__in=list(business_ids), is_active=True
        )
        if a.provider in PROVIDERS and PROVIDERS[a.provider].code == a.channel
    }


def available_channels(business_id: int, accounts: Accounts) -> frozenset[str]:
    """The channels a business can send through now."""
    return frozenset(CHANNELS) | {channel for (b, channel) in accounts if b == business_id}
