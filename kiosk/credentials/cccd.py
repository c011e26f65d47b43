"""The QR code on the back of a Vietnamese chip ID card (căn cước công dân, CCCD).

Layout: `ID12|oldID9|Full name|DDMMYYYY|Gender|Address|IssueDate`, UTF-8 with diacritics. The old 9-digit ID is
often empty. Some cards omit the old-ID field (6 fields), and an address may itself contain `|`, so the address
is everything between the gender and the last field.
"""

from __future__ import annotations

from kiosk.credentials.base import Credential, CredentialError, Identity, Kind
from kiosk.credentials.fields import MAX_TEXT, clean_name, dmy_date, identity_for_number

_MIN_FIELDS = 6


def parse_cccd(text: str) -> Credential | None:
    """A CCCD credential, None if `text` is not laid out as one, CredentialError if it is but is broken."""
    if len(text) > MAX_TEXT or text.count("|") < _MIN_FIELDS - 1:
        return None
    fields = text.split("|")
    if identity_for_number(fields[0]) != ("VN-ID", fields[0]):
        return None
    has_old_id = fields[1] == "" or (len(fields[1]) == 9 and fields[1].isdigit())
    rest = fields[2:] if has_old_id else fields[1:]
    if len(rest) < 5:
        raise CredentialError(Kind.CCCD, "malformed", f"{len(fields)} fields, expected 7")
    name, birth, issued = clean_name(rest[0]), dmy_date(rest[1]), dmy_date(rest[-1])
    if name is None:
        raise CredentialError(Kind.CCCD, "malformed", "name field is empty or not text")
    if birth is None or issued is None:
        raise CredentialError(Kind.CCCD, "malformed", "birth or issue date is not a DDMMYYYY date")
    return Credential(Kind.CCCD, Identity("VN-ID", fields[0]), name=name, birth_date=birth)
