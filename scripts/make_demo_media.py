#!/usr/bin/env python3
"""Synthesise kiosk/demo/media/gate.mp4 + manifest.json: fictitious people showing QR codes to a gate camera.

Deterministic (fixed seed), no external assets. Ends with a zxing-cpp self-check of the written video (exit 1
if too few presentations are readable). Every person, number and address in here is invented.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import segno
import zxingcpp

Arr = npt.NDArray[Any]
Color = tuple[float, ...]
Layer = tuple[Arr, Arr, Arr]  # warped premultiplied colour, alpha, glow
W, H, FPS, SEED = 640, 480, 15, 20210915
MOD = 6  # canvas pixels per QR module before the object is warped into the frame
ROOT = Path(__file__).resolve().parent.parent
FONT, BOLD = cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX
SKIN: Color = (120, 150, 200)


def fields(*parts: str) -> str:
    """CCCD: ID12|oldID9|name|DDMMYYYY|sex|address|issued; PC-Covid: doc|NAME|YYYY-MM-DD|0/1|QID|<ext<."""
    return "|".join(parts)


def ascii_upper(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).upper()


ADDR = {
    "P01": "123 Lê Lợi, Phường Bến Thành, Quận 1, TP. Hồ Chí Minh",
    "P02": "Số 18 ngõ 42 Thịnh Hào 1, Phường Hàng Bột, Quận Đống Đa, Hà Nội",
    "P04": "Thôn 3, Xã Nhân Cơ, Huyện Đắk R'Lấp, Tỉnh Đắk Nông",
    "P07": "Số 7 Lạch Tray, Phường Lạch Tray, Quận Ngô Quyền, TP. Hải Phòng",
    "P09": "Khu phố 2, Phường Phú Hòa, TP. Thủ Dầu Một, Tỉnh Bình Dương",
}
HA = fields("079196004821", "025917345", "Nguyễn Thị Thu Hà", "15061996", "Nữ", ADDR["P01"], "10082021")
NAM = fields("001088012367", "", "Trần Văn Nam", "04091988", "Nam", ADDR["P02"], "21042021")
ANH = fields("067179003456", "245123789", "Phạm Thị Ngọc Ánh", "02121979", "Nữ", ADDR["P04"], "28062021")
HUY = fields("031201009988", "", "Bùi Quang Huy", "19072001", "Nam", ADDR["P07"], "05052021")
THANG = fields("074083001122", "280765432", "Ngô Đức Thắng", "30011983", "Nam", ADDR["P09"], "14072021")
KHOI = fields("048203007712", "LE HOANG MINH KHOI", "2003-03-22", "1", "Q7K2M9XR4TB8N1PZ", "<1<0905318742<")
TUNG = fields("0790920*****", "VO THANH TUNG", "19**-**-**", "1", "QH5V8C2L0YD3W6EA", "<1<0938****17<")
MAI = fields("186123456", "DANG THI MAI", "1965-11-02", "0", "QM3R7T1XK9P2D4BW", "<0<0977204315<")
LAN = fields("092199004455", "HOANG THI LAN ANH", "1999-08-09", "0", "QZ4N6W8J2F5A9C1R", "<0<0869157203<")
HA_PC = fields("079196004821", "NGUYEN THI THU HA", "1996-06-15", "0", "QB9E1G7U3S6H2L8K", "<0<0903456128<")
MENU = "https://example.vn/menu"


@dataclass(frozen=True)
class Show:
    """One presentation to the camera and how badly it is filmed."""

    person: str
    payload: str
    style: str  # pccovid | vneid (phone apps) | cccd (ID card) | slip (printed menu)
    code_px: float  # QR side without quiet zone, in frame pixels, while held
    gap: int = 15  # background-only frames before it
    hold: int = 18
    tilt: float = 18.0  # max out-of-plane tilt, degrees
    glare: float = 0.0
    crumple: float = 0.0
    shadow: float = 0.0
    defocus: float = 0.0
    shake: float = 1.0
    event: str = ""  # "hand" or "shadow" passing through the gap before it

    @property
    def medium(self) -> str:
        return "phone" if self.style in ("pccovid", "vneid") else "paper"


SHOWS = [
    Show("P02", NAM, "cccd", 165, gap=18),
    Show("P03", KHOI, "pccovid", 130, event="hand"),
    Show("P01", HA, "cccd", 175, tilt=22, defocus=0.9),
    Show("P05", TUNG, "vneid", 125, glare=0.35),
    Show("P05", TUNG, "vneid", 120, gap=3, hold=16),  # shown again at once: exercises the cooldown
    Show("P04", ANH, "cccd", 180, crumple=1.0, event="shadow"),
    Show("P06", MAI, "pccovid", 140, tilt=28),
    Show("P10", MENU, "slip", 90, shake=1.5),
    Show("P08", LAN, "pccovid", 135, glare=1.1, event="hand"),  # deliberately hard: strong glare
    Show("P07", HUY, "cccd", 170, shadow=0.55),
    Show("P01", HA_PC, "pccovid", 125, defocus=0.8),
    Show("P09", THANG, "cccd", 165, defocus=1.95, shake=2.0, event="shadow"),  # deliberately hard: defocus
    Show("P02", NAM, "cccd", 160, tilt=25, crumple=0.5),
    Show("P03", KHOI, "vneid", 115, glare=0.5),
]


@dataclass
class Canvas:
    """A flat object (phone, card, slip, hand) drawn in its own pixel space."""

    bgr: Arr  # float32 colour, not premultiplied
    alpha: Arr
    glow: Arr  # 1 where the surface emits light (phone screen)
    anchor: tuple[float, float]  # canvas point (QR centre) that follows the track
    screen: tuple[int, int, int, int] = (0, 0, 0, 0)  # x0, y0, x1, y1 of the area glare can hit


def blank(w: int, h: int) -> tuple[Arr, Arr]:
    return np.zeros((h, w, 3), np.float32), np.zeros((h, w), np.float32)


def pt(x: float, y: float) -> tuple[int, int]:
    return int(x), int(y)


def qr_modules(text: str) -> Arr:
    """QR (error level M, UTF-8 bytes) with a 4-module quiet zone; 1 = light, MOD pixels per module."""
    qr = segno.make_qr(text, error="m", encoding="utf-8", boost_error=False)
    dark = np.pad(np.array(qr.matrix, dtype=np.float32), 4)
    return cv2.resize(1.0 - dark, None, fx=MOD, fy=MOD, interpolation=cv2.INTER_NEAREST)


def paste_qr(img: Arr, qr: Arr, x: int, y: int, ink: float, paper: Color | None = None) -> None:
    q = qr.shape[0]
    base = img[y : y + q, x : x + q] if paper is None else np.array(paper, np.float32)
    img[y : y + q, x : x + q] = base * qr[..., None] + ink * (1.0 - qr[..., None])


def rounded(img: Arr, x0: int, y0: int, x1: int, y1: int, r: int, color: Color) -> None:
    cv2.rectangle(img, (x0 + r, y0), (x1 - r, y1), color, -1)
    cv2.rectangle(img, (x0, y0 + r), (x1, y1 - r), color, -1)
    for cx, cy in ((x0 + r, y0 + r), (x1 - r, y0 + r), (x0 + r, y1 - r), (x1 - r, y1 - r)):
        cv2.circle(img, (cx, cy), r, color, -1, cv2.LINE_AA)


def put(img: Arr, text: str, x: float, y: float, hgt: float, color: Color, bold: bool = False,
        fit: float = 1e9) -> None:  # fmt: skip
    """Anti-aliased ASCII text on a float image (OpenCV 5 putText wants 8-bit), shrunk to width `fit`."""
    font, scale = BOLD if bold else FONT, hgt / 22.0
    scale *= min(1.0, fit / cv2.getTextSize(text, font, scale, 1)[0][0])
    mask = np.zeros(img.shape[:2], np.uint8)
    cv2.putText(mask, text, pt(x, y), font, scale, 255, max(1, int(scale * 1.6)), cv2.LINE_AA)
    m = mask.astype(np.float32)[..., None] / 255.0
    img[:] = img * (1 - m) + np.array(color, np.float32)[: img.shape[2]] * m


def hand(bgr: Arr, alpha: Arr, cx: float, cy: float, size: float, angle: float) -> None:
    """Palm with two finger blobs (skin tone), drawn into the colour and alpha planes."""
    for ax, ay, dx, dy in ((0.9, 0.55, 0, 0), (0.3, 0.14, -0.6, -0.35), (0.28, 0.13, 0.55, -0.4)):
        c, axes = pt(cx + dx * size, cy + dy * size), pt(ax * size, ay * size)
        cv2.ellipse(bgr, c, axes, angle, 0, 360, SKIN, -1, cv2.LINE_AA)
        cv2.ellipse(alpha, c, axes, angle, 0, 360, 1.0, -1, cv2.LINE_AA)


def phone_screen(style: str, qr: Arr, name: str) -> tuple[Arr, int, int]:
    """App screen: status bar, coloured header, QR in a green 'vaccinated' frame, caption, nav bar."""
    q = qr.shape[0]
    sw = int(q / 0.8)
    sh, hh = int(sw * 2.05), int(sw * 0.205)
    scr = np.full((sh, sw, 3), 248, np.float32)
    scr[:hh] = (205, 120, 25) if style == "pccovid" else (40, 35, 185)
    scr[: hh // 3] *= 0.7
    white: Color = (255, 255, 255)
    put(scr, "9:41", sw * 0.05, hh * 0.28, hh * 0.22, white)
    put(scr, "PC-COVID" if style == "pccovid" else "VNeID", sw * 0.3, hh * 0.82, hh * 0.38, white, True)
    put(scr, "Ma QR ca nhan", sw * 0.28, hh * 1.55, hh * 0.26, (90, 90, 90))
    qx, qy, m = (sw - q) // 2, int(hh * 1.9), MOD * 2
    cv2.rectangle(scr, (qx - m, qy - m), (qx + q + m, qy + q + m), (70, 175, 40), m)
    paste_qr(scr, qr, qx, qy, 25.0)
    put(scr, name, sw * 0.08, qy + q + hh * 0.8, hh * 0.3, (40, 40, 40), True, sw * 0.84)
    put(scr, "Da tiem 2 mui vac xin", sw * 0.16, qy + q + hh * 1.4, hh * 0.24, (60, 150, 30))
    for i in range(4):
        cv2.circle(scr, pt(sw * (0.15 + 0.23 * i), sh - hh * 0.45), int(hh * 0.15), (160, 160, 160), -1)
    return scr, qx + q // 2, qy + q // 2


def held(face: Arr, radius: int, anchor: tuple[float, float], glow: Arr | None = None,
         screen: tuple[int, int, int, int] | None = None, thumb_left: bool = False) -> Canvas:  # fmt: skip
    """Put a flat object in a hand: palm behind its lower edge, thumb over a side edge."""
    fh, fw = face.shape[:2]
    pad, size = int(max(fh, fw) * 0.3), min(fh, fw) * 0.5
    bgr, alpha = blank(fw + 2 * pad, fh + 2 * pad)
    hand(bgr, alpha, pad + fw * (0.3 if thumb_left else 0.55), pad + fh * 0.97, size, 10)
    shape = np.zeros((fh, fw), np.float32)
    rounded(shape, 0, 0, fw - 1, fh - 1, radius, (1.0,))
    roi = np.s_[pad : pad + fh, pad : pad + fw]
    bgr[roi] = face * shape[..., None] + bgr[roi] * (1 - shape[..., None])
    alpha[roi] = np.maximum(alpha[roi], shape)
    hand(bgr, alpha, pad + fw * (-0.02 if thumb_left else 1.02), pad + fh * 0.8, size * 0.45, 60)
    lit = np.zeros_like(alpha)
    lit[roi] = 0.0 if glow is None else glow
    x0, y0, x1, y1 = (v + pad for v in screen or (0, 0, fw, fh))
    return Canvas(bgr, alpha, lit, (pad + anchor[0], pad + anchor[1]), (x0, y0, x1, y1))


def phone_body(scr: Arr) -> tuple[Arr, Arr, tuple[int, int, int, int]]:
    """A phone's dark body around its lit screen `scr`: the body, the screen's glow, the screen's box on it."""
    sh, sw = scr.shape[:2]
    b = int(sw * 0.05)
    body = np.empty((sh + 3 * b, sw + 2 * b, 3), np.float32)
    body[:] = (30, 29, 27)
    x0, y0 = b, int(1.5 * b)
    body[y0 : y0 + sh, x0 : x0 + sw] = scr
    glow = np.zeros(body.shape[:2], np.float32)
    glow[y0 : y0 + sh, x0 : x0 + sw] = 1.0
    return body, glow, (x0, y0, x0 + sw, y0 + sh)


def phone_canvas(show: Show, qr: Arr) -> Canvas:
    scr, qcx, qcy = phone_screen(show.style, qr, show.payload.split("|")[1])
    body, glow, (x0, y0, x1, y1) = phone_body(scr)
    cv2.circle(body, pt((x0 + x1) / 2, 0.75 * x0), max(2, x0 // 4), (60, 60, 60), -1)  # front camera
    return held(body, int(body.shape[1] * 0.12), (x0 + qcx, y0 + qcy), glow, (x0, y0, x1, y1))


def card_face(show: Show, qr: Arr) -> tuple[Arr, int, int]:
    """Front of a chip CCCD: emblem, titles, photo, fields, and the QR in the top-right corner."""
    q = qr.shape[0]
    ch = int(q / 0.6)
    cw = int(ch * 1.585)
    card = np.empty((ch, cw, 3), np.float32)
    card[:] = (200, 224, 236)
    xs = np.arange(cw)
    for k in range(0, ch, max(4, ch // 40)):  # faint guilloche background print
        ys = k + 6 * np.sin(xs / (cw / 9) + k * 0.3)
        cv2.polylines(card, [np.c_[xs, ys].astype(np.int32)], False, (185, 214, 230), 1, cv2.LINE_AA)
    qx, qy = cw - q - int(cw * 0.03), int(ch * 0.04)
    paste_qr(card, qr, qx, qy, 35.0, paper=(205, 228, 238))
    ex, ey, r = cw * 0.09, ch * 0.14, ch * 0.07
    cv2.circle(card, pt(ex, ey), int(r), (40, 40, 200), -1, cv2.LINE_AA)
    ang = np.linspace(0, 2 * np.pi, 10, endpoint=False)
    rad = np.where(np.arange(10) % 2 == 0, 0.8, 0.32) * r
    star = np.c_[ex + np.sin(ang) * rad, ey - np.cos(ang) * rad].astype(np.int32)
    cv2.fillPoly(card, [star], (40, 210, 240), cv2.LINE_AA)
    t, fit, ink = ch * 0.042, qx - cw * 0.19, (50, 50, 60)
    put(card, "CONG HOA XA HOI CHU NGHIA VIET NAM", cw * 0.17, ch * 0.1, t * 0.8, ink, True, fit)
    put(card, "Doc lap - Tu do - Hanh phuc", cw * 0.22, ch * 0.16, t * 0.75, ink, fit=fit)
    put(card, "CAN CUOC CONG DAN", cw * 0.19, ch * 0.27, t * 1.3, (40, 40, 190), True, fit)
    put(card, "Citizen Identity Card", cw * 0.25, ch * 0.34, t * 0.75, ink, fit=fit)
    cv2.rectangle(card, pt(cw * 0.04, ch * 0.42), pt(cw * 0.24, ch * 0.88), (215, 200, 185), -1)  # photo
    cv2.circle(card, pt(cw * 0.14, ch * 0.58), int(ch * 0.1), (120, 125, 135), -1, cv2.LINE_AA)
    cv2.ellipse(card, pt(cw * 0.14, ch * 0.86), pt(cw * 0.08, ch * 0.14), 0, 180, 360, (90, 95, 105), -1)
    f = show.payload.split("|")
    lines = [
        "So / No.: " + f[0], "Ho va ten / Full name:", ascii_upper(f[2]),
        f"Ngay sinh / Date of birth: {f[3][:2]}/{f[3][2:4]}/{f[3][4:]}",
        f"Gioi tinh / Sex: {ascii_upper(f[4]).title()}   Quoc tich: Viet Nam",
        "Noi thuong tru / Place of residence:", ascii_upper(f[5])[:46],
    ]  # fmt: skip
    for i, text in enumerate(lines):  # the first three sit left of the QR, the rest below it
        y = ch * (0.46 + 0.075 * i) if i < 3 else qy + q + ch * 0.075 * (i - 2)
        put(card, text, cw * 0.27, y, t, (40, 40, 50), i in (0, 2), qx - cw * 0.28 if i < 3 else cw * 0.68)
    cv2.rectangle(card, (0, 0), (cw - 1, ch - 1), (170, 190, 200), 2)
    if show.shadow:  # the holder's head shades part of the card
        yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
        card *= (1.0 - show.shadow / (1.0 + np.exp(-((xx * 0.6 + yy) - ch * 0.75) / (ch * 0.08))))[..., None]
    return card, qx + q // 2, qy + q // 2


def card_canvas(show: Show, qr: Arr, rng: np.random.Generator) -> Canvas:
    card, qcx, qcy = card_face(show, qr)
    cv = held(card, int(card.shape[0] * 0.05), (qcx, qcy), thumb_left=True)
    return crumple(cv, show.crumple, rng) if show.crumple else cv


def slip_canvas(qr: Arr) -> Canvas:
    """A printed table-tent menu slip with a URL QR."""
    q = qr.shape[0]
    sw, sh = int(q * 1.25), int(q * 1.75)
    paper = np.full((sh, sw, 3), (238, 242, 243), np.float32)
    put(paper, "THUC DON / MENU", sw * 0.12, sh * 0.1, sh * 0.05, (30, 60, 150), True)
    qx, qy = (sw - q) // 2, int(sh * 0.15)
    paste_qr(paper, qr, qx, qy, 30.0)
    put(paper, "Quet ma de xem thuc don", sw * 0.1, qy + q + sh * 0.07, sh * 0.035, (60, 60, 60))
    for i in range(3):
        y = qy + q + sh * (0.13 + 0.05 * i)
        cv2.line(paper, pt(sw * 0.12, y), pt(sw * (0.85 - 0.15 * i), y), (150, 150, 150), 2)
    return held(paper, 2, (qx + q / 2, qy + q / 2))


def crumple(cv: Canvas, amount: float, rng: np.random.Generator) -> Canvas:
    """Mild smooth displacement plus matching shading, as if the card had been bent in a pocket."""
    h, w = cv.alpha.shape
    field = [cv2.resize(rng.normal(size=(4, 6)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
             for _ in range(3)]  # fmt: skip
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    amp = amount * MOD * 0.45
    mx, my = xx + amp * field[0], yy + amp * field[1]
    slope = cv2.Sobel(field[0], cv2.CV_32F, 1, 0, ksize=5) * 0.01
    shade = 1.0 + 0.06 * amount * np.clip(field[2] + slope, -2, 2)
    bgr = cv2.remap(cv.bgr * shade[..., None], mx, my, cv2.INTER_LINEAR)
    return Canvas(bgr, cv2.remap(cv.alpha, mx, my, cv2.INTER_LINEAR), cv.glow, cv.anchor, cv.screen)


def passer_canvas(kind: str) -> Canvas:
    """Something crossing the view between presentations: a hand, or a soft shadow."""
    bgr, alpha = blank(400, 400)
    if kind == "hand":
        hand(bgr, alpha, 200, 210, 95, 15)
    else:
        cv2.ellipse(alpha, (200, 220), (150, 170), 0, 0, 360, 0.35, -1)
        alpha = cv2.GaussianBlur(alpha, (0, 0), 40)
    return Canvas(bgr, alpha, np.zeros_like(alpha), (200.0, 200.0))


def make_canvas(show: Show, rng: np.random.Generator) -> tuple[Canvas, float]:
    """The object for a presentation and its canvas-to-frame scale."""
    qr = qr_modules(show.payload)
    if show.style == "cccd":
        cv = card_canvas(show, qr, rng)
    else:
        cv = slip_canvas(qr) if show.style == "slip" else phone_canvas(show, qr)
    k = show.code_px / (qr.shape[0] - 8 * MOD)
    sigma = 0.45 / k  # anti-alias before the down-scaling warp
    cv.bgr, cv.alpha = cv2.GaussianBlur(cv.bgr, (0, 0), sigma), cv2.GaussianBlur(cv.alpha, (0, 0), sigma)
    return cv, k


def track(show: Show, rng: np.random.Generator) -> Arr:
    """Per-frame pose (cx, cy, roll, yaw, pitch, scale): swing in, hold with a drifting hand, swing out."""
    n_in, n_out, t = int(rng.integers(5, 8)), int(rng.integers(4, 7)), show.tilt
    hold = np.array([W / 2 + rng.uniform(-70, 70), H / 2 + rng.uniform(-45, 35), rng.uniform(-20, 20),
                     rng.uniform(-t, t), rng.uniform(-t, t), 1.0])  # fmt: skip

    def away() -> Arr:  # mostly from/to below, sometimes from a side
        angle, dist = np.pi / 2 + rng.uniform(-1.2, 1.2), rng.uniform(520, 640)
        tilt = rng.uniform(-10, 10, 2)
        step = np.array([np.cos(angle) * dist, np.sin(angle) * dist, rng.uniform(-5, 5), *tilt, -0.15])
        off: Arr = hold + step
        return off

    start, end = away(), away()
    ease = np.array([2, 2, 4, 4, 4, 4])  # the hand settles its angle before it stops moving
    poses = [start + (hold - start) * (1 - (1 - (i + 1) / n_in) ** ease) for i in range(n_in)]
    ph = rng.uniform(0, 2 * np.pi, 2)
    for i in range(show.hold):  # hand drift in whole pixels, which mp4v motion compensation codes cheaply
        drift = show.shake * np.array([2.5 * np.sin(i / 4.5 + ph[0]), 2.0 * np.sin(i / 5.5 + ph[1])])
        poses.append(hold + np.array([*np.round(drift), 0, 0, 0, 0]))
    poses += [hold + (end - hold) * ((i + 1) / n_out) ** ease for i in range(n_out)]
    out = np.array(poses)
    out[:, 2] = np.clip(out[:, 2], -25, 25)
    return out


def homography(cv: Canvas, pose: Arr, k: float) -> Arr:
    """Canvas -> frame: scale, 3-D rotation of the flat object, pinhole projection, placement."""
    cx, cy, roll, yaw, pitch, s = pose
    h, w = cv.alpha.shape
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    pts = np.c_[(src - np.array(cv.anchor)) * k * s, np.zeros(4)]
    r, y, p = np.radians([roll, yaw, pitch])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    q = pts @ (rz @ ry @ rx).T
    dst = 800.0 * q[:, :2] / (800.0 + q[:, 2:3]) + (cx, cy)
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def motion_kernel(v: Arr) -> Arr | None:
    """Linear blur along the motion; dim indoor light keeps the shutter open ~90% of the frame time."""
    speed = float(np.hypot(v[0], v[1]))
    length = 0.9 * speed
    if length < 1.2:
        return None
    n = int(np.ceil(length)) | 1
    c, d = n // 2, v[:2] / speed * length / 2
    ker = np.zeros((n, n), np.float32)
    cv2.line(ker, pt(c - d[0] + 0.5, c - d[1] + 0.5), pt(c + d[0] + 0.5, c + d[1] + 0.5), 1.0, 1, cv2.LINE_AA)
    out: Arr = ker / ker.sum()
    return out


def glare(cv: Canvas, strength: float, u: float) -> Arr:
    """Specular reflection on the screen, sweeping to and fro as the phone wobbles (u: 0..1 of the show)."""
    x0, y0, x1, y1 = cv.screen
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    cx = x0 + (x1 - x0) * (0.5 + 0.55 * np.sin(3 * np.pi * u))
    cy = y0 + (y1 - y0) * (0.4 + 0.1 * np.cos(2 * np.pi * u))
    a, b = (x1 - x0) * 0.45, (x1 - x0) * (0.1 + 0.16 * strength)
    ru, rv = (xx - cx) * 0.8 + (yy - cy) * 0.6, -(xx - cx) * 0.6 + (yy - cy) * 0.8
    g = strength * 255 * np.exp(-((ru / a) ** 2 + (rv / b) ** 2)) + strength * 30 * (xx - x0) / (x1 - x0)
    out = cv.bgr.copy()
    out[y0:y1, x0:x1] += g[..., None]
    return out


BG_BOXES = [  # corridor behind the gate, steel post, health-declaration notice, desk, sanitiser bottle
    (390, 30, 570, 340, (70, 74, 80)), (420, 60, 540, 320, (110, 118, 125)),
    (355, 0, 385, 400, (168, 170, 176)), (60, 60, 210, 250, (222, 228, 230)),
    (60, 60, 210, 95, (45, 45, 175)), (0, 390, W, H, (70, 100, 135)), (520, 330, 560, 392, (200, 190, 120)),
    (532, 315, 548, 330, (240, 240, 240)),
]  # fmt: skip


def background(rng: np.random.Generator) -> tuple[Arr, Arr]:
    """Gate scene (wall, notice, corridor, steel post, turnstile arm, desk) and a lighting/vignette field."""
    y = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, W, dtype=np.float32)[None, :, None]
    img = (np.array([150, 165, 172], np.float32) * (1.08 - 0.3 * y) * (0.9 + 0.15 * x)).astype(np.float32)
    for x0, y0, x1, y1, color in BG_BOXES:
        cv2.rectangle(img, (x0, y0), (x1, y1), color, -1)
    cv2.line(img, (362, 0), (362, 400), (215, 215, 220), 2)
    cv2.line(img, (385, 335), (640, 320), (185, 188, 192), 9, cv2.LINE_AA)  # turnstile arm
    put(img, "KHAI BAO Y TE", 70, 85, 14, (255, 255, 255), True)
    for i in range(8):
        cv2.line(img, (72, 115 + 16 * i), (198 - 25 * (i % 3), 115 + 16 * i), (120, 120, 125), 2)
    for _ in range(25):  # wood grain
        yy = int(rng.integers(392, H))
        cv2.line(img, (0, yy), (W, yy + int(rng.integers(-6, 6))), (60, 88, 122), 1, cv2.LINE_AA)
    low = cv2.resize(rng.normal(0, 1, (12, 16)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    img = img * (1 + 0.06 * low[..., None]) + rng.normal(0, 4, (H, W, 1)).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 1.0)
    r2 = ((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.5
    light = (0.72 + 0.4 * np.exp(-((x - 0.4) ** 2 / 0.3 + (y - 0.3) ** 2 / 0.4))) * (1 - 0.38 * r2)
    return img.astype(np.float32), (light / light.max()).astype(np.float32)


class Renderer:
    """Composites objects over the scene, applies the camera's faults and writes frames."""

    def __init__(self, writer: cv2.VideoWriter, rng: np.random.Generator) -> None:
        self.writer, self.rng, self.n = writer, rng, 0
        self.bg, self.light = background(rng)

    def frame(self, layers: list[Layer]) -> int:
        """Write one frame from warped (premultiplied bgr, alpha, glow) layers; return visible object px."""
        gain = 1 + 0.025 * np.sin(self.n / 9.5) + 0.01 * np.sin(self.n / 4.1 + 1)  # exposure drift
        img, visible = self.bg * self.light, 0
        for pm, a, g in layers:
            gain *= 1 - 0.15 * float(g.mean())  # auto exposure reacts to a bright screen
            lit = self.light * (1 - g[..., None]) + 1.12 * g[..., None]  # screens glow, paper is lit
            img = img * (1 - a[..., None]) + pm * lit
            img += cv2.GaussianBlur(g, (0, 0), 6)[..., None] * 25  # bloom around the screen
            visible = max(visible, int((a > 0.5).sum()))
        gain = round(gain * 80) / 80  # auto exposure moves in steps
        img = cv2.GaussianBlur(img * gain, (0, 0), 0.6) * 0.65 + 45  # cheap lens: soft, hazy, washed out
        img += self.rng.standard_normal((H, W, 1), np.float32) * 0.6  # sensor noise left after the ISP
        self.writer.write(np.clip(img, 0, 255).astype(np.uint8))
        self.n += 1
        return visible

    def layer(self, cv: Canvas, bgr: Arr, pose: Arr, prev: Arr, k: float, blur: float) -> Layer:
        stack = np.dstack([bgr * cv.alpha[..., None], cv.alpha, cv.glow])
        out = cv2.warpPerspective(stack, homography(cv, pose, k), (W, H), flags=cv2.INTER_LINEAR)
        ker = motion_kernel(pose - prev)
        if ker is not None:
            out = cv2.filter2D(out, -1, ker)
        if blur > 0.3:  # defocus
            out = cv2.GaussianBlur(out, (0, 0), blur)
        return out[..., :3], out[..., 3], out[..., 4]

    def gap(self, n: int, event: str) -> None:
        """Background-only frames, optionally with a hand or shadow sweeping across."""
        cv = passer_canvas(event)
        a, b = self.rng.uniform(-0.4, 0.4, 2)
        ts = np.linspace(0, 1, n + 1)
        path = [np.array([-200 + 1040 * t, H * (0.5 + a) + 80 * b * t, 30 * b, 0, 0, 1]) for t in ts]
        for i in range(n):
            self.frame([self.layer(cv, cv.bgr, path[i + 1], path[i], 1.0, 0)] if event else [])

    def show(self, show: Show) -> tuple[int, int, int]:
        """Render one presentation; return its first and last visible frame and a mid-hold frame."""
        self.gap(show.gap, show.event)
        cv, k = make_canvas(show, self.rng)
        poses = track(show, self.rng)
        seen, n = [], len(poses)
        for i in range(n):
            u = i / (n - 1)
            bgr = glare(cv, show.glare, u) if show.glare else cv.bgr
            focus = show.defocus * (1 - 0.55 * np.exp(-(((u - 0.55) / 0.08) ** 2)))  # autofocus hunting
            if self.frame([self.layer(cv, bgr, poses[i], poses[max(i - 1, 0)], k, float(focus))]) > 400:
                seen.append(self.n - 1)
        return seen[0], seen[-1], (seen[0] + seen[-1]) // 2


def self_check(video: Path, pres: list[dict[str, Any]], preview: dict[int, Path]) -> bool:
    """Decode every frame of the written video with zxing-cpp and compare with the manifest."""
    cap = cv2.VideoCapture(str(video))
    hits: list[list[str]] = []
    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    while True:
        ok, img = cap.read()
        if not ok:
            break
        grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        found = zxingcpp.read_barcodes(grey, formats=qr_only, text_mode=zxingcpp.TextMode.Plain)
        hits.append([b.text for b in found])
        if len(hits) - 1 in preview:
            cv2.imwrite(str(preview[len(hits) - 1]), img)
    known = {p["payload"] for p in pres}
    stray = sorted({t for texts in hits for t in texts if t not in known})
    readable = 0
    for n, p in enumerate(pres):
        s, e = p["start_frame"], p["end_frame"]
        good = sum(p["payload"] in hits[i] for i in range(s, min(e + 1, len(hits))))
        readable += good >= 3
        print(f"#{n:02d} {p['person']} {p['medium']:<5} frames {s:4d}-{e:4d}: {good:2d} decoded")
    print(f"frames read back: {len(hits)}; readable presentations (>=3 frames): {readable}/{len(pres)}")
    print(f"decoded payloads not in the manifest: {stray or 'none'}")
    return not stray and readable >= 0.8 * len(pres)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "kiosk" / "demo" / "media", help="output folder")
    ap.add_argument("--preview", type=Path, help="also save 4 representative frames (PNG) here")
    args = ap.parse_args()
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    video = args.out / "gate.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (W, H))
    if not writer.isOpened():
        print("cannot open an mp4v VideoWriter", file=sys.stderr)
        return 1
    rend = Renderer(writer, np.random.default_rng(SEED))
    pres: list[dict[str, Any]] = []
    mids: list[int] = []
    for show in SHOWS:
        s, e, mid = rend.show(show)
        pres.append({"start_frame": s, "end_frame": e, "payload": show.payload, "medium": show.medium,
                     "person": show.person})  # fmt: skip
        mids.append(mid)
    rend.gap(12, "")
    writer.release()
    meta = {"generator": "scripts/make_demo_media.py", "fps": FPS, "width": W, "height": H, "frames": rend.n}
    text = json.dumps({**meta, "presentations": pres}, ensure_ascii=False, indent=2)
    (args.out / "manifest.json").write_text(text + "\n", encoding="utf-8")
    preview: dict[int, Path] = {}
    if args.preview:
        args.preview.mkdir(parents=True, exist_ok=True)
        preview = {mids[i]: args.preview / f"frame_{mids[i]:04d}_{SHOWS[i].style}.png" for i in (0, 1, 5, 8)}
    ok = self_check(video, pres, preview)
    print(f"{video}: {rend.n} frames, {video.stat().st_size / 1e6:.2f} MB, {time.monotonic() - t0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
