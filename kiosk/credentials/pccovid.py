"""The PC-Covid personal QR code (Decision 1405/QĐ-BTTTT, version 1.1).

Layout: `SoGiayTo|HOTEN|YYYY-MM-DD|0/1|QID|EXT`, EXT split by `<` (helper's QID, gender, health-insurance
number, phone, ...). The ID number and birth date may be partly masked with `*`; a masked number cannot give
a subject key, so such codes are keyed by their QID (the app's own id of the person). Identity only.
"""

from __future__ import annotations

import re

from kiosk.credentials.base import Credential, CredentialError, Identity, Kind
from kiosk.credentials.fields import MAX_TEXT, clean_name, identity_for_number

_DATE = re.compile(r"([0-9*]{4})-([0-9*]{2})-([0-9*]{2})")
_NUMBER = re.compile(r"[0-9A-Za-z*]{5,20}")
_QID = re.compile(r"[0-9A-Za-z_-]{4,64}")


def parse_pccovid(text: str) -> Credential | None:
    """A PC-Covid credential, None if `text` is not laid out as one, CredentialError if it is but is broken."""
    if len(text) > MAX_TEXT or text.count("|") < 4:
        return None
    fields = text.split("|")
    if not (_DATE.fullmatch(fields[2]) and fields[3] in ("0", "1")):
        return None
    number, qid = fields[0], fields[4]
    if not _NUMBER.fullmatch(number):
        raise CredentialError(Kind.PC_COVID, "malformed", "document number is not 5-20 letters or digits")
    if not _QID.fullmatch(qid):
        raise CredentialError(Kind.PC_COVID, "malformed", "QID is not 4-64 letters or digits")
    name = clean_name(fields[1])
    if name is None:
        raise CredentialError(Kind.PC_COVID, "malformed", "name field is empty or not text")
    return Credential(Kind.PC_COVID, _identity(number, qid), name=name, birth_date=_birth(fields[2]))


def _identity(number: str, qid: str) -> Identity:
    known = identity_for_number(number)
    if known is not None:
        return Identity(*known)
    if "*" in number:
        return Identity("PCCOVID-QID", qid)
    return Identity("DOC", number.upper())  # a passport or other document number, unmasked


def _birth(value: str) -> str | None:
    """The unmasked leading part of the date: "1990-05-01", "1990-05", "1990", or None."""
    match = _DATE.fullmatch(value)
    if match is None:
        return None
    parts = []
    for part in match.groups():
        if "*" in part:
            break
        parts.append(part)
    return "-".join(parts) or None
