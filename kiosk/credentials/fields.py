"""Field checks shared by the Vietnamese identity parsers."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_ID12 = re.compile(r"[0-9]{12}")
_ID9 = re.compile(r"[0-9]{9}")
MAX_TEXT = 4096  # no identity QR is longer; longer text is not parsed field by field


def identity_for_number(number: str) -> tuple[str, str] | None:
    """(document type, number) for a Vietnamese ID number, or None if it is not one (or is masked)."""
    if _ID12.fullmatch(number):
        return "VN-ID", number
    if _ID9.fullmatch(number):
        return "VN-CMND", number
    return None


def dmy_date(value: str) -> str | None:
    """DDMMYYYY as ISO 8601, or None if it is not a real date."""
    if len(value) != 8 or not value.isascii() or not value.isdigit():
        return None
    return _iso(int(value[4:]), int(value[2:4]), int(value[:2]))


def _iso(year: int, month: int, day: int) -> str | None:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def clean_name(value: str) -> str | None:
    """A person's name in NFC with spaces collapsed, or None if it is not plausible as a name."""
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not 1 <= len(name) <= 100 or any(unicodedata.category(c)[0] == "C" for c in name):
        return None
    return name
