"""Drawing for bench/hardframes.py: the objects (phone, ID card, printed slip), their pose, and the camera's faults.

The props (app screen, CCCD face, hand, gate background, card bend) are the demo film's, imported from
scripts/make_demo_media.py, so that the benchmark and the demo show the same world. Everything here works in grey
(the Y plane the kiosk decodes), as float32 until the camera quantises. A change in make_demo_media.py's drawing
changes these frames: the runner prints a fingerprint of the set so that figures are only compared on one set.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import segno

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import make_demo_media as demo

Arr = npt.NDArray[Any]
W, H = demo.W, demo.H
MOD = demo.MOD  # canvas pixels per module
FOCAL = 560.0  # pixels: a 640-wide camera with a 60 degree field of view (Pi camera module v2: 62)


@dataclass
class Prop:
    """A flat object in its own plane (canvas pixels): grey surface, alpha, emission, glare, symbol geometry."""

    grey: Arr
    alpha: Arr
    glow: Arr  # 1 where the surface emits light (phone screen)
    centre: tuple[float, float]  # canvas point of the symbol's centre
    modules: int  # symbol side in modules, quiet zone excluded
    glare: Arr = field(default_factory=lambda: np.zeros((1, 1), np.float32))  # added light, 1 = saturating

    def symbol_quad(self, quiet: bool) -> Arr:
        """The symbol's corners in canvas pixels (with its 4-module quiet zone if `quiet`)."""
        half = (self.modules / 2 + (4 if quiet else 0)) * MOD
        cx, cy = self.centre
        return np.array(
            [[cx - half, cy - half], [cx + half, cy - half], [cx + half, cy + half], [cx - half, cy + half]]
        )


@dataclass(frozen=True)
class Pose:
    """Where the symbol is: centre in the frame, in-plane roll, out-of-plane tilt about an in-plane axis, size."""

    cx: float
    cy: float
    roll: float  # degrees
    tilt: float  # degrees
    axis: float  # degrees: direction of the tilt axis in the object's plane
    side: float  # symbol side (quiet zone excluded) in frame pixels, seen face on


def qr_matrix(text: str, error: str) -> Arr:
    """1 = light, 0 = dark, 4-module quiet zone, MOD canvas pixels per module; UTF-8 bytes without ECI."""
    qr = segno.make_qr(text, error=error, encoding="utf-8", boost_error=False)
    dark = np.pad(np.array(qr.matrix, dtype=np.float32), 4)
    return cv2.resize(1.0 - dark, None, fx=MOD, fy=MOD, interpolation=cv2.INTER_NEAREST)


def grey_of(bgr: Arr) -> Arr:
    return cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2GRAY)


def phone(qr: Arr, style: str, name: str) -> Prop:
    """A phone in a hand showing an app's QR screen (the demo's PC-Covid / VNeID screens)."""
    scr, qcx, qcy = demo.phone_screen(style, qr, name)
    body, glow, screen = demo.phone_body(scr)  # the demo's phone without its camera dot
    cv = demo.held(body, int(body.shape[1] * 0.12), (screen[0] + qcx, screen[1] + qcy), glow, screen)
    return Prop(grey_of(cv.bgr), cv.alpha, cv.glow, cv.anchor, _modules(qr))


def card(qr: Arr, cccd_fields: str, shadow: float, bend: float, rng: np.random.Generator) -> Prop:
    """A chip CCCD held in a hand: the demo's card face, bent by `bend`, shaded by `shadow`, with print grain."""
    show = demo.Show("", cccd_fields, "cccd", 0.0, shadow=shadow, crumple=bend)
    cv = demo.card_canvas(show, qr, rng)
    return _printed(Prop(grey_of(cv.bgr), cv.alpha, cv.glow, cv.anchor, _modules(qr)), rng)


def slip(qr: Arr, rng: np.random.Generator) -> Prop:
    """A printed slip (a pass or certificate printed on paper) held in a hand."""
    cv = demo.slip_canvas(qr)
    return _printed(Prop(grey_of(cv.bgr), cv.alpha, cv.glow, cv.anchor, _modules(qr)), rng)


def _modules(qr: Arr) -> int:
    return int(qr.shape[0]) // MOD - 8


def _printed(prop: Prop, rng: np.random.Generator) -> Prop:
    """Paper grain and uneven toner, at about a third of a module."""
    h, w = prop.grey.shape
    fine = rng.normal(0, 1, (h // 2 + 1, w // 2 + 1)).astype(np.float32)
    grain: Arr = cv2.resize(fine, (w, h), interpolation=cv2.INTER_LINEAR)[:h, :w]
    blotch = cv2.resize(rng.normal(0, 1, (8, 8)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    prop.grey = prop.grey * (1 + 0.035 * grain + 0.03 * blotch)
    return prop


def add_glare(prop: Prop, core: float, sheen: float, rng: np.random.Generator) -> float:
    """Screen glare over the symbol: a saturated elliptical core covering `core` of the symbol's area, kept off
    the three finder patterns, and a soft sheen of peak `sheen` (fraction of full scale). Returns the fraction of
    the symbol's area actually saturated."""
    h, w = prop.grey.shape
    n, (cx, cy) = prop.modules, prop.centre
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    glare = np.zeros((h, w), np.float32)
    ang = rng.uniform(0, np.pi)
    ca, sa = np.cos(ang), np.sin(ang)
    sx, sy = cx + rng.uniform(-0.5, 0.5) * n * MOD, cy + rng.uniform(-0.5, 0.5) * n * MOD
    su, sv = (xx - sx) * ca + (yy - sy) * sa, -(xx - sx) * sa + (yy - sy) * ca
    glare += sheen * np.exp(-((su / (0.9 * n * MOD)) ** 2 + (sv / (0.35 * n * MOD)) ** 2))
    covered = 0.0
    if core > 0:
        covered, blob = _glare_core(prop, core, rng, xx, yy)
        glare = np.maximum(glare, blob)
    prop.glare = glare * prop.glow
    return covered


def _glare_core(prop: Prop, core: float, rng: np.random.Generator, xx: Arr, yy: Arr) -> tuple[float, Arr]:
    n, (cx, cy) = prop.modules, prop.centre
    area = core * (n * MOD) ** 2
    ratio, ang = rng.uniform(1.4, 2.6), rng.uniform(0, np.pi)
    a = float(np.sqrt(area * ratio / np.pi))
    b = a / ratio
    finders = [np.array([fx, fy]) * (n / 2 - 3.5) * MOD for fx, fy in ((-1, -1), (1, -1), (-1, 1))]
    for _ in range(200):  # a centre whose ellipse misses the finder patterns and the format information beside them
        u, v = rng.uniform(-0.45, 0.45, 2) * n * MOD
        if not any(_ellipse_hits_square((u, v), a, b, ang, f, 5.5 * MOD) for f in finders):
            break
    ca, sa = np.cos(ang), np.sin(ang)
    du, dv = (xx - cx - u) * ca + (yy - cy - v) * sa, -(xx - cx - u) * sa + (yy - cy - v) * ca
    r2 = (du / a) ** 2 + (dv / b) ** 2
    blob = np.clip((1.0 - r2) * 6.0, 0.0, 1.0) * 1.35  # flat saturated top, a soft rim
    half = n * MOD / 2
    inside = (np.abs(xx - cx) < half) & (np.abs(yy - cy) < half)
    covered = float(((blob >= 1.0) & inside).sum()) / float(inside.sum())
    return covered, blob.astype(np.float32)


def _ellipse_hits_square(c: tuple[float, float], a: float, b: float, ang: float, square: Arr, half: float) -> bool:
    """Whether the ellipse (centre c, half-axes a and b, angle) reaches the square of side 2 * half at `square`."""
    t = np.linspace(0, 2 * np.pi, 72)
    px = c[0] + a * np.cos(t) * np.cos(ang) - b * np.sin(t) * np.sin(ang)
    py = c[1] + a * np.cos(t) * np.sin(ang) + b * np.sin(t) * np.cos(ang)
    rim_in = (np.abs(px - square[0]) < half) & (np.abs(py - square[1]) < half)
    dx, dy = square[0] - c[0], square[1] - c[1]
    du, dv = dx * np.cos(ang) + dy * np.sin(ang), -dx * np.sin(ang) + dy * np.cos(ang)
    return bool(rim_in.any() or (du / a) ** 2 + (dv / b) ** 2 < 1)


def homography(prop: Prop, pose: Pose) -> Arr:
    """Canvas -> frame: scale to `pose.side`, tilt about the axis, roll, pinhole projection at FOCAL."""
    k = pose.side / (prop.modules * MOD)
    src = prop.symbol_quad(quiet=False).astype(np.float32)
    pts = np.c_[(src - np.array(prop.centre)) * k, np.zeros(4)]
    ax, t, r = np.radians(pose.axis), np.radians(pose.tilt), np.radians(pose.roll)
    u = np.array([np.cos(ax), np.sin(ax), 0.0])
    cross = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    tilt = np.eye(3) * np.cos(t) + np.sin(t) * cross + (1 - np.cos(t)) * np.outer(u, u)  # Rodrigues
    roll = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    q = pts @ (roll @ tilt).T
    dst = FOCAL * q[:, :2] / (FOCAL + q[:, 2:3]) + (pose.cx, pose.cy)
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def project(hom: Arr, points: Arr) -> Arr:
    return cv2.perspectiveTransform(points.reshape(-1, 1, 2).astype(np.float64), hom).reshape(-1, 2)


def module_px(prop: Prop, hom: Arr) -> float:
    """The smallest module pitch in the frame (pixels), over the symbol's corners and both directions."""
    quad = prop.symbol_quad(quiet=False)
    pitches = []
    for x, y in quad:
        p = project(hom, np.array([[x, y], [x + MOD, y], [x, y + MOD]]))
        pitches += [float(np.hypot(*(p[1] - p[0]))), float(np.hypot(*(p[2] - p[0])))]
    return min(pitches)


def in_frame(prop: Prop, hom: Arr, quiet: bool = True) -> bool:
    """The whole symbol (with its quiet zone) lies inside the frame."""
    p = project(hom, prop.symbol_quad(quiet))
    return bool((p[:, 0] >= 0).all() and (p[:, 0] <= W - 1).all() and (p[:, 1] >= 0).all() and (p[:, 1] <= H - 1).all())


def line_kernel(length: float, angle: float) -> Arr | None:
    """Linear motion blur of `length` pixels along `angle` (degrees)."""
    if length < 1.2:
        return None
    n = int(np.ceil(length)) | 1
    c, d = n / 2, np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))]) * length / 2
    ker = np.zeros((n * 4, n * 4), np.float32)  # drawn at 4x for sub-pixel ends, then reduced
    p0, p1 = ((c - d) * 4).astype(int), ((c + d) * 4).astype(int)
    cv2.line(ker, tuple(int(v) for v in p0), tuple(int(v) for v in p1), 1.0, 4, cv2.LINE_AA)
    small: Arr = cv2.resize(ker, (n, n), interpolation=cv2.INTER_AREA)
    out: Arr = small / small.sum()
    return out


def disk_kernel(radius: float) -> Arr | None:
    """Defocus: a uniform disk (pillbox) of `radius` pixels, anti-aliased."""
    if radius < 0.5:
        return None
    n = int(np.ceil(radius)) * 2 + 3
    yy, xx = (np.mgrid[0 : n * 4, 0 : n * 4].astype(np.float32) + 0.5) / 4 - n / 2
    ker = cv2.resize((np.hypot(xx, yy) <= radius).astype(np.float32), (n, n), interpolation=cv2.INTER_AREA)
    out: Arr = ker / ker.sum()
    return out


@dataclass(frozen=True)
class Camera:
    """The faults of one frame: optics, exposure, sensor, encoder; and the light on the object."""

    motion: float = 0.0  # linear blur length, pixels
    motion_angle: float = 0.0  # degrees
    defocus: float = 0.0  # disk radius, pixels
    noise: float = 1.0  # sensor noise, grey levels (standard deviation at mid grey)
    jpeg: int = 0  # recompression quality, 0 = none
    contrast: float = 1.0  # gain applied to the scene's range (low contrast, under- or over-exposure)
    offset: float = 0.0  # grey level added after the gain (haze, lifted blacks)
    screen: float = 1.0  # screen brightness relative to a white page in the room's light
    moire: float = 0.0  # amplitude of the moire beat between the screen's pixel grid and the sensor's
    shadow: float = 0.0  # depth of a soft shadow edge across the object (uneven light)
    seed: int = 0  # the pattern's phase, the shadow's edge and the sensor noise


def background(rng: np.random.Generator) -> tuple[Arr, Arr]:
    """The demo film's gate scene in grey, mirrored half the time, and its lighting field."""
    bgr, light = demo.background(rng)
    grey = grey_of(bgr)
    if rng.random() < 0.5:
        grey, light = grey[:, ::-1], light[:, ::-1]
    return np.ascontiguousarray(grey), np.ascontiguousarray(light[..., 0] if light.ndim == 3 else light)


def prepared(prop: Prop, side: float) -> Arr:
    """The prop's planes (premultiplied grey, alpha, glow, glare), low-passed for scaling to `side` pixels."""
    k = side / (prop.modules * MOD)
    glare = prop.glare if prop.glare.shape == prop.alpha.shape else np.zeros_like(prop.alpha)
    stack = np.dstack([prop.grey * prop.alpha, prop.alpha, prop.glow, glare]).astype(np.float32)
    return cv2.GaussianBlur(stack, (0, 0), 0.45 / k)


def shoot(scene: tuple[Arr, Arr], layers: list[tuple[Arr, Arr]], cam: Camera) -> Arr:
    """One grey uint8 frame: the props' planes warped by their homographies over the scene, through the camera."""
    rng = np.random.default_rng(cam.seed)
    bg, light = scene
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    light = light * _shadow_field(cam.shadow, xx, yy, rng)
    img = bg * light
    glare = np.zeros((H, W), np.float32)
    for stack, hom in layers:
        out = cv2.warpPerspective(stack, hom, (W, H), flags=cv2.INTER_LINEAR)
        for ker in (line_kernel(cam.motion, cam.motion_angle), disk_kernel(cam.defocus)):
            if ker is not None:
                out = cv2.filter2D(out, -1, ker, borderType=cv2.BORDER_CONSTANT)
        pm, a, g, gl = (out[..., i] for i in range(4))
        lit = light * (1 - g) + cam.screen * g * _moire(cam.moire, xx, yy, rng)
        img = img * (1 - a) + pm * lit + cv2.GaussianBlur(g, (0, 0), 6) * 20 * cam.screen  # bloom
        glare = np.maximum(glare, gl)
    img = cv2.GaussianBlur(img, (0, 0), 0.6) * cam.contrast + cam.offset  # cheap lens, exposure
    # the sheen is scene light like any other; the core, a lamp's specular image, saturates whatever the exposure
    img = img + 255.0 * (glare * cam.contrast + 2.0 * np.clip((glare - 1.0) / 0.35, 0.0, 1.0))
    sigma = cam.noise * np.sqrt(0.25 + 0.75 * np.clip(img, 0, 255) / 128.0)  # read noise plus shot noise
    img = img + rng.standard_normal((H, W), np.float32) * sigma
    frame = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    if cam.jpeg:
        _, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(cam.jpeg)])
        frame = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    final: Arr = frame
    return final


def _shadow_field(depth: float, xx: Arr, yy: Arr, rng: np.random.Generator) -> Arr:
    """A soft shadow edge across the view (the holder's head or hand between the lamp and the object)."""
    ang, soft = rng.uniform(0, 2 * np.pi), rng.uniform(15, 110) * max(0.2, 1.0 - depth)
    c = rng.uniform(-80, 80)
    d = (xx - W / 2) * np.cos(ang) + (yy - H / 2) * np.sin(ang) - c
    out: Arr = 1.0 - depth / (1.0 + np.exp(-d / soft))
    return out


def _moire(amount: float, xx: Arr, yy: Arr, rng: np.random.Generator) -> Arr:
    """Beat pattern of the screen's pixel grid against the sensor's: two slow oblique waves and a fine grid."""
    if amount <= 0:
        return np.ones_like(xx)
    t1, t2 = rng.uniform(0, np.pi, 2)
    p1, p2 = rng.uniform(5, 14, 2)
    wave = np.sin(2 * np.pi * (xx * np.cos(t1) + yy * np.sin(t1)) / p1) * np.sin(
        2 * np.pi * (xx * np.cos(t2) + yy * np.sin(t2)) / p2
    )
    grid = np.sin(np.pi * xx / 1.5) * np.sin(np.pi * yy / 1.5)
    out: Arr = 1.0 + amount * (0.8 * wave + 0.2 * grid)
    return out


def bare_prop(kind: str, rng: np.random.Generator) -> Prop | None:
    """Something in view that is not a QR code: a hand, a card's back, a phone showing text, a printed notice,
    clutter (checks, stripes, dots), or a logo with three finder-like squares (bait for detectors)."""
    if kind == "bare":
        return None
    if kind == "hand":
        cv = demo.passer_canvas("hand")
        return Prop(grey_of(cv.bgr), cv.alpha, cv.glow, (200.0, 200.0), 30)
    w, h = (510, 320) if kind == "card-back" else (300, 420)
    face = np.full((h, w, 3), 225 if kind != "phone-text" else 245, np.float32)
    _decorate(face, kind, rng)
    glow = np.ones((h, w), np.float32) if kind == "phone-text" else None
    cv = demo.held(face, 18 if kind in ("card-back", "phone-text") else 2, (w / 2, h / 2), glow, None)
    if kind == "phone-text":
        cv.glow[cv.alpha < 0.99] = 0
    return Prop(grey_of(cv.bgr), cv.alpha, cv.glow, cv.anchor, max(w, h) // (2 * MOD))


def _decorate(face: Arr, kind: str, rng: np.random.Generator) -> None:
    {"card-back": _card_back, "phone-text": _text, "notice": _text, "clutter": _clutter, "finders": _finders}[kind](
        face, rng
    )


INK = (40.0, 40.0, 45.0)


def _card_back(face: Arr, rng: np.random.Generator) -> None:
    h, w = face.shape[:2]
    cv2.rectangle(face, (30, 40), (110, 110), (150, 175, 200), -1)  # chip
    for i in range(3):  # machine-readable zone
        line = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<"), 30))
        demo.put(face, line, 20, h - 90 + 28 * i, 20, INK, fit=w - 40)
    for i in range(2):  # fingerprints
        cv2.ellipse(face, (w - 200 + 100 * i, 90), (35, 48), 0, 0, 360, (120, 120, 120), 2)


def _text(face: Arr, rng: np.random.Generator) -> None:
    w = face.shape[1]
    for i in range(12):
        words = " ".join("".join(rng.choice(list("abcdeghiklmnopqrstuvy"), int(rng.integers(2, 7)))) for _ in range(5))
        demo.put(face, words, 15, 30 + 32 * i, 16, INK, bold=i == 0, fit=w - 30)


def _clutter(face: Arr, rng: np.random.Generator) -> None:
    """Checks (a keyboard, a chessboard) and stripes (a 1-D barcode)."""
    h, w = face.shape[:2]
    for _ in range(int(rng.integers(4, 9))):
        x, y, s = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60)), int(rng.integers(4, 12))
        if rng.random() < 0.5:
            cells = [(j, k) for j in range(0, 60, s) for k in range(0, 60, s) if (j // s + k // s) % 2]
            for j, k in cells:
                cv2.rectangle(face, (x + j, y + k), (x + j + s - 1, y + k + s - 1), INK, -1)
        else:
            bars = [j for j in range(0, 60, 2) if rng.random() < 0.5]
            for j in bars:
                cv2.rectangle(face, (x + j, y), (x + j + int(rng.integers(1, 4)), y + 50), INK, -1)


def _finders(face: Arr, rng: np.random.Generator) -> None:
    """A logo: three concentric squares at three corners of a square, a picture inside (bait for detectors)."""
    m = 12
    for fx, fy in ((20, 60), (20 + 18 * m, 60), (20, 60 + 18 * m)):
        cv2.rectangle(face, (fx, fy), (fx + 7 * m - 1, fy + 7 * m - 1), INK, -1)
        cv2.rectangle(face, (fx + m, fy + m), (fx + 6 * m - 1, fy + 6 * m - 1), (225, 225, 225), -1)
        cv2.rectangle(face, (fx + 2 * m, fy + 2 * m), (fx + 5 * m - 1, fy + 5 * m - 1), INK, -1)
    cv2.circle(face, (20 + 15 * m, 60 + 15 * m), 4 * m, (90, 90, 160), -1, cv2.LINE_AA)
