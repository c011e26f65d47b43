"""What the kiosk's screen shows, drawn into a BGR image buffer: testable without a display.

Layout (fractions of the screen height): the live camera view fills the area above a bottom bar and is
letterboxed; the decode region of interest is a rectangle over it, a code read in the newest frame is outlined
in green, a symbol seen but not read in amber. The bar (18 %) holds the idle instructions. For `banner_s` after
a decision a larger banner (42 %) covers the bottom instead: colour and icon by outcome, the message in the
configured language and, smaller, in the other one. Only message texts are ever drawn, never anything read from
a code: the renderer is given the decision and the reason code, nothing else.

Text goes through Pillow with a TrueType font (DejaVu Sans by default), so Vietnamese diacritics render; the bar
and each banner are drawn once and cached, so a redraw is a resize, a few lines and two copies.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from kiosk.camera.base import Grey
from kiosk.decode.base import Box, Point
from kiosk.policy.messages import FAULT, Messages, message

log = logging.getLogger(__name__)

BGR = tuple[int, int, int]
Image_ = npt.NDArray[np.uint8]
"""A height x width x 3 BGR image."""
Rect = tuple[int, int, int, int]
"""x, y, width, height in screen pixels."""

IDLE = ("Đưa mã QR vào khung hình", "Show your QR code to the camera")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")  # Debian's fonts-dejavu-core

# Outcome -> (background, ink). Amber takes dark ink: white on amber is hard to read in daylight.
COLOURS: dict[str, tuple[BGR, BGR]] = {
    "ACCEPT": ((46, 158, 27), (255, 255, 255)),
    "DENY": ((30, 30, 200), (255, 255, 255)),
    "REVIEW": ((0, 166, 245), (20, 20, 20)),
    "FAULT": ((48, 40, 96), (255, 255, 255)),
}
BAR = ((24, 24, 24), (255, 255, 255))
VIEW_BACKGROUND: BGR = (0, 0, 0)
ROI_COLOUR: BGR = (255, 191, 0)
READ_COLOUR: BGR = (0, 220, 0)
UNREAD_COLOUR: BGR = (0, 191, 255)
_BAR_H, _BANNER_H = 0.18, 0.42


@dataclass(frozen=True, slots=True)
class Seen:
    """The newest camera frame and where codes were in it (frame coordinates): never their content."""

    image: Grey
    codes: tuple[tuple[Point, ...], ...] = ()
    unread: tuple[Box, ...] = ()


@dataclass(frozen=True, slots=True)
class Banner:
    """A decision on screen: `outcome` is ACCEPT, DENY, REVIEW or FAULT; shown until `until` (monotonic s)."""

    outcome: str
    reason: str
    until: float


@dataclass(frozen=True, slots=True)
class Layout:
    """Where everything goes on a width x height screen."""

    width: int
    height: int
    view: Rect  # the camera is letterboxed in here
    bar: Rect  # idle instructions
    banner: Rect
    icon: Rect  # inside the banner
    text: Rect  # inside the banner, right of the icon

    @classmethod
    def of(cls, width: int, height: int) -> Layout:
        bar_h, banner_h = round(height * _BAR_H), round(height * _BANNER_H)
        pad = banner_h // 10
        side = banner_h - 2 * pad
        text_x = 2 * pad + side
        return cls(
            width,
            height,
            view=(0, 0, width, height - bar_h),
            bar=(0, height - bar_h, width, bar_h),
            banner=(0, height - banner_h, width, banner_h),
            icon=(pad, pad, side, side),
            text=(text_x, pad, width - text_x - pad, side),
        )


@dataclass(frozen=True, slots=True)
class Fonts:
    """Bold for the main line, regular for the second; None means Pillow's default (no Vietnamese glyphs)."""

    bold: Path | None
    regular: Path | None

    @classmethod
    def find(cls, configured: Path | None = None) -> Fonts:
        if configured is not None:
            if _vietnamese(configured):
                return cls(configured, configured)
            log.warning("feedback.screen.font = %s: unreadable or lacks Vietnamese glyphs; trying DejaVu", configured)
        bold, regular = DEJAVU / "DejaVuSans-Bold.ttf", DEJAVU / "DejaVuSans.ttf"
        if _vietnamese(regular):
            return cls(bold if _vietnamese(bold) else regular, regular)
        log.warning(
            "no TrueType font with Vietnamese glyphs (apt-get install fonts-dejavu-core, or set feedback.screen.font):"
            " using Pillow's default font, diacritics may be lost"
        )
        return cls(None, None)


def _vietnamese(path: Path) -> bool:
    """`path` is a font Pillow can load that has a glyph for "ệ" (not the one it draws for a missing character)."""
    if not path.is_file():  # Pillow would look for the bare name in the system's font folders instead
        return False
    try:
        font = ImageFont.truetype(str(path), 24)
    except OSError:
        return False
    glyph = bytes(font.getmask("ệ"))
    return any(glyph) and glyph != bytes(font.getmask("\U000f0000"))


@lru_cache(maxsize=64)
def _font(path: Path | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(path), size)


class ScreenRenderer:
    """Draws the screen for a state; pure apart from its caches, safe to call from one thread at a time."""

    def __init__(
        self,
        width: int,
        height: int,
        messages: Messages,
        *,
        roi: tuple[float, float, float, float] | None = None,
        fonts: Fonts | None = None,
    ) -> None:
        self.layout = Layout.of(width, height)
        self.messages = messages
        self.roi = roi
        self.fonts = fonts or Fonts.find()
        self._panels: dict[tuple[str, ...], Image_] = {}
        self._fits: dict[tuple[int, int], tuple[float, int, int, int, int]] = {}

    def render(self, seen: Seen | None, banner: Banner | None, now: float) -> Image_:
        """A new BGR image of the screen: camera view, overlays, and the banner if it is still due."""
        layout = self.layout
        image = np.zeros((layout.height, layout.width, 3), dtype=np.uint8)
        if seen is not None:
            self._draw_view(image, seen)
        if banner is not None and now < banner.until:
            _paste(image, layout.banner, self._banner(banner.outcome, banner.reason))
        else:
            _paste(image, layout.bar, self._idle())
        return image

    def fit(self, frame_shape: tuple[int, ...]) -> tuple[float, int, int, int, int]:
        """(scale, x, y, width, height) of a frame of this shape letterboxed into the view."""
        key = (frame_shape[0], frame_shape[1])
        if key not in self._fits:
            fh, fw = key
            vx, vy, vw, vh = self.layout.view
            scale = min(vw / fw, vh / fh)
            w, h = max(1, round(fw * scale)), max(1, round(fh * scale))
            self._fits[key] = (scale, vx + (vw - w) // 2, vy + (vh - h) // 2, w, h)
        return self._fits[key]

    def to_screen(self, frame_shape: tuple[int, ...], x: float, y: float) -> tuple[int, int]:
        """A point in frame coordinates on the screen."""
        scale, ox, oy, _, _ = self.fit(frame_shape)
        return round(ox + x * scale), round(oy + y * scale)

    def roi_rect(self, frame_shape: tuple[int, ...]) -> Rect:
        """The region of interest on the screen (the whole fitted frame when there is none)."""
        _, ox, oy, w, h = self.fit(frame_shape)
        rx, ry, rw, rh = self.roi or (0.0, 0.0, 1.0, 1.0)
        return round(ox + rx * w), round(oy + ry * h), round(rw * w), round(rh * h)

    def _draw_view(self, image: Image_, seen: Seen) -> None:
        _, x, y, w, h = self.fit(seen.image.shape)
        scaled = cv2.resize(seen.image, (w, h), interpolation=cv2.INTER_LINEAR)
        image[y : y + h, x : x + w] = scaled[:, :, None]
        thick = max(2, self.layout.height // 160)
        rx, ry, rw, rh = self.roi_rect(seen.image.shape)
        half = thick // 2  # keep the whole line inside the fitted frame
        cv2.rectangle(image, (rx + half, ry + half), (rx + rw - 1 - half, ry + rh - 1 - half), ROI_COLOUR, thick)
        shape = seen.image.shape
        for x0, y0, x1, y1 in seen.unread:
            cv2.rectangle(image, self.to_screen(shape, x0, y0), self.to_screen(shape, x1, y1), UNREAD_COLOUR, thick)
        for corners in seen.codes:
            if len(corners) >= 2:
                points = np.array([self.to_screen(shape, px, py) for px, py in corners], dtype=np.int32)
                cv2.polylines(image, [points], True, READ_COLOUR, thick + 2, cv2.LINE_AA)

    def _idle(self) -> Image_:
        panel = self._panels.get(("idle",))
        if panel is None:
            vi, en = IDLE
            first, second = (en, vi) if self.messages.language == "en" else (vi, en)
            first = self.messages.overrides.get("idle") or first
            _, _, w, h = self.layout.bar
            pad = h // 8
            panel = self._panels[("idle",)] = self._panel(
                BAR, (w, h), (pad, pad, w - 2 * pad, h - 2 * pad), first, second
            )
        return panel

    def _banner(self, outcome: str, reason: str) -> Image_:
        panel = self._panels.get((outcome, reason))
        if panel is None:
            first, second = self._texts(outcome, reason)
            colours = COLOURS.get(outcome, COLOURS["REVIEW"])
            _, _, w, h = self.layout.banner
            panel = self._panel(colours, (w, h), self.layout.text, first, second)
            draw_icon(panel, self.layout.icon, outcome, colours[1])
            if len(self._panels) > 64:  # reasons are a closed set; this only bounds a misbehaving caller
                self._panels.clear()
            self._panels[(outcome, reason)] = panel
        return panel

    def _texts(self, outcome: str, reason: str) -> tuple[str, str | None]:
        """The message in the kiosk's language, and in the other one unless the venue reworded it."""
        messages = self.messages
        other = "vi" if messages.language == "en" else "en"
        if outcome == "FAULT":
            return messages.fault(), None if "fault" in messages.overrides else FAULT[1 if other == "en" else 0]
        return messages.text(reason), None if reason in messages.overrides else message(reason, other)

    def _panel(
        self, colours: tuple[BGR, BGR], size: tuple[int, int], box: Rect, first: str, second: str | None
    ) -> Image_:
        """A background with `first` (bold, up to two lines) and `second` (smaller) centred in `box`."""
        background, ink = colours
        rgb = Image.new("RGB", size, background[::-1])
        draw = ImageDraw.Draw(rgb)
        x, y, w, h = box
        main = _fit(first, self.fonts.bold, w, h if second is None else round(h * 0.7), 2, h)
        blocks = [(main, ink)]
        if second is not None:
            faded = tuple(round(c * 0.8 + b * 0.2) for c, b in zip(ink, background, strict=True))
            small = _fit(second, self.fonts.regular, w, h - main.height - h // 20, 1, round(main.size * 0.55))
            blocks.append((small, (faded[0], faded[1], faded[2])))
        top = y + (h - sum(text.height for text, _ in blocks) - h // 20 * (len(blocks) - 1)) // 2
        for text, colour in blocks:
            for line in text.lines:  # placed by the font's metrics, so accents never move a line
                draw.text((x, top), line, font=text.font, fill=colour[::-1])
                top += text.line_h
            top += h // 20
        return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


@dataclass(frozen=True, slots=True)
class _Text:
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    size: int
    lines: list[str]
    line_h: int

    @property
    def height(self) -> int:
        return len(self.lines) * self.line_h


def _fit(text: str, font_path: Path | None, width: int, height: int, max_lines: int, max_size: int) -> _Text:
    """`text` in the largest size up to `max_size` that fits width x height on at most `max_lines` lines."""
    text = unicodedata.normalize("NFC", text)  # precomposed letters: every font has those, not all combine marks
    size = max(8, min(max_size, int(height * 0.8)))
    while True:
        font = _font(font_path, size)
        ascent, descent = font.getmetrics() if isinstance(font, ImageFont.FreeTypeFont) else (size, size // 4)
        lines = _wrap(text, font, width, max_lines)
        if (lines and len(lines) * (ascent + descent) <= height) or size == 8:
            return _Text(font, size, lines or [text], ascent + descent)
        size = max(8, int(size * 0.9))


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int, max_lines: int) -> list[str]:
    """Words filled greedily into lines of `width`; [] if they need more than `max_lines` or a word is too wide."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= width:
            lines[-1] = candidate
        elif font.getlength(word) <= width:
            lines.append(word)
        else:
            return []
    return lines if len(lines) <= max_lines else []


def draw_icon(panel: Image_, box: Rect, outcome: str, ink: BGR) -> None:
    """A check mark (ACCEPT), cross (DENY), exclamation mark (REVIEW) or warning triangle (FAULT), in `ink`."""
    x, y, size, _ = box

    def at(fx: float, fy: float) -> tuple[int, int]:
        return round(x + fx * size), round(y + fy * size)

    stroke = max(3, size // 11)
    if outcome == "FAULT":
        triangle = np.array([at(0.5, 0.06), at(0.96, 0.9), at(0.04, 0.9)], dtype=np.int32)
        cv2.polylines(panel, [triangle], True, ink, max(2, size // 18), cv2.LINE_AA)
        cv2.line(panel, at(0.5, 0.36), at(0.5, 0.64), ink, stroke, cv2.LINE_AA)
        cv2.circle(panel, at(0.5, 0.77), max(2, size // 18), ink, -1, cv2.LINE_AA)
        return
    cv2.circle(panel, at(0.5, 0.5), round(size * 0.46), ink, max(2, size // 18), cv2.LINE_AA)
    if outcome == "ACCEPT":
        check = np.array([at(0.27, 0.52), at(0.44, 0.69), at(0.74, 0.34)], dtype=np.int32)
        cv2.polylines(panel, [check], False, ink, stroke, cv2.LINE_AA)
    elif outcome == "DENY":
        cv2.line(panel, at(0.32, 0.32), at(0.68, 0.68), ink, stroke, cv2.LINE_AA)
        cv2.line(panel, at(0.68, 0.32), at(0.32, 0.68), ink, stroke, cv2.LINE_AA)
    else:
        cv2.line(panel, at(0.5, 0.22), at(0.5, 0.58), ink, stroke, cv2.LINE_AA)
        cv2.circle(panel, at(0.5, 0.75), max(2, size // 15), ink, -1, cv2.LINE_AA)


def _paste(image: Image_, rect: Rect, panel: Image_) -> None:
    x, y, w, h = rect
    image[y : y + h, x : x + w] = panel
