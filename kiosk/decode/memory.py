"""What a camera's reader has already tried: regions of the scene, by their looks, and which repairs failed.

A gate's camera looks at the same scene all day. Text on a notice, a checkerboard floor or a logo look enough
like a QR symbol to earn second attempts, and would earn them again on every frame. The reader remembers, for
each region it tried, what it looked like (a small thumbnail) and how many repairs failed on it: while it looks
the same (the camera's noise averages out at that size) for a few frames in a row, the next frame goes on with
the next repairs rather than starting again, and once all have failed the region is left alone. Until then each
frame starts again from the first repair: a code settling in a hand looks nearly the same from frame to frame at
that size while its blur clears, and a repair that failed a moment ago may read it now. A phone or card coming
into view changes the region, and so does one coming into focus (its crop grows sharper), and it is tried
afresh. Everything is forgotten after `forget_s`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from kiosk.camera.base import Grey
from kiosk.decode.base import Box

_THUMB = 24  # pixels a side: a symbol's structure shows (so a code settling in the hand is new), noise does not
_SAME = 2.5  # mean absolute difference (8-bit grey) under which two thumbnails show the same thing
_OVERLAP = 0.6  # intersection over union under which two boxes are different places
_KEPT = 128  # regions remembered at most (a scene may hold a few; light changes make more)
_STILL = 15  # frames (a second) a region must look the same in before its repairs go on from where they stopped
_SHARPER = 1.08  # sharper than this (blur clearing) is tried afresh; sensor noise moves it by 5 % at most
_SCENE = (40, 30)  # the whole frame, for telling an idle scene from one where something moved
_SAME_SCENE = 1.5  # a card coming in changes a fifth of the frame by tens of grey levels: 5 or more
_SCENES = 16  # settled scenes kept: a gate's view takes a few states (door open or shut, lights, a parked cart)


@dataclass(frozen=True, slots=True, eq=False)  # told apart by identity: a thumbnail is an array
class Look:
    """A region of one frame as the memory sees it, and how many repairs failed on it looking so."""

    box: Box
    thumbnail: np.ndarray
    done: int
    at: float
    sharpness: float  # mean absolute Laplacian of the crop: grows as motion blur or defocus clears
    still: int = 1  # frames in a row it looked so
    known: Look | None = None  # the remembered look it matched, if any


class RegionMemory:
    """Regions tried in vain, recognised by place and looks, with how far the repairs got on each; and the whole
    scene as it looked when nothing in it was left to try (an idle gate), in each of the few states a gate's view
    takes, so that such a frame costs no more."""

    def __init__(self, forget_s: float = 60.0) -> None:
        self.forget_s = forget_s
        self._looks: list[Look] = []
        self._scene: np.ndarray | None = None  # the last frame's, small
        self._settled: list[tuple[np.ndarray, float]] = []  # scenes where every region failed every repair, when

    def unchanged(self, frame: Grey, at: float) -> bool:
        """Whether `frame` (at time `at`) looks as the scene did lately in a state where nothing was left to try."""
        scene = self._scene = _scene_of(frame)
        self._settled = [(old, when) for old, when in self._settled if at - when < self.forget_s]
        return any(_same(scene, old, _SAME_SCENE) for old, _ in reversed(self._settled))

    def settle(self, at: float) -> None:
        """Nothing in the last frame given to `unchanged` (at time `at`) is left to try."""
        if self._scene is not None:
            self._settled.append((self._scene, at))
            del self._settled[:-_SCENES]

    def recall(self, crop: Grey, box: Box, at: float) -> Look:
        """`crop` (at `box`, at time `at`), with the repairs that failed on a region that looked like it."""
        thumbnail, sharpness = _thumbnail(crop), _sharpness(crop)
        old = self._match(box, thumbnail)
        done = old.done if old is not None and self._goes_on(old, at, sharpness) else 0
        return Look(box, thumbnail, done, at, sharpness, known=old)

    def _goes_on(self, old: Look, at: float, sharpness: float) -> bool:
        """Whether the repairs on a region like `old` go on from where they stopped rather than start again: it
        has looked the same for long enough, not too long ago, and is not coming into focus."""
        return at - old.at < self.forget_s and old.still >= _STILL and sharpness <= _SHARPER * old.sharpness

    def failed(self, look: Look, done: int) -> None:
        """The first `done` repairs were tried on the region of `look`, as it looked, and none read a code."""
        old = look.known
        if old is None or look.sharpness > _SHARPER * old.sharpness or old not in self._looks:
            self._looks.append(Look(look.box, look.thumbnail, done, look.at, look.sharpness))
        else:  # the time of its first failure is kept: a region in view all day is tried afresh now and then
            self._looks.remove(old)
            sharpness = max(look.sharpness, old.sharpness)
            self._looks.append(Look(look.box, look.thumbnail, max(done, old.done), old.at, sharpness, old.still + 1))
        del self._looks[:-_KEPT]

    def _match(self, box: Box, thumbnail: np.ndarray) -> Look | None:
        for old in reversed(self._looks):
            if _iou(old.box, box) >= _OVERLAP and _same(old.thumbnail, thumbnail, _SAME):
                return old
        return None


def _sampled(crop: Grey) -> Grey:
    """Every n-th pixel, n such that about four thumbnails' worth are left: OpenCV's INTER_AREA to a size that
    does not divide the image's is slow (0.18 ms for a whole 640x480 frame to 24x24, 0.01 ms from 128x96), and
    each thumbnail pixel still averages about 16 samples."""
    step = max(1, min(crop.shape[:2]) // (4 * _THUMB))
    return crop[::step, ::step]


def _thumbnail(crop: Grey) -> np.ndarray:
    return cast(np.ndarray, cv2.resize(_sampled(crop), (_THUMB, _THUMB), interpolation=cv2.INTER_AREA))


def _sharpness(crop: Grey) -> float:
    """Mean absolute Laplacian of the sampled crop: compared only with the same region's, so the sampling (the
    same for both) does not matter, and blur lowers it at any sampling."""
    return float(cv2.mean(cv2.convertScaleAbs(cv2.Laplacian(_sampled(crop), cv2.CV_16S)))[0])


def _scene_of(frame: Grey) -> np.ndarray:
    return cast(np.ndarray, cv2.resize(frame[::4, ::4], _SCENE, interpolation=cv2.INTER_AREA))


def _same(a: np.ndarray, b: np.ndarray, limit: float) -> bool:
    """Mean absolute difference under `limit` (cv2.norm: a tenth of numpy's time on arrays this small)."""
    return float(cv2.norm(a, b, cv2.NORM_L1)) < limit * a.size


def _iou(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
