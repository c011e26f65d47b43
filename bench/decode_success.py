"""Decode success on zxing-cpp's QR samples: the kiosk's decoder chain against each raw decoder.

Each image counts as read when a decoder returns its expected content (the .txt or .bin beside it).
  zxing, pyzbar, opencv   one raw decoder on the whole image (zxing-cpp called directly, QR only)
  chain (scan)            the chain as `kiosk scan` runs it: zxing, then pyzbar, then OpenCV, no time budget
  chain (camera)          the chain as the frame loop runs it on a frame with no earlier sighting: zxing first,
                          second attempts only where zxing saw an unreadable symbol, 15 ms budget
falsepositives-1 counts images on which anything at all was read (must be 0).
qrcode-7 is one message split over four structured-append symbols; no decoder here joins them, so it is left out.

    .venv/bin/python bench/decode_success.py [--json]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import zxingcpp
from common import QR_SAMPLES, add_repo_to_path, emit, machine

add_repo_to_path()

from kiosk.camera.images import is_image, load_grey  # noqa: E402
from kiosk.decode import DecoderChain  # noqa: E402
from kiosk.decode.opencv import OpenCVDecoder  # noqa: E402
from kiosk.decode.zbar import ZbarDecoder  # noqa: E402
from kiosk.decode.zxing import ZxingDecoder  # noqa: E402

QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def expected(image: Path) -> bytes | None:
    for suffix in (".txt", ".bin"):
        if image.with_suffix(suffix).exists():
            return image.with_suffix(suffix).read_bytes()
    return None


def raw_zxing(image: Any) -> list[tuple[bytes, str]]:
    return [(bytes(r.bytes), r.text) for r in zxingcpp.read_barcodes(image, formats=QR)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    zbar, ocv = ZbarDecoder(), OpenCVDecoder()
    scan_chain = DecoderChain([ZxingDecoder(), ZbarDecoder(), OpenCVDecoder()])
    camera_chain = DecoderChain([ZxingDecoder(), ZbarDecoder()])
    readers = {
        "zxing": raw_zxing,
        "pyzbar": lambda im: [(c.payload, c.text) for c in zbar.read(im).codes],
        "opencv": lambda im: [(c.payload, c.text) for c in ocv.read(im).codes],
        "chain (scan)": lambda im: [(c.payload, c.text) for c in scan_chain.decode(im, thorough=True).codes],
        "chain (camera)": lambda im: [(c.payload, c.text) for c in camera_chain.decode(im).codes],
    }
    table: dict[str, dict[str, int]] = {}
    for folder in sorted(p for p in QR_SAMPLES.iterdir() if p.is_dir() and p.name != "qrcode-7"):
        false_positives = folder.name.startswith("falsepositives")
        row = {"images": 0, **{name: 0 for name in readers}}
        for path in sorted(p for p in folder.iterdir() if is_image(p)):
            want = expected(path)
            image = load_grey(path)
            if image is None or (want is None and not false_positives):
                continue
            row["images"] += 1
            for name, read in readers.items():
                found = read(image)
                if false_positives:
                    row[name] += bool(found)
                else:
                    row[name] += any(payload == want or text.encode() == want for payload, text in found)
        table[folder.name] = row
    totals = {k: sum(r[k] for n, r in table.items() if n.startswith("qrcode")) for k in ["images", *readers]}
    emit({"benchmark": "decode_success", "machine": machine(), "folders": table, "qrcode total": totals}, args.json)


if __name__ == "__main__":
    main()
