"""SMS length: encoding, characters and the number of messages a text is billed as."""

from __future__ import annotations

import pytest

from kasatka.channels.sms.segments import Encoding, sms_length

EMOJI = "😀"  # outside the BMP: two UTF-16 code units


@pytest.mark.parametrize(
    ("text", "encoding", "characters", "segments"),
    [
        ("", Encoding.GSM7, 0, 0),
        ("a", Encoding.GSM7, 1, 1),
        # Latin: 160 in one message, 153 per part of a long one.
        ("a" * 160, Encoding.GSM7, 160, 1),
        ("a" * 161, Encoding.GSM7, 161, 2),
        ("a" * 306, Encoding.GSM7, 306, 2),
        ("a" * 307, Encoding.GSM7, 307, 3),
        # Cyrillic forces UCS-2: 70 in one message, 67 per part.
        ("ж" * 70, Encoding.UCS2, 70, 1),
        ("ж" * 71, Encoding.UCS2, 71, 2),
        ("ж" * 134, Encoding.UCS2, 134, 2),
        ("ж" * 135, Encoding.UCS2, 135, 3),
        ("ж" * 201, Encoding.UCS2, 201, 3),
        ("ж" * 202, Encoding.UCS2, 202, 4),
        # One Cyrillic letter turns a Latin text into UCS-2.
        ("a" * 70 + "ё", Encoding.UCS2, 71, 2),
        # An emoji is two units: 35 fill one message, 36 do not.
        (EMOJI * 35, Encoding.UCS2, 70, 1),
        (EMOJI * 36, Encoding.UCS2, 72, 2),
        # Extension characters are sent as ESC + character: two septets each.
        ("{}[]~\\|^€", Encoding.GSM7, 18, 1),
        ("€" * 80, Encoding.GSM7, 160, 1),
        ("€" * 80 + "a", Encoding.GSM7, 161, 2),
        # The rest of the GSM alphabet is one septet each, accents included.
        ("Ça coûte 5 €? Ñandú, Øre, ß, Δ, @, £, ¥, §, ¿, ¡", Encoding.UCS2, 48, 1),
        ("Ça coute 5 €? Ñandú", Encoding.UCS2, 19, 1),
        ("Ça coute 5 €? Ñandu, Øre, ß, Δ, @, £, ¥, §, ¿, ¡", Encoding.GSM7, 49, 1),
        ("line\nbreak\r", Encoding.GSM7, 11, 1),
    ],
)
def test_length(text: str, encoding: Encoding, characters: int, segments: int) -> None:
    length = sms_length(text)
    assert (length.encoding, length.characters, length.segments) == (
        encoding, characters, segments,
    )


def test_a_surrogate_pair_is_not_split_between_parts() -> None:
    # 134 units would be two parts of 67, but the emoji cannot straddle them: the
    # first part takes 66 letters, the emoji opens the second, one letter spills over.
    text = "ж" * 66 + EMOJI + "ж" * 66
    length = sms_length(text)
    assert (length.characters, length.segments) == (134, 3)


def test_an_escape_sequence_is_not_split_between_parts() -> None:
    text = "a" * 152 + "€" + "a" * 153
    length = sms_length(text)
    assert (length.encoding, length.characters, length.segments) == (Encoding.GSM7, 307, 3)


def test_it_names_the_character_that_forced_ucs2() -> None:
    assert sms_length("Sale -20% «Kedr»").trigger == "«"
    assert not sms_length("Sale -20% «Kedr»").is_cyrillic
    assert sms_length("Sale, Анна").is_cyrillic
    assert sms_length("Sale").trigger == ""


def test_per_segment_follows_the_length() -> None:
    assert sms_length("ж" * 70).per_segment == 70
    assert sms_length("ж" * 71).per_segment == 67
    assert sms_length("a").per_segment == 160
    assert sms_length("a" * 200).per_segment == 153
