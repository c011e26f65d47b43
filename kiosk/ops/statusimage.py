"""The status page's camera snapshot as a PNG: the codes seen pixelated (so it cannot be read back into QR text)
and outlined, the decode region drawn."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from kiosk.config import RegionOfInterest
from kiosk.decode import Box
from kiosk.decode.base import box_of
from kiosk.errors import KioskError
from kiosk.ops.frametap import Seen

ROI_COLOUR = (0, 255, 255)  # BGR yellow: the decode region
READ_COLOUR = (0, 200, 0)  # codes read
UNREAD_COLOUR = (0, 0, 255)  # symbols seen but not read


class SnapshotError(KioskError, RuntimeError):
    """The snapshot could not be made."""


def render_snapshot(seen: Seen, roi: RegionOfInterest | None) -> bytes:
    """A PNG of `seen`: codes pixelated and outlined (read: green, unread: red), the decode region in yellow."""
    height, width = seen.image.shape[:2]
    image = cv2.cvtColor(seen.image, cv2.COLOR_GRAY2BGR)
    if any(not corners for corners in seen.codes):  # a code read without a place: hide everything
        _pixelate(image, (0, 0, width, height))
    read = [box_of(corners, width, height) for corners in seen.codes if corners]
    for box in [*read, *seen.unread]:
        _pixelate(image, _grown(box, width, height))
    for corners in seen.codes:
        if corners:
            points = np.array(corners, dtype=np.int32).reshape(-1, 1, 2)
            cv2.polylines(image, [points], isClosed=True, color=READ_COLOUR, thickness=2)
    for x0, y0, x1, y1 in seen.unread:
        cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), UNREAD_COLOUR, 2)
    x0, y0, x1, y1 = roi_box(roi, width, height)
    cv2.rectangle(image, (x0, y0), (x1 - 1, y1 - 1), ROI_COLOUR, 2)
    ok, png = cv2.imencode(".png", image)
    if not ok:
        raise SnapshotError("the snapshot could not be encoded")
    return bytes(png.tobytes())


def roi_box(roi: RegionOfInterest | None, width: int, height: int) -> Box:
    """The decode region in pixels (the whole frame without one)."""
    if roi is None:
        return 0, 0, width, height
    x0, y0 = int(roi.x * width), int(roi.y * height)
    return x0, y0, min(width, x0 + int(roi.width * width)), min(height, y0 + int(roi.height * height))


def _grown(box: Box, width: int, height: int, margin: float = 0.25) -> Box:
    # A decoder's corners may sit on the finder patterns' centres: the symbol reaches past them.
    x0, y0, x1, y1 = box
    dx, dy = int((x1 - x0) * margin) + 4, int((y1 - y0) * margin) + 4
    return max(0, x0 - dx), max(0, y0 - dy), min(width, x1 + dx), min(height, y1 + dy)


def _pixelate(image: np.ndarray[Any, Any], box: Box, cells: int = 6) -> None:
    """Replace `box` by `cells` x `cells` blocks: fewer than the 21 modules of the smallest QR code."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return
    coarse = cv2.resize(image[y0:y1, x0:x1], (cells, cells), interpolation=cv2.INTER_AREA)
    image[y0:y1, x0:x1] = cv2.resize(coarse, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
