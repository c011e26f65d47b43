"""The enrolment sheet as one HTML file: printed on A4 or read on a technician's phone, opened from a USB stick or
an e-mail with no network, so everything is inside it (styles, QR codes as inline SVG; no script, no link).

Vietnamese first, then English, on the same sheet: it goes from the district office to technicians of either.
"""

from __future__ import annotations

from pathlib import Path

import segno
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from central.bulk.sheet import Sheet
from central.formats import local_date_time

TEMPLATES = Path(__file__).parent.parent / "web" / "templates"
GROUP = 4  # the code is printed in groups of 4 letters, read and typed without the gaps


def render_sheet(sheet: Sheet) -> str:
    """The sheet's page: a card per venue, with its code in large letters and as a QR code."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True), undefined=StrictUndefined
    )
    return environment.get_template("enrol_sheet.html").render(
        sheet=sheet,
        expires_vi=local_date_time(sheet.expires_at, "vi"),
        expires_en=local_date_time(sheet.expires_at, "en"),
        made_vi=local_date_time(sheet.made_at, "vi"),
        qr=qr_svg,
        groups=code_groups,
    )


def qr_svg(text: str) -> str:
    """`text` as an inline SVG QR code (level M, the standard's 4-module quiet zone), sized by the page's CSS; the
    template marks it safe (segno escapes nothing but writes only path data and the attributes given here)."""
    svg = segno.make_qr(text, error="m").svg_inline(
        scale=1, border=4, dark="#000", light="#fff", omitsize=True, svgclass="qr"
    )
    return str(svg).replace("<svg ", '<svg shape-rendering="crispEdges" aria-hidden="true" ', 1)


def code_groups(code: str) -> list[str]:
    return [code[start : start + GROUP] for start in range(0, len(code), GROUP)]
