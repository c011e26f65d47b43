"""What the kiosk tells an OSDP panel about a person: a card read, as raw Wiegand-format bits.

Two formats, chosen per site:
  subject-bits  the leading `bits` bits of the person's subject key (a keyed hash: uniform, reveals nothing). With
                26 or 34 bits the card is exactly the Wiegand frame the kiosk's Wiegand output sends (parity bits
                included, `wiegand.card_number` and `wiegand.frame_bits`), so a panel enrolled over Wiegand reads
                the same numbers over OSDP. Any other length (8-128, 64 by default) is the key's leading bits with
                no parity: 64 bits make collisions negligible (1 in 10^10 for 10,000 people).
  badge         the badge number the person was enrolled with on the panel (decimal), as a 26-bit (H10301,
                facility + 16-bit number) or 34-bit frame, or as a plain `bits`-bit number for other lengths.

Why raw bits and not ASCII for badges: OSDP 2.2 deprecated the osdp_FMT reply that carries a card as text, and
libosdp 3.2 drops it on both ends (the PD logs "OSDP_CARD_FMT_ASCII is deprecated. Ignoring", the CP "Ignoring
deprecated response osdp_FMT"); panels decode raw Wiegand bits by their length, which they all support.

`card_for` is pure: no I/O, no logging. It returns None when there is nothing to report for this person (no key,
no enrolled badge, a number that does not fit the length) and raises OsdpError for a bad format or length, which
is a configuration mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, get_args

from kiosk.errors import KioskError
from kiosk.hardware.wiegand import FrameBits, WiegandError, card_number, frame_bits

CardFormat = Literal["subject-bits", "badge"]
CARD_FORMATS: tuple[str, ...] = get_args(CardFormat)
MIN_BITS, MAX_BITS = 8, 128  # a subject key has 128 bits; fewer than 8 would be one card for everyone
_HEX = re.compile(r"[0-9a-fA-F]+")
_DECIMAL = re.compile(r"[0-9]{1,39}")


class OsdpError(KioskError, ValueError):
    """The OSDP reader cannot be set up or cannot make a card read: the message names the setting at fault."""


@dataclass(frozen=True, slots=True)
class CardRead:
    """One card read for the panel: `length` bits, most significant first, packed into `data` (zero-padded).

    `repr` hides the bits: they identify a person on the panel, and reprs end up in logs.
    """

    length: int
    data: bytes
    source: CardFormat

    def __repr__(self) -> str:
        return f"CardRead({self.length} bits, {self.source})"

    def bits(self) -> list[int]:
        """The bits as 0s and 1s, first bit first (what a Wiegand frame would put on the wire)."""
        value = int.from_bytes(self.data, "big") >> (len(self.data) * 8 - self.length)
        return [(value >> (self.length - 1 - i)) & 1 for i in range(self.length)]


def check_format(fmt: str, bits: int) -> None:
    """OsdpError unless `fmt` is a known card format and `bits` a length it can use."""
    if fmt not in CARD_FORMATS:
        raise OsdpError(f"osdp card format is one of {', '.join(CARD_FORMATS)}, not {fmt!r}")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise OsdpError(f"osdp card bits is {MIN_BITS}-{MAX_BITS}, not {bits}")


def card_for(
    subject_key: str | None, badge: str | None, fmt: CardFormat, bits: int, *, facility: int = 0
) -> CardRead | None:
    """The card read for a person, or None if this format has nothing for them (see the module docstring)."""
    check_format(fmt, bits)
    if fmt == "subject-bits":
        return _subject_card(subject_key, bits, facility)
    return _badge_card(badge, bits, facility)


def _subject_card(subject_key: str | None, bits: int, facility: int) -> CardRead | None:
    if subject_key is None or _HEX.fullmatch(subject_key) is None or len(subject_key) * 4 < bits:
        return None
    frame = _wiegand(bits)
    if frame is not None:
        try:
            return _frame(frame_bits(card_number(subject_key, frame), bits=frame, facility=facility), "subject-bits")
        except WiegandError:
            return None
    value = int(subject_key, 16) >> (len(subject_key) * 4 - bits)
    return _packed(value, bits, "subject-bits")


def _badge_card(badge: str | None, bits: int, facility: int) -> CardRead | None:
    if badge is None or _DECIMAL.fullmatch(badge.strip()) is None:
        return None
    number = int(badge.strip())
    frame = _wiegand(bits)
    if frame is not None:
        try:
            return _frame(frame_bits(number, bits=frame, facility=facility), "badge")
        except WiegandError:  # too large for the frame, or a facility code with 34 bits
            return None
    if number >= 1 << bits:
        return None
    return _packed(number, bits, "badge")


def _wiegand(bits: int) -> FrameBits | None:
    """The Wiegand frame length `bits` is, if it is one the Wiegand module makes."""
    if bits == 26:
        return 26
    return 34 if bits == 34 else None


def _frame(frame: list[int], source: CardFormat) -> CardRead:
    return _packed(int("".join(map(str, frame)), 2), len(frame), source)


def _packed(value: int, length: int, source: CardFormat) -> CardRead:
    size = (length + 7) // 8
    return CardRead(length=length, data=(value << (size * 8 - length)).to_bytes(size, "big"), source=source)
