"""OpenCV's QRCodeDetector: a second fallback that needs no extra system library."""

from __future__ import annotations

import cv2

from kiosk.camera.base import Grey
from kiosk.decode.base import Code, Reading


class OpenCVDecoder:
    """cv2.QRCodeDetector, several codes per image."""

    name = "opencv"

    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetector()

    def read(self, image: Grey) -> Reading:
        try:
            found, texts, points, _ = self._detector.detectAndDecodeMulti(image)
        except (cv2.error, UnicodeDecodeError):
            # NOTE: OpenCV's Python binding raises UnicodeDecodeError for a payload that is not UTF-8.
            return Reading()
        if not found or points is None:
            return Reading()
        codes = []
        for text, quad in zip(texts, points, strict=False):
            if text:
                corners = tuple((float(x), float(y)) for x, y in quad)
                codes.append(Code(text.encode("utf-8"), text, self.name, corners))
        return Reading(codes=codes)
