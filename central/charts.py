"""Bar and line charts as inline SVG, drawn on the server: no script, no CDN, nothing to download.

- Sized by the viewBox alone (width 100%, no fixed height): the same markup fits a phone and a desktop. The
  default box is narrow (360 units) so that text is still legible when a phone shrinks it (10 px on a 320 px
  screen), and the page's stylesheet caps a chart's width (`.chart`) so that a desktop does not blow its text
  up past the page's own size.
- Accessible: role="img" with <title> and <desc> named by aria-labelledby; the default <desc> lists every
  value, so a screen reader gets the data, not just a picture; every bar and point has its own <title>
  (a tooltip too); the axes are labelled; the lines differ by dash as well as colour (Okabe-Ito palette).
- Presentation attributes only (fill, font-size): no `style` attribute and no <style> element, which the
  pages' Content-Security-Policy (style-src 'self') would block. Elements carry classes the page's
  stylesheet may use (`bar`, `line`, `axis`).
- Every text is escaped; the font stack has Vietnamese glyphs on every common system.
- Numbers and days are written in the chart's language (`lang`: 12.345 and 26/11, or 12,345 and 26 Nov) by
  central/formats.py, unless a `fmt` is given.
- A point with no neighbour (a series of one day, or one after a gap) gets a larger dot: a line needs two
  points, and the small dots of a long series would leave it nearly invisible.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from datetime import date
from html import escape

from central.formats import day_month, number

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'DejaVu Sans', Arial, sans-serif"
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")  # Okabe-Ito: distinct for colour-blind readers
DASHES = ("", "6 3", "2 3", "8 3 2 3")
FONT_SIZE = 13
WIDTH = 360
TICKS = 4
MAX_X_LABELS = 6
DOT, LONE_DOT = 2.5, 4.5  # a point's radius; a point without a neighbour to draw a line to
EMPTY = {"vi": "Chưa có số liệu", "en": "No figures yet"}

Number = int | float
Formatter = Callable[[float], str]


def vi_number(value: float) -> str:
    """12345 -> "12.345", 33.3 -> "33,3": digit groups with a dot, one decimal with a comma."""
    return number(value, "vi")


def _formatter(fmt: Formatter | None, lang: str) -> Formatter:
    return fmt or (lambda value: number(value, lang))


def bar_chart(
    points: Sequence[tuple[str, Number]],
    *,
    title: str,
    desc: str = "",
    x_label: str = "",
    y_label: str = "",
    width: int = WIDTH,
    height: int = 240,
    unit: str = "",
    fmt: Formatter | None = None,
    chart_id: str = "",
    empty_text: str = "",
    lang: str = "vi",
) -> str:
    """One bar per (label, value) point, in order; values must not be negative."""
    fmt = _formatter(fmt, lang)
    labels = [label for label, _ in points]
    values = [float(value) for _, value in points]
    frame = _Frame(width, height, max(values, default=0.0), fmt, unit, labels, bars=True)
    parts = frame.axes(x_label, y_label)
    if not points:
        parts.append(_text(width / 2, height / 2, empty_text or EMPTY.get(lang, EMPTY["vi"]), anchor="middle"))
    slot = frame.plot_w / max(len(points), 1)
    gap = min(slot * 0.2, 4.0)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        top = frame.y(value)
        parts.append(
            f'<rect class="bar" x="{frame.x(i) - (slot - gap) / 2:.1f}" y="{top:.1f}" '
            f'width="{slot - gap:.1f}" height="{frame.bottom - top:.1f}" fill="{COLOURS[0]}">'
            f"<title>{escape(label)}: {escape(fmt(value) + unit)}</title></rect>"
        )
    summary = "; ".join(f"{label}: {fmt(value)}{unit}" for label, value in zip(labels, values, strict=True))
    return _svg(parts, title, _join(desc, summary), width, height, chart_id or _id("bar", title, labels), lang)


def line_chart(
    labels: Sequence[str],
    lines: Sequence[tuple[str, Sequence[Number | None]]],
    *,
    title: str,
    desc: str = "",
    x_label: str = "",
    y_label: str = "",
    y_max: float | None = None,
    width: int = WIDTH,
    height: int = 260,
    unit: str = "",
    fmt: Formatter | None = None,
    chart_id: str = "",
    empty_text: str = "",
    lang: str = "vi",
) -> str:
    """One line per (name, values) over the x `labels`; a None value is a gap in its line. With `y_max`
    (e.g. 100 for percentages) the scale is fixed; otherwise it follows the data."""
    fmt = _formatter(fmt, lang)
    known = [float(v) for _, values in lines for v in values if v is not None]
    top = y_max if y_max is not None else max(known, default=0.0)
    legend = 18 * len(lines)
    frame = _Frame(width, height, top, fmt, unit, list(labels), bars=False, top_margin=14 + legend)
    parts = frame.axes(x_label, y_label)
    if not known:
        parts.append(_text(width / 2, height / 2, empty_text or EMPTY.get(lang, EMPTY["vi"]), anchor="middle"))
    summaries = []
    for n, (name, values) in enumerate(lines):
        pairs = list(zip(labels, values, strict=True))
        parts.extend(_line(frame, n, name, pairs, fmt, unit))
        shown = (f"{label}: {'—' if v is None else fmt(float(v)) + unit}" for label, v in pairs)
        summaries.append(f"{name}: " + "; ".join(shown))
    return _svg(parts, title, _join(desc, *summaries), width, height, chart_id or _id("line", title, labels), lang)


# The deployment dashboard's two charts (central/progress.py): one point per local day.
DASHBOARD_WORDS = {
    "vi": ("Lượt quét mỗi ngày", "Ngày", "Lượt quét", "Tỷ lệ bao phủ theo ngày", "% địa điểm đăng ký",
           "Đã triển khai", "Hoạt động trong ngày"),
    "en": ("Scans per day", "Day", "Scans", "Coverage per day", "% of registered venues", "Deployed",
           "Active that day"),
}  # fmt: skip


def scans_per_day(days: Sequence[date], scans: Sequence[int], *, place: str, lang: str = "vi") -> str:
    title, x_label, y_label, *_ = DASHBOARD_WORDS[lang]
    points = list(zip(_day_labels(days, lang), scans, strict=True))
    return bar_chart(points, title=f"{title} — {place}", x_label=x_label, y_label=y_label, lang=lang)


def coverage_per_day(
    days: Sequence[date],
    deployed_pct: Sequence[float | None],
    active_pct: Sequence[float | None],
    *,
    place: str,
    lang: str = "vi",
) -> str:
    _, x_label, _, title, y_label, deployed, active = DASHBOARD_WORDS[lang]
    lines = [(deployed, deployed_pct), (active, active_pct)]
    labels = _day_labels(days, lang)
    return line_chart(
        labels, lines, title=f"{title} — {place}", x_label=x_label, y_label=y_label, y_max=100, unit="%", lang=lang
    )


def _day_labels(days: Sequence[date], lang: str) -> list[str]:
    return [day_month(day, lang) for day in days]


class _Frame:
    """The plot area, its y scale (from 0 up to a round number above the highest value) and both axes."""

    def __init__(
        self,
        width: int,
        height: int,
        highest: float,
        fmt: Formatter,
        unit: str,
        labels: list[str],
        *,
        bars: bool,
        top_margin: int = 14,
    ) -> None:
        self.ticks = nice_ticks(highest)
        self.tick_text = [fmt(t) + unit for t in self.ticks]
        self.left = 22 + FONT_SIZE * 0.62 * max(len(t) for t in self.tick_text) + 6
        self.right = width - 24  # room for half of the last x label
        self.top = top_margin
        self.bottom = height - 2 * FONT_SIZE - 16
        self.plot_w = self.right - self.left
        self.height, self.labels, self.bars = height, labels, bars

    def x(self, index: int) -> float:
        """The middle of bar `index`, or point `index` of a line (the first on the y axis, the last at the end)."""
        count = len(self.labels)
        if self.bars:
            return self.left + (index + 0.5) * self.plot_w / max(count, 1)
        return self.left + (index * self.plot_w / (count - 1) if count > 1 else self.plot_w / 2)

    def y(self, value: float) -> float:
        span = self.ticks[-1] or 1.0
        return self.bottom - (self.bottom - self.top) * min(max(value, 0.0), span) / span

    def axes(self, x_label: str, y_label: str) -> list[str]:
        parts = ['<g class="axis" fill="#444" stroke="none">']
        for tick, text in zip(self.ticks, self.tick_text, strict=True):
            y = self.y(tick)
            parts.append(f'<line x1="{self.left:.1f}" x2="{self.right:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            parts.append(_text(self.left - 4, y + FONT_SIZE / 3, text, anchor="end"))
        longest = max((len(label) for label in self.labels), default=1)
        room = int(self.plot_w // (FONT_SIZE * 0.62 * longest + 8))  # labels side by side without touching
        for i in _shown_labels(len(self.labels), max(2, min(room, MAX_X_LABELS))):
            parts.append(_text(self.x(i), self.bottom + FONT_SIZE + 2, self.labels[i], anchor="middle"))
        parts.append(
            f'<line x1="{self.left:.1f}" x2="{self.right:.1f}" y1="{self.bottom:.1f}" y2="{self.bottom:.1f}" '
            'stroke="#444"/>'
        )
        if x_label:
            parts.append(_text((self.left + self.right) / 2, self.height - 6, x_label, anchor="middle"))
        if y_label:
            middle = (self.top + self.bottom) / 2
            parts.append(_text(12, middle, y_label, anchor="middle", rotate=(-90, 12, middle)))
        parts.append("</g>")
        return parts


def nice_ticks(highest: float, count: int = TICKS) -> list[float]:
    """0 and round steps (1, 2, 2.5 or 5 times a power of ten; whole numbers) up to at least `highest`."""
    if highest <= 0:
        return [0.0, 1.0]
    raw = highest / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    step = max(step, 1.0)
    return [i * step for i in range(math.ceil(highest / step - 1e-9) + 1)]


def _shown_labels(count: int, most: int = MAX_X_LABELS) -> list[int]:
    """Which x labels to print so that they do not overlap: evenly spaced, the last one always."""
    if count <= most:
        return list(range(count))
    every = math.ceil(count / most)
    return sorted({*range(count - 1, -1, -every)})


def _line(
    frame: _Frame, n: int, name: str, values: list[tuple[str, Number | None]], fmt: Formatter, unit: str
) -> list[str]:
    """Line `n` (its colour and dash by its position), a dot with a tooltip per value, and its legend entry."""
    colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
    points = [(frame.x(i), frame.y(float(v or 0)), label, v) for i, (label, v) in enumerate(values)]
    parts = [_path(points, colour, dash)]
    for i, (x, y, label, v) in enumerate(points):
        if v is not None:
            radius = DOT if _has_neighbour(values, i) else LONE_DOT
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{colour}">'
                f"<title>{escape(name)}, {escape(label)}: {escape(fmt(float(v)) + unit)}</title></circle>"
            )
    return parts + _legend_entry(frame.left, 8 + 18 * n, name, colour, dash)


def _has_neighbour(values: list[tuple[str, Number | None]], index: int) -> bool:
    """Whether point `index` is joined by a line to the point before or after it."""
    return any(0 <= j < len(values) and values[j][1] is not None for j in (index - 1, index + 1))


def _path(points: list[tuple[float, float, str, Number | None]], colour: str, dash: str) -> str:
    commands, pen_down = [], False
    for x, y, _, value in points:
        if value is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{x:.1f} {y:.1f}")
        pen_down = True
    dashing = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<path class="line" d="{" ".join(commands)}" fill="none" stroke="{colour}" stroke-width="2"{dashing}/>'


def _legend_entry(x: float, y: float, name: str, colour: str, dash: str) -> list[str]:
    dashing = f' stroke-dasharray="{dash}"' if dash else ""
    return [
        f'<line x1="{x:.1f}" x2="{x + 24:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" stroke-width="2"{dashing}/>',
        _text(x + 30, y + FONT_SIZE / 3, name),
    ]


def _text(
    x: float, y: float, text: str, *, anchor: str = "start", rotate: tuple[float, float, float] | None = None
) -> str:
    turn = f' transform="rotate({rotate[0]:g} {rotate[1]:.1f} {rotate[2]:.1f})"' if rotate else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{turn}>{escape(text)}</text>'


def _svg(parts: list[str], title: str, desc: str, width: int, height: int, chart_id: str, lang: str) -> str:
    ids = f"{chart_id}-title {chart_id}-desc"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" class="chart" role="img" '
        f'aria-labelledby="{ids}" lang="{escape(lang)}" font-family="{escape(FONT)}" font-size="{FONT_SIZE}" '
        f'fill="#222">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(desc)}</desc>'
        f"{''.join(parts)}</svg>"
    )


def _id(kind: str, title: str, labels: Sequence[str]) -> str:
    digest = hashlib.sha256("\x1f".join([kind, title, *labels]).encode()).hexdigest()[:10]
    return f"chart-{digest}"


def _join(*texts: str) -> str:
    return ". ".join(text for text in texts if text)
