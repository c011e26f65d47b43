"""The decoder chain: the primary decoder on every frame, cheap second attempts only when they may pay off.

On most frames nobody is holding up a code, and the primary (zxing-cpp) says so in well under a millisecond.
When it finds nothing but a code is likely present (it saw a symbol it could not read, or the caller knows a
code was in view a moment ago), the chain tries a few transformations of the region and the fallback decoders,
stopping as soon as one reads or the per-frame budget is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import cv2

from kiosk.camera.base import Grey
from kiosk.decode.base import Box, Code, Decoder
from kiosk.decode.zxing import ZxingDecoder

_MARGIN = 0.15  # grow a hinted box by this fraction on each side: zxing's corners sit on the finder patterns
_UPSCALE_BELOW = 400  # upscale crops smaller than this (pixels, longer side)
_MIN_SIDE = 32  # never downscale an image below this (pixels, shorter side)


@dataclass(frozen=True, slots=True)
class ChainResult:
    """The codes of one frame, and the symbols detected but not read (frame coordinates)."""

    codes: list[Code]
    unread: list[Box]  # where to look again in the next frames
    attempts: int  # decoder passes made (1 when the primary was enough)


class DecoderChain:
    """Primary decoder, then second attempts within `budget_ms`; region of interest and downscale first."""

    def __init__(
        self,
        decoders: Sequence[Decoder],
        *,
        roi: tuple[float, float, float, float] | None = None,
        downscale: float = 1.0,
        retry: bool = True,
        budget_ms: float = 15.0,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        if not decoders:
            raise ValueError("a decoder chain needs at least one decoder")
        self.primary = decoders[0]
        self.fallbacks = list(decoders[1:])
        self.roi = roi
        self.downscale = downscale
        self.retry = retry
        self.budget_s = budget_ms / 1000
        self._timer = timer
        self._enhancer = ZxingDecoder(binarizer="global-histogram", hints=False, name="zxing")
        self._cost: dict[tuple[str, str], float] = {}  # seconds per pixel of each kind of attempt (running mean)

    def decode(self, frame: Grey, *, near: Sequence[Box] = (), thorough: bool = False) -> ChainResult:
        """Read `frame`.

        `near`: boxes (frame coordinates) of symbols seen but not read in recent frames; if the primary reads
        nothing, second attempts look there and where it saw symbols now. `thorough`: no time budget, and the
        whole image when there is nowhere else to look (still images).
        """
        view = _View.of(frame, self.roi, self.downscale)
        first = self.primary.read(view.image)
        unread = [view.box_to_frame(b) for b in _merged(first.hints)]
        if first.codes:
            return ChainResult(_unique(view.to_frame(c) for c in first.codes), unread, 1)
        regions = first.hints + [b for b in (view.box_from_frame(n) for n in near) if b is not None]
        if not self.retry or not (regions or thorough):
            return ChainResult([], unread, 1)
        deadline = None if thorough else self._timer() + self.budget_s
        found, attempts = self._second_attempts(view.image, regions, deadline)
        return ChainResult(_unique(view.to_frame(c) for c in found), [] if found else unread, 1 + attempts)

    def _second_attempts(self, image: Grey, boxes: list[Box], deadline: float | None) -> tuple[list[Code], int]:
        attempts = 0
        for region, (ox, oy) in _regions(image, boxes):
            for decoder, variant, scale in self._variants(region):
                kind = (decoder.name + decoder.__class__.__name__, variant.__name__)
                pixels = region.size * scale * scale
                started = self._timer()
                if deadline is not None and started + self._cost.get(kind, 0.0) * pixels > deadline:
                    continue  # would overrun the budget; a cheaper attempt may still fit
                attempts += 1
                found = decoder.read(variant(region)).codes
                spent = (self._timer() - started) / max(pixels, 1.0)
                self._cost[kind] = spent if kind not in self._cost else 0.8 * self._cost[kind] + 0.2 * spent
                if found:
                    return [c.moved(ox, oy, scale) for c in found], attempts
        return [], attempts

    def _variants(self, region: Grey) -> Iterator[tuple[Decoder, Callable[[Grey], Grey], float]]:
        """(decoder, transformation, scale of the transformation), cheapest and likeliest first."""
        small = max(region.shape[:2]) < _UPSCALE_BELOW
        if small:
            yield self._enhancer, _upscale, 2.0
        yield self.primary, _median, 1.0
        if not small:
            yield self._enhancer, _identity, 1.0
        for fallback in self.fallbacks:
            yield fallback, _identity, 1.0
            if small:
                yield fallback, _upscale, 2.0


@dataclass(frozen=True, slots=True)
class _View:
    """The part of a frame that is decoded (region of interest, downscaled), and the mapping back."""

    image: Grey
    dx: int
    dy: int
    scale: float

    @classmethod
    def of(cls, frame: Grey, roi: tuple[float, float, float, float] | None, scale: float) -> _View:
        image, dx, dy = frame, 0, 0
        if roi is not None:
            height, width = frame.shape[:2]
            x, y, w, h = roi
            dx, dy = int(x * width), int(y * height)
            image = frame[dy : dy + max(1, int(h * height)), dx : dx + max(1, int(w * width))]
        if scale < 1.0 and min(image.shape[:2]) * scale >= _MIN_SIDE:
            image = cast(Grey, cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
        else:
            scale = 1.0  # too small to shrink (OpenCV would refuse): decode it as it is
        return cls(image, dx, dy, scale)

    def to_frame(self, code: Code) -> Code:
        return code.moved(self.dx, self.dy, self.scale)

    def box_to_frame(self, box: Box) -> Box:
        x0, y0, x1, y1 = box
        s = self.scale
        return int(x0 / s) + self.dx, int(y0 / s) + self.dy, int(x1 / s) + self.dx, int(y1 / s) + self.dy

    def box_from_frame(self, box: Box) -> Box | None:
        """`box` in this view's coordinates, clipped; None if it lies outside the view."""
        height, width = self.image.shape[:2]
        s = self.scale
        x0, y0 = max(0, int((box[0] - self.dx) * s)), max(0, int((box[1] - self.dy) * s))
        x1, y1 = min(width, int((box[2] - self.dx) * s)), min(height, int((box[3] - self.dy) * s))
        return (x0, y0, x1, y1) if x1 - x0 >= 8 and y1 - y0 >= 8 else None


def _regions(image: Grey, hints: list[Box]) -> Iterator[tuple[Grey, tuple[int, int]]]:
    """Crops around each hinted symbol (with a margin), or the whole image when there is no hint."""
    if not hints:
        yield image, (0, 0)  # thorough, and nothing seen: the whole view
        return
    height, width = image.shape[:2]
    for x0, y0, x1, y1 in _merged(hints):
        mx, my = int((x1 - x0) * _MARGIN) + 4, int((y1 - y0) * _MARGIN) + 4
        bx0, by0 = max(0, x0 - mx), max(0, y0 - my)
        bx1, by1 = min(width, x1 + mx), min(height, y1 + my)
        yield image[by0:by1, bx0:bx1], (bx0, by0)


def _merged(boxes: list[Box]) -> list[Box]:
    """Overlapping boxes joined (zxing reports one unreadable symbol once per rotation or scale it tried)."""
    merged: list[Box] = []
    for box in boxes:
        for other in [m for m in merged if _overlap(m, box)]:
            merged.remove(other)
            box = (min(other[0], box[0]), min(other[1], box[1]), max(other[2], box[2]), max(other[3], box[3]))
        merged.append(box)
    return merged if len(merged) == len(boxes) else _merged(merged)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _identity(image: Grey) -> Grey:
    return image


def _upscale(image: Grey) -> Grey:
    return cast(Grey, cv2.resize(image, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC))


def _median(image: Grey) -> Grey:
    return cast(Grey, cv2.medianBlur(image, 3))  # removes phone-screen moire and sensor speckle


def _unique(codes: Iterator[Code]) -> list[Code]:
    seen: set[bytes] = set()
    out = []
    for code in codes:
        if code.payload not in seen:
            seen.add(code.payload)
            out.append(code)
    return out
