"""Whom a tracer names on a form (the trace, the status list): exactly one of an ID number, a QR code's text or
picture, or a subject key. The key as central/subjects.py derives it, or PageError with the catalogue's message
for what is wrong with the answer.
"""

from __future__ import annotations

from fastapi import UploadFile

from central.photos import MAX_PIXELS
from central.subjects import SubjectError, checked_key, key_of_code, key_of_number, text_in_image
from central.web.messages import PageError

MAX_PICTURE = 5 * 1024 * 1024  # bytes of an uploaded picture


def subject_of(
    secret: bytes,
    *,
    identity_number: str = "",
    qr_text: str = "",
    picture: bytes | None = None,
    subject_key: str = "",
) -> str:
    """The subject key of the one answer given (blank answers count as not given)."""
    number, text, key = identity_number.strip(), qr_text.strip(), subject_key.strip()
    if sum(1 for given in (number, text, picture, key) if given) != 1:
        raise PageError("subject.one")
    try:
        if number:
            return key_of_number(number, secret)
        if key:
            return checked_key(key)
        if picture:
            text = _text_in(picture)
        return key_of_code(text, secret)
    except SubjectError:
        # Each call above fails for one reason only: the answer it was given is not one.
        raise PageError("subject.number" if number else "subject.key" if key else "subject.no_identity") from None


def _text_in(picture: bytes) -> str:
    try:
        return text_in_image(picture)
    except SubjectError:
        raise PageError("subject.picture", megapixels=MAX_PIXELS // 1_000_000) from None


def read_picture(upload: UploadFile | None) -> bytes | None:
    """The uploaded picture's bytes; None when no file was chosen."""
    if upload is None or not upload.filename:
        return None
    data = upload.file.read(MAX_PICTURE + 1)
    if len(data) > MAX_PICTURE:
        raise PageError("subject.picture_size", megabytes=MAX_PICTURE // 2**20)
    return data
