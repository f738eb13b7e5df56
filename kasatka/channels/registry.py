"""The registry of channels: adding one is a folder plus one line here."""

from __future__ import annotations

from kasatka.channels.base import BaseChannel
from kasatka.channels.call.channel import CallChannel
from kasatka.channels.email.channel import EmailChannel

CHANNELS: dict[str, type[BaseChannel]] = {
    EmailChannel.code: EmailChannel,
    CallChannel.code: CallChannel,
}


def is_available(code: str) -> bool:
    return code in CHANNELS


def get_channel(code: str) -> BaseChannel:
    return CHANNELS[code]()
