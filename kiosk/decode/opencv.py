"""OpenCV's QRCodeDetector: a second fallback that needs no extra system library."""

from __future__ import annotations

import cv2

from kiosk.camera.base import Grey
from kiosk.decode.base import Code, Reading, text_of


class OpenCVDecoder:
    """cv2.QRCodeDetector, several codes per image."""

    name = "opencv"

    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetector()
        # NOTE: OpenCV >= 4.11 returns the payload as bytes; older versions decode it to str themselves and
        # raise UnicodeDecodeError on content that is not UTF-8.
        self._has_bytes = hasattr(self._detector, "detectAndDecodeBytesMulti")

    def read(self, image: Grey) -> Reading:
        try:
            if self._has_bytes:
                found, payloads, points, _ = self._detector.detectAndDecodeBytesMulti(image)
            else:
                found, texts, points, _ = self._detector.detectAndDecodeMulti(image)
                payloads = [t.encode("utf-8") for t in texts]
        except (cv2.error, UnicodeDecodeError):
            return Reading()  # e.g. a structured-append or Kanji symbol OpenCV does not implement
        if not found or points is None:
            return Reading()
        codes = []
        for payload, quad in zip(payloads, points, strict=False):
            if payload:
                corners = tuple((float(x), float(y)) for x, y in quad)
                codes.append(Code(bytes(payload), text_of(bytes(payload)), self.name, corners))
        return Reading(codes=codes)
