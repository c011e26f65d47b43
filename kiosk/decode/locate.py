"""Where a QR symbol may be when no decoder saw one: a cheap look at the whole frame.

zxing-cpp reports a symbol it could not read only when it found its finder patterns; a blurred, glared or
low-contrast symbol usually gives it none, and so no second attempt. A QR symbol is a compact, square-ish patch
dense with edges in both directions (its modules); this finds such patches on a quarter-size copy of the frame
in about a quarter of a millisecond (640x480), so that it can run on every frame where nothing was read.

It is a hint, not a verdict: text, checkerboards and 1D barcodes pass too, and only a decoder's checksum decides.
The second attempts it triggers are bounded by the chain's time budget.
"""

from __future__ import annotations

import cv2

from kiosk.camera.base import Grey
from kiosk.decode.base import Box

_SCALE = 4  # the look is taken at a quarter of the frame's size
_WINDOW = 7  # pixels of the small copy over which edge energy is averaged
_EDGES = 14  # mean absolute Sobel response (both directions) of a symbol's patch, 8-bit
_MIN_SIDE = 0.14  # of the frame's height: smaller patches cannot hold a readable symbol at 640x480
_MIN_FILL = 0.45  # of its bounding box a patch must fill (a symbol is a filled square, seen in perspective)
_MAX_ASPECT = 2.6  # longer side over shorter (a symbol tilted by 60 degrees still passes)


def likely_symbols(image: Grey, edges: int = _EDGES) -> list[Box]:
    """Boxes (image coordinates) of patches that look like a QR symbol, largest first."""
    height, width = image.shape[:2]
    small_w, small_h = max(1, width // _SCALE), max(1, height // _SCALE)
    if min(small_w, small_h) < 2 * _WINDOW:
        return []
    small = cv2.resize(image, (small_w, small_h), interpolation=cv2.INTER_LINEAR)
    across = cv2.blur(cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 1, 0, ksize=3)), (_WINDOW, _WINDOW))
    down = cv2.blur(cv2.convertScaleAbs(cv2.Sobel(small, cv2.CV_16S, 0, 1, ksize=3)), (_WINDOW, _WINDOW))
    _, dense = cv2.threshold(cv2.min(across, down), edges, 255, cv2.THRESH_BINARY)
    if cv2.countNonZero(dense) == 0:
        return []  # most frames at a gate: nothing dense enough anywhere
    # NOTE: outer contours rather than connectedComponentsWithStats: the same patches at a sixth of the cost.
    outlines, _ = cv2.findContours(dense, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    side = _MIN_SIDE * small_h
    boxes = []
    for outline in outlines:
        x, y, w, h = cv2.boundingRect(outline)
        square_enough = w >= side and h >= side and max(w, h) <= _MAX_ASPECT * min(w, h)
        if square_enough and cv2.contourArea(outline) >= _MIN_FILL * w * h:
            box = (x * _SCALE, y * _SCALE, min(width, (x + w) * _SCALE), min(height, (y + h) * _SCALE))
            boxes.append((w * h, box))
    return [box for _, box in sorted(boxes, reverse=True)]
