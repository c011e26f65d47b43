"""Whom to look up: an ID number, a QR code's text or a picture of it, turned into the subject key the kiosks
recorded, exactly as a kiosk does it (kiosk/loop.py): the key a code carries itself (a declaration pass), else
the keyed hash of the identity read from it. Nothing here is stored or logged: only the key leaves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, cast

from central.errors import CentralError

if TYPE_CHECKING:
    from kiosk.camera.base import Grey
    from kiosk.decode import Decoder

SUBJECT_KEY = re.compile(r"[0-9a-f]{32}")
DECODERS = ("zxing", "pyzbar", "opencv")  # the kiosk's chain, all of it: a still image may be worth the time


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
    from kiosk.decode import DecoderChain
    from kiosk.decode.reader import FrameReader

    grey = _grey(image)
    codes = FrameReader(DecoderChain(_decoders())).read_still(grey).codes
    if not codes:
        raise SubjectError(f"no QR code could be read in {_name(image)}: a sharper, straighter picture may do")
    return codes[0].text


MAX_PIXELS = 25_000_000  # a phone's 12-megapixel photo is well inside; a 250 KB PNG can claim 256 megapixels


def _grey(image: Path | bytes) -> Grey:
    import cv2
    import numpy as np

    from kiosk.camera.images import load_grey

    _check_size(image)
    if isinstance(image, bytes):
        decoded = cv2.imdecode(np.frombuffer(image, dtype=np.uint8), cv2.IMREAD_GRAYSCALE) if image else None
        grey = None if decoded is None else cast("Grey", decoded)
    else:
        grey = load_grey(image) if image.is_file() else None
    if grey is None:
        raise SubjectError(f"{_name(image)} is not a readable image (PNG, JPEG, WebP, ...)")
    return grey


def _check_size(image: Path | bytes) -> None:
    """Refuse a picture from its header alone when it is larger than MAX_PIXELS: decoding a compressed bomb
    (found by bench/fuzz.py: 16,000 x 16,000 blank pixels in a 250 KB PNG) took 13 s and 2.3 GB."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    too_large = f"more than {MAX_PIXELS // 1_000_000} megapixels: send a smaller picture (a QR code needs far fewer)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image) if isinstance(image, bytes) else image) as pil:
                width, height = pil.size
    except Image.DecompressionBombError:  # Pillow's own limit, far above ours
        raise SubjectError(f"{_name(image)} is {too_large}") from None
    except (OSError, UnidentifiedImageError, ValueError):
        raise SubjectError(f"{_name(image)} is not a readable image (PNG, JPEG, WebP, ...)") from None
    if width * height > MAX_PIXELS:
        raise SubjectError(f"{_name(image)} is {width} x {height} pixels, {too_large}")


def _decoders() -> list[Decoder]:
    from kiosk.builders import HardwareError, build_decoder

    decoders = []
    for name in DECODERS:
        try:
            decoders.append(build_decoder(name))
        except HardwareError:  # no libzbar here: the others still read
            continue
    return decoders


def _name(image: Path | bytes) -> str:
    return "the uploaded picture" if isinstance(image, bytes) else str(image)
