"""The pass as a QR code: always a full QR code (never Micro QR, which kiosks do not read), level M or better, and
the quiet zone of 4 modules the standard asks for; dark on a white background, so a dark-mode page reads too.
"""

from __future__ import annotations

import io

import segno


def qr_svg(text: str, *, scale: int = 6) -> str:
    """The pass as inline SVG for a phone screen: `scale` CSS pixels a module (a version 9 code at 6 is 366 px
    wide), and a viewBox, so that a page's `max-width: 100%; height: auto` shrinks it on a narrow screen."""
    qr = segno.make_qr(text, error="m")
    svg = str(qr.svg_inline(scale=1, border=4, dark="#000", light="#fff", omitsize=True, svgclass="pass-qr"))
    size = qr.symbol_size(scale=scale, border=4)[0]
    return svg.replace("<svg ", f'<svg width="{size}" height="{size}" shape-rendering="crispEdges" ', 1)


def qr_png(text: str, *, scale: int = 10, dpi: int = 300) -> bytes:
    """The pass as a PNG for printing: at 10 pixels a module and 300 dpi, a version 9 code is 5 cm wide."""
    out = io.BytesIO()
    segno.make_qr(text, error="m").save(out, kind="png", scale=scale, border=4, dpi=dpi)
    return out.getvalue()
