"""Reading a still picture on its own (a photo, a scan) with every decoder there is: a picture may be worth the
time. Pure: it is given a grey image, not a file, so the centre reads uploaded photos with it and nothing else of
the kiosk (no configuration, no camera, no builders).
"""

from __future__ import annotations

from kiosk.camera.base import Grey
from kiosk.decode.base import Decoder
from kiosk.decode.chain import DecoderChain
from kiosk.decode.opencv import OpenCVDecoder
from kiosk.decode.reader import FrameReader
from kiosk.decode.zxing import ZxingDecoder


def still_decoders() -> list[Decoder]:
    """zxing-cpp, pyzbar and OpenCV, as the kiosk builds them (kiosk/builders.py); pyzbar is left out where
    libzbar cannot load: the others still read."""
    decoders: list[Decoder] = [ZxingDecoder(downscale=False)]  # as build_decoder("zxing") makes it
    try:
        from kiosk.decode.zbar import ZbarDecoder
    except ImportError:  # no libzbar here
        pass
    else:
        decoders.append(ZbarDecoder())
    decoders.append(OpenCVDecoder())
    return decoders


def texts_in_still(image: Grey) -> list[str]:
    """The texts of the QR codes read in `image` (2-D, uint8), in the order the reader found them; none: []."""
    return [code.text for code in FrameReader(DecoderChain(still_decoders())).read_still(image).codes]
