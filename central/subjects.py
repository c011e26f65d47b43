"""Whom to look up: an ID number, a QR code's text or a picture of it, turned into the subject key the kiosks
recorded, exactly as a kiosk does it (kiosk/loop.py): the key a code carries itself (a declaration pass), else
the keyed hash of the identity read from it. Nothing here is stored or logged: only the key leaves.
"""

from __future__ import annotations

import re
from pathlib import Path

from central.errors import CentralError

SUBJECT_KEY = re.compile(r"[0-9a-f]{32}")


class SubjectError(CentralError, ValueError):
    """The input names no one: a malformed number or key, an unreadable picture, a code without an identity."""


def subject_key_from(
    *,
    identity_number: str | None = None,
    qr_text: str | None = None,
    qr_image: Path | bytes | None = None,
    subject_key: str | None = None,
    secret: bytes,
) -> str:
    """The subject key of exactly one of: an ID number (12 digits, or the 9-digit old one), a QR code's text, a
    QR code's picture (a file, or its bytes as uploaded), or a subject key (checked and lower-cased)."""
    given = [x for x in (identity_number, qr_text, qr_image, subject_key) if x is not None]
    if len(given) != 1:
        raise SubjectError("give exactly one of an identity number, a QR code's text, a QR code's image, a key")
    if subject_key is not None:
        return checked_key(subject_key)
    if identity_number is not None:
        return key_of_number(identity_number, secret)
    text = qr_text if qr_text is not None else text_in_image(qr_image)  # type: ignore[arg-type]
    return key_of_code(text, secret)


def checked_key(value: str) -> str:
    key = value.strip().lower()
    if not SUBJECT_KEY.fullmatch(key):
        raise SubjectError(f"{value[:40]!r} is not a subject key (32 hexadecimal digits)")
    return key


def key_of_number(number: str, secret: bytes) -> str:
    from kiosk.credentials import Identity, SubjectKeyer
    from kiosk.credentials.fields import identity_for_number

    known = identity_for_number("".join(number.split()))
    if known is None:
        raise SubjectError("the identity number is not a 12-digit ID (CCCD) or a 9-digit old ID (CMND) number")
    return SubjectKeyer(secret).key(Identity(*known))


def key_of_code(text: str, secret: bytes) -> str:
    """The key of the person whose code this is; the text itself never appears in an error."""
    from kiosk.credentials import SubjectKeyer, read_credential

    credential = read_credential(text)
    if credential.subject_key is not None:
        return checked_key(credential.subject_key)
    if credential.identity is None:
        problem = f" ({credential.problem})" if credential.problem else ""
        raise SubjectError(f"the QR code ({credential.kind.value}{problem}) holds no identity to trace")
    return SubjectKeyer(secret).key(credential.identity)


def text_in_image(image: Path | bytes) -> str:
    """The text of the first QR code found in the picture, with the kiosk's decoders and no time limit."""
    from central.photos import PhotoError, grey_of, name_of
    from kiosk.decode.still import texts_in_still

    try:
        grey = grey_of(image)
    except PhotoError as exc:
        raise SubjectError(str(exc)) from None
    texts = texts_in_still(grey)
    if not texts:
        raise SubjectError(f"no QR code could be read in {name_of(image)}: a sharper, straighter picture may do")
    return texts[0]
