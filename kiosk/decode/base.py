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
    """One symbol read. `payload` is the raw bytes it carries; `text` those bytes as text (ECI applied)."""

    payload: bytes
    text: str
    decoder: str
    corners: tuple[Point, ...] = ()
    binary: bool = False  # the payload is not text; `text` is then only a lossless rendering of the bytes

    def moved(self, dx: float, dy: float, scale: float = 1.0) -> Code:
        """This code with its corners mapped from a crop (offset dx, dy, scaled by `scale`) to the frame."""
        corners = tuple((x / scale + dx, y / scale + dy) for x, y in self.corners)
        return Code(self.payload, self.text, self.decoder, corners, self.binary)


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


def text_of(payload: bytes) -> tuple[str, bool]:
    """Payload bytes as text, and whether they were not valid UTF-8 (then rendered byte for byte as Latin-1)."""
    try:
        return payload.decode("utf-8"), False
    except UnicodeDecodeError:
        return payload.decode("latin-1"), True
