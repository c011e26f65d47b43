"""zxing-cpp: the primary decoder (about ten times faster than zbar here, and it reads more)."""

from __future__ import annotations

import zxingcpp

from kiosk.camera.base import Grey
from kiosk.decode.base import Code, Reading, box_of

_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
_BINARIZERS = {
    "local-average": zxingcpp.Binarizer.LocalAverage,
    "global-histogram": zxingcpp.Binarizer.GlobalHistogram,
}


class ZxingDecoder:
    """zxing-cpp restricted to QR codes, returning unreadable symbols as hints for a second attempt."""

    def __init__(self, *, binarizer: str = "local-average", hints: bool = True, name: str = "zxing") -> None:
        self._binarizer = _BINARIZERS[binarizer]
        self._hints = hints
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
            return_errors=self._hints,
        )
        reading = Reading()
        height, width = image.shape[:2]
        for result in results:
            corners = _corners(result.position)
            if result.valid:
                reading.codes.append(Code(bytes(result.bytes), result.text, self._name, corners))
            else:
                reading.hints.append(box_of(corners, width, height))
        return reading


def _corners(position: zxingcpp.Position) -> tuple[tuple[float, float], ...]:
    points = (position.top_left, position.top_right, position.bottom_right, position.bottom_left)
    return tuple((float(p.x), float(p.y)) for p in points)
