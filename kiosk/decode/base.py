"""The decoder seam: a grey image in, the codes read and the places where a code was seen but not read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kiosk.camera.base import Grey

Point = tuple[float, float]
Box = tuple[int, int, int, int]
"""x0, y0, x1, y1 in pixels, x1 and y1 exclusive."""


@dataclass(frozen=True, slots=True)
class Code:
    """One symbol read. `payload` is the bytes the decoder returned; `text` the content as text.

    Decoders disagree on bytes (OpenCV converts ISO-8859-1 to UTF-8, zxing and zbar return them as encoded) but
    agree on text, so the text is what identifies a code (debounce) and decides whether it is binary.
    """

    payload: bytes
    text: str
    decoder: str
    corners: tuple[Point, ...] = ()

    @property
    def binary(self) -> bool:
        """The content is not text (control characters other than tab and line breaks)."""
        return any((ord(c) < 0x20 and c not in "\t\r\n") or 0x7F <= ord(c) < 0xA0 for c in self.text)

    @property
    def digest_source(self) -> bytes:
        """The bytes that identify this code whichever decoder read it."""
        return self.text.encode("utf-8", "surrogatepass")

    def moved(self, dx: float, dy: float, scale: float = 1.0) -> Code:
        """This code with its corners mapped from a crop (offset dx, dy, scaled by `scale`) to the frame."""
        corners = tuple((x / scale + dx, y / scale + dy) for x, y in self.corners)
        return Code(self.payload, self.text, self.decoder, corners)


@dataclass(frozen=True, slots=True)
class Reading:
    """What one decoder pass found."""

    codes: list[Code] = field(default_factory=list)
    hints: list[Box] = field(default_factory=list)  # symbols detected but not decoded (checksum errors, ...)


class Decoder(Protocol):
    """Reads QR codes from a grey image. Never raises on image content: a bad symbol is simply not read."""

    @property
    def name(self) -> str: ...

    def read(self, image: Grey) -> Reading: ...


def box_of(points: list[Point] | tuple[Point, ...], width: int, height: int) -> Box:
    """The bounding box of `points`, clipped to the image."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, y0 = max(0, int(min(xs))), max(0, int(min(ys)))
    x1, y1 = min(width, int(max(xs)) + 1), min(height, int(max(ys)) + 1)
    return x0, y0, max(x0, x1), max(y0, y1)


def text_of(payload: bytes) -> str:
    """Payload bytes as text: UTF-8 (how Vietnamese codes are written), else ISO-8859-1 (the QR default)."""
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")
