"""zxing-cpp: the primary decoder (about ten times faster than zbar here, and it reads more)."""

from __future__ import annotations

import zxingcpp

from kiosk.camera.base import Grey
from kiosk.decode.base import Code, Reading, box_of

# NOTE: QRCode is a family in zxing-cpp 3 (QR, Micro QR, rMQR), searched at no extra cost. Every code a gate
# reads is a plain QR symbol; the Micro QR detector's finds are kept as hints only: it locates a single finder
# pattern, which is often one corner of a QR symbol too blurred for the QR detector (measured on
# bench/decode_hard.py: without them, 52 instead of 40 unread frames have nowhere for a second attempt to look).
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
_NOT_OURS = (zxingcpp.BarcodeFormat.MicroQRCode, zxingcpp.BarcodeFormat.RMQRCode)
_BINARIZERS = {
    "local-average": zxingcpp.Binarizer.LocalAverage,
    "global-histogram": zxingcpp.Binarizer.GlobalHistogram,
}


class ZxingDecoder:
    """zxing-cpp restricted to QR codes, returning unreadable symbols as hints for a second attempt.

    By default it looks for dark modules on a light ground only: zxing-cpp's pass for inverted symbols costs
    almost as much again on every frame (0.52 against 0.28 ms on an empty 640x480 frame here), and a light code on
    a dark screen is rare at a gate; the decoder chain finds one by trying the inverted crop where a symbol is
    likely (`kiosk.decode.repair`). `invert=True` looks for both on the whole image.
    """

    def __init__(
        self,
        *,
        binarizer: str = "local-average",
        hints: bool = True,
        invert: bool = False,
        downscale: bool = True,
        name: str = "zxing",
    ) -> None:
        self._binarizer = _BINARIZERS[binarizer]
        self._hints = hints
        self._invert = invert
        self._downscale = downscale
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def read(self, image: Grey) -> Reading:
        results = zxingcpp.read_barcodes(
            image,
            formats=_QR,
            text_mode=zxingcpp.TextMode.Plain,
            binarizer=self._binarizer,
            try_invert=self._invert,
            try_downscale=self._downscale,
            return_errors=self._hints,
        )
        reading = Reading()
        height, width = image.shape[:2]
        for result in results:
            corners = _corners(result.position)
            if result.valid and result.format not in _NOT_OURS:
                reading.codes.append(Code(bytes(result.bytes), result.text, self._name, corners))
            else:
                reading.hints.append(box_of(corners, width, height))
        return reading


def _corners(position: zxingcpp.Position) -> tuple[tuple[float, float], ...]:
    points = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    return tuple((float(p.x), float(p.y)) for p in points)
