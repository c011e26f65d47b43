"""zbar through pyzbar's ctypes bindings: a fallback decoder.

NOTE: pyzbar 0.1.9's `decode()` raises ValueError ("4294967295 is not a valid ZBarOrientation") when zbar
cannot tell a symbol's orientation, losing every code in the frame (seen on zxing-cpp's qrcode-7 samples).
This adapter walks zbar's symbol list with the same bindings and never asks for the orientation.
"""

from __future__ import annotations

from ctypes import c_void_p, string_at

import numpy as np
from pyzbar import wrapper as zb

from kiosk.camera.base import Grey
from kiosk.decode.base import Code, Reading, text_of

_Y800 = 0x30303859  # fourcc 'Y800': 8-bit grey
_CFG_BINARY = 4  # ZBAR_CFG_BINARY (zbar >= 0.23): hand back the payload's bytes, no charset guessing


class ZbarDecoder:
    """zbar restricted to QR codes."""

    name = "pyzbar"

    def __init__(self) -> None:
        self._scanner = zb.zbar_image_scanner_create()
        if not self._scanner:
            raise RuntimeError("zbar: cannot create an image scanner")
        zb.zbar_image_scanner_set_config(self._scanner, 0, zb.ZBarConfig.CFG_ENABLE, 0)  # all symbologies off
        zb.zbar_image_scanner_set_config(self._scanner, zb.ZBarSymbol.QRCODE, zb.ZBarConfig.CFG_ENABLE, 1)
        # NOTE: without ZBAR_CFG_BINARY, zbar guesses Shift-JIS for UTF-8 text that has no ECI header (how
        # Vietnamese ID cards and most generators write it) and turns "Trần" into mojibake. Older zbar lacks
        # the option (non-zero return): its text is then already converted to UTF-8, which text_of accepts.
        zb.zbar_image_scanner_set_config(self._scanner, zb.ZBarSymbol.QRCODE, _CFG_BINARY, 1)

    def read(self, image: Grey) -> Reading:
        pixels = np.ascontiguousarray(image, dtype=np.uint8)  # kept alive until the scan is done
        height, width = pixels.shape[:2]
        zimage = zb.zbar_image_create()
        try:
            zb.zbar_image_set_format(zimage, _Y800)
            zb.zbar_image_set_size(zimage, width, height)
            zb.zbar_image_set_data(zimage, pixels.ctypes.data_as(c_void_p), pixels.nbytes, None)
            if zb.zbar_scan_image(self._scanner, zimage) <= 0:
                return Reading()
            return Reading(codes=list(self._symbols(zimage)))
        finally:
            zb.zbar_image_destroy(zimage)

    def _symbols(self, zimage: object) -> list[Code]:
        codes = []
        symbol = zb.zbar_image_first_symbol(zimage)
        while symbol:
            payload = string_at(zb.zbar_symbol_get_data(symbol), zb.zbar_symbol_get_data_length(symbol))
            corners = tuple(
                (float(zb.zbar_symbol_get_loc_x(symbol, i)), float(zb.zbar_symbol_get_loc_y(symbol, i)))
                for i in range(zb.zbar_symbol_get_loc_size(symbol))
            )
            codes.append(Code(payload, text_of(payload), self.name, corners))
            symbol = zb.zbar_symbol_next(symbol)
        return codes

    def __del__(self) -> None:
        scanner = getattr(self, "_scanner", None)
        if scanner:
            zb.zbar_image_scanner_destroy(scanner)
