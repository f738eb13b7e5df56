"""How long an SMS is: its encoding, length and the number of messages it is billed as.

A text that fits the GSM 03.38 alphabet goes as GSM-7: 160 characters in one message,
153 in each part of a long one (the rest carries the part header). One character
outside it — a Cyrillic letter, an emoji, «ёлочки» — makes the whole text UCS-2: 70 in
one message, 67 per part. Operators and gateways bill per part, so the marketer must see
this before a chain goes out, not on the invoice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

# GSM 03.38 basic character set (the 7-bit default alphabet), as Unicode.
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# The extension table: each is sent as ESC + a character, so it takes two septets.
GSM7_EXTENSION: Final = frozenset("\f^{}\\[~]|€")

SINGLE: Final = {"GSM-7": 160, "UCS-2": 70}
# Each part of a concatenated message loses 6 bytes to its header (UDH).
PART: Final = {"GSM-7": 153, "UCS-2": 67}


class Encoding(enum.StrEnum):
    GSM7 = "GSM-7"
    UCS2 = "UCS-2"


@dataclass(frozen=True)
class SmsLength:
    """What a text costs as SMS."""

    encoding: Encoding
    # In the encoding's own units: septets for GSM-7 (an extension character is two),
    # UTF-16 code units for UCS-2 (an emoji outside the BMP is two).
    characters: int
    segments: int
    # The first character that forced UCS-2 (empty for GSM-7): tells the marketer why.
    trigger: str = ""

    @property
    def per_segment(self) -> int:
        """How many units each message holds at this length."""
        table = SINGLE if self.segments <= 1 else PART
        return table[self.encoding.value]

    @property
    def is_cyrillic(self) -> bool:
        return bool(self.trigger) and "\u0400" <= self.trigger <= "\u04ff"


def _units(char: str, encoding: Encoding) -> int:
    if encoding is Encoding.GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1  # a surrogate pair in UTF-16


def _encoding(text: str) -> tuple[Encoding, str]:
    for char in text:
        if char not in GSM7_BASIC and char not in GSM7_EXTENSION:
            return Encoding.UCS2, char
    return Encoding.GSM7, ""


def _parts(units: list[int], capacity: int) -> int:
    """Parts of a long message, filled in order.

    An escape sequence or a surrogate pair is never split across two parts (phones
    would show garbage), so a two-unit character that does not fit the rest of a part
    starts the next one: the count may exceed a plain ceil(length / capacity).
    """
    parts, used = 1, 0
    for size in units:
        if used + size > capacity:
            parts, used = parts + 1, 0
        used += size
    return parts


def sms_length(text: str) -> SmsLength:
    """The encoding, length and number of SMS of `text` as a gateway would send it."""
    encoding, trigger = _encoding(text)
    units = [_units(char, encoding) for char in text]
    total = sum(units)
    if total == 0:
        return SmsLength(encoding, 0, 0, trigger)
    if total <= SINGLE[encoding.value]:
        return SmsLength(encoding, total, 1, trigger)
    return SmsLength(encoding, total, _parts(units, PART[encoding.value]), trigger)
