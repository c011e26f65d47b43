"""The decoder chain: the primary decoder on every frame, second attempts only where a symbol may be.

On most frames nobody is holding up a code, and the primary (zxing-cpp, dark-on-light symbols, no downscaled
pass) says so in about half the time of zxing-cpp's defaults. When it reads nothing, the chain looks again where
a symbol is: where the primary saw one it could not read, where one was seen a moment ago (`near`), and where
the frame looks like it holds one (`kiosk.decode.locate`). Each crop is repaired (`kiosk.decode.repair`:
enlarged, sharpened, thresholded, inverted) and read again, the repairs by measured value for their time, until
one reads or the per-frame budget is spent. A camera's memory (`kiosk.decode.memory`) spares regions of its
scene that every repair has already failed on, so an idle gate costs no more than the primary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import cast

import cv2

from kiosk.camera.base import Grey
from kiosk.decode.base import Box, Code, Decoder
from kiosk.decode.locate import likely_symbols
from kiosk.decode.memory import RegionMemory
from kiosk.decode.repair import REPAIRS, Repair
from kiosk.decode.zxing import ZxingDecoder

_MARGIN = 0.15  # grow a hinted box by this fraction on each side: zxing's corners sit on the finder patterns
_UPSCALE_BELOW = 400  # a fallback also tries crops smaller than this (pixels, longer side) enlarged
_AS_IS = Repair("as-is", lambda image: image)
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
        self._repairer = ZxingDecoder(hints=False, downscale=False, name="zxing")  # reads the repaired crops
        # one more reading of an enlarged crop: a global threshold reads some evenly lit prints (zxing's samples)
        self._histogram = ZxingDecoder(binarizer="global-histogram", hints=False, downscale=True, name="zxing")
        self._cost: dict[tuple[int, str], float] = {}  # seconds per pixel of each kind of attempt (running mean)

    def decode(
        self,
        frame: Grey,
        *,
        near: Sequence[Box] = (),
        thorough: bool = False,
        memory: RegionMemory | None = None,
        at: float = 0.0,
    ) -> ChainResult:
        """Read `frame`.

        `near`: boxes (frame coordinates) of symbols seen but not read in recent frames. If the primary reads
        nothing, second attempts repair crops where it saw symbols now, where they were seen lately, and where
        the frame looks like it holds one (`likely_symbols`); `memory` (a camera's, with the frame's time `at`)
        skips regions that look as they did when every repair failed on them. `thorough`: no time budget, and
        the whole image when there is nowhere else to look (still images).
        """
        view = _View.of(frame, self.roi, self.downscale)
        first = self.primary.read(view.image)
        unread = [view.box_to_frame(b) for b in _merged(first.hints)]
        if first.codes:
            return ChainResult(_unique(view.to_frame(c) for c in first.codes), unread, 1)
        if not self.retry:
            return ChainResult([], unread, 1)
        if memory is not None and memory.unchanged(view.image, at):
            return ChainResult([], unread, 1)  # an idle scene: everything in it has been tried
        found, attempts = self._look_again(view, first.hints, near, thorough, memory, at)
        return ChainResult(_unique(view.to_frame(c) for c in found), [] if found else unread, 1 + attempts)

    def _look_again(
        self, view: _View, hints: list[Box], near: Sequence[Box], thorough: bool, memory: RegionMemory | None, at: float
    ) -> tuple[list[Code], int]:
        """Second attempts where symbols were seen now or lately, and where one is likely."""
        seen = hints + [b for b in (view.box_from_frame(n) for n in near) if b is not None]
        # Joined where they overlap: a Micro QR hint is one finder pattern of a larger symbol around it.
        regions = _merged(seen + likely_symbols(view.image))
        crops = list(_regions(view.image, regions)) + ([_whole(view.image)] if thorough else [])  # a still: all too
        variants = list(self._variants(crops))
        looks = [memory.recall(crop, box, at) for crop, box in crops] if memory is not None else []
        done = [look.done for look in looks] or [0] * len(crops)
        deadline = None if thorough else self._timer() + self.budget_s
        found, attempts = self._second_attempts(crops, variants, done, deadline) if crops else ([], 0)
        if memory is not None and not found:
            for look, n in zip(looks, done, strict=True):
                memory.failed(look, n)
            if all(n >= len(variants) for n in done):
                memory.settle(at)
        return found, attempts

    def _second_attempts(
        self,
        crops: list[tuple[Grey, Box]],
        variants: list[tuple[Decoder, Repair]],
        done: list[int],
        deadline: float | None,
    ) -> tuple[list[Code], int]:
        """Each variant on every crop in turn, from where `done` says each crop's repairs got to, until one reads
        or the budget is spent. `done` is updated: a crop's count stops at the first variant the budget skipped,
        and passes a variant that costs more than the whole budget on that crop (a frame never has time for it)."""
        attempts = 0
        for step, (decoder, repair) in enumerate(variants):
            for index, (region, box) in enumerate(crops):
                if done[index] != step:
                    continue  # tried already (in an earlier frame), or stopped by the budget in this one
                kind = (id(decoder), repair.name)  # each decoder its own costs (two zxing-cpp, two binarizers)
                pixels = region.size * repair.scale * repair.scale
                started, cost = self._timer(), self._cost.get(kind, 0.0) * pixels
                if deadline is not None and cost > self.budget_s:
                    done[index] = step + 1  # longer than a whole frame's budget: never tried in the loop
                    continue
                if deadline is not None and started + cost > deadline:
                    continue  # would overrun the budget: the next frame goes on from here
                attempts += 1
                found = decoder.read(repair.apply(region)).codes
                spent = (self._timer() - started) / max(pixels, 1.0)
                self._cost[kind] = spent if kind not in self._cost else 0.8 * self._cost[kind] + 0.2 * spent
                if found:
                    return [c.moved(box[0], box[1], repair.scale) for c in found], attempts
                done[index] = step + 1
        return [], attempts

    def _variants(self, crops: list[tuple[Grey, Box]]) -> Iterator[tuple[Decoder, Repair]]:
        """(decoder, repair), by measured value for the time: zxing-cpp on each repair, then the fallbacks."""
        for repair in REPAIRS:
            yield self._repairer, repair
        yield self._histogram, REPAIRS[0]
        small = any(max(region.shape[:2]) < _UPSCALE_BELOW for region, _ in crops)
        for fallback in self.fallbacks:
            yield fallback, _AS_IS
            if small:
                yield fallback, REPAIRS[0]


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


def _regions(image: Grey, boxes: list[Box]) -> Iterator[tuple[Grey, Box]]:
    """Crops around each box (with a margin), in the order given, each with the box it was cut from."""
    height, width = image.shape[:2]
    for x0, y0, x1, y1 in boxes:
        mx, my = int((x1 - x0) * _MARGIN) + 4, int((y1 - y0) * _MARGIN) + 4
        bx0, by0 = max(0, x0 - mx), max(0, y0 - my)
        bx1, by1 = min(width, x1 + mx), min(height, y1 + my)
        yield image[by0:by1, bx0:bx1], (bx0, by0, bx1, by1)


def _whole(image: Grey) -> tuple[Grey, Box]:
    """The whole view as one crop (thorough, and nothing seen)."""
    height, width = image.shape[:2]
    return image, (0, 0, width, height)


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


def _unique(codes: Iterator[Code]) -> list[Code]:
    seen: set[bytes] = set()
    out = []
    for code in codes:
        if code.payload not in seen:
            seen.add(code.payload)
            out.append(code)
    return out
