"""Repairs of a crop around a symbol that was not read, for a second attempt: cheapest and likeliest first.

A gate camera's symbols are small (2 to 3 px a module at 640x480), blurred by motion or focus, noisy and
JPEG-compressed. Measured on bench/decode_hard.py's frames, what a second attempt on the crop reads most for
its cost is the crop enlarged: zxing-cpp's binarizer and sampling both work better at 4 to 6 px a module. Then
the enlarged crop sharpened (defocus, JPEG smear), smoothed first where noise would be sharpened too, enlarged
three times (the smallest modules), thresholded against its neighbourhood (uneven light), and inverted (a light
code on a dark screen, which the first pass no longer looks for on the whole frame). Sharpening is done before
enlarging: the same effect at a quarter to a ninth of the cost (blurring the enlarged crop took as long as
zxing-cpp's reading of it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np

from kiosk.camera.base import Grey


@dataclass(frozen=True, slots=True)
class Repair:
    """A transformation of a crop, and the factor by which it scales the crop (to map corners back)."""

    name: str
    apply: Callable[[Grey], Grey]
    scale: float = 1.0


def enlarged(image: Grey, factor: float = 2.0) -> Grey:
    return cast(Grey, cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC))


def sharpened(image: Grey, sigma: float, amount: float) -> Grey:
    """Unsharp masking: the image plus `amount` times its detail finer than `sigma` pixels."""
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    return cast(Grey, cv2.addWeighted(image, 1.0 + amount, blurred, -amount, 0))


def _enlarged_sharp(image: Grey) -> Grey:
    return enlarged(sharpened(image, 1.0, 1.5))


def _smoothed_enlarged_sharp(image: Grey) -> Grey:
    return enlarged(sharpened(cast(Grey, cv2.GaussianBlur(image, (0, 0), 0.8)), 1.0, 2.0))


def _tripled_sharp(image: Grey) -> Grey:
    return enlarged(sharpened(image, 1.0, 1.5), 3.0)


def _smoothed_tripled_sharp(image: Grey) -> Grey:
    return enlarged(sharpened(cast(Grey, cv2.GaussianBlur(image, (0, 0), 1.0)), 1.0, 2.0), 3.0)


def _enlarged_thresholded(image: Grey) -> Grey:
    """A threshold of each pixel against its 15 px neighbourhood of the enlarged crop (about 3 modules): keeps the
    modules of a symbol whose light varies across it, which zxing-cpp's own 8 px blocks can lose."""
    return cast(Grey, cv2.adaptiveThreshold(enlarged(image), 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 15, 2))


def _inverted(image: Grey) -> Grey:
    return cast(Grey, np.subtract(255, image, dtype=np.uint8))


REPAIRS: tuple[Repair, ...] = (
    Repair("enlarged", enlarged, 2.0),
    Repair("inverted", _inverted, 1.0),
    Repair("smoothed-enlarged-sharp", _smoothed_enlarged_sharp, 2.0),
    Repair("enlarged-sharp", _enlarged_sharp, 2.0),
    Repair("enlarged-thresholded", _enlarged_thresholded, 2.0),
    Repair("tripled-sharp", _tripled_sharp, 3.0),
    Repair("smoothed-tripled-sharp", _smoothed_tripled_sharp, 3.0),
)
