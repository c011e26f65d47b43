"""Degraded 640x480 grey frames and 15 fps clips of QR codes on phones and ID cards, for bench/decode_hard.py.

What a gate camera sees when someone shows a phone (PC-Covid or VNeID screen) or a paper card (chip CCCD, or a
printed pass) a little too far, tilted, moving, out of focus, under a lamp. Pure functions of (seed, index): the
same seed gives the same frames bit for bit, and frame i does not depend on how many are asked for.

    single_frames(count=300, seed=13) -> list[Sample]   equal thirds easy / medium / hard, in turn
    clips(count=24, seed=13) -> list[Clip]              36 frames at 15 fps each
    empty_frames(count=60, seed=13) -> list[ndarray]    the same scenes with no code
    readable(image, corners, modules, text)             the oracle: can it be read at its true corners?

Scene (hardscene.py; props from scripts/make_demo_media.py): the gate background (mirrored half the time), a
hand holding a phone (app screen, bezel, bloom; screen glare: a saturated elliptical core kept off the finder
patterns and a soft sheen; moire of the pixel grid; screen brightness 0.8-1.12) or a CCCD card (print grain,
toner blotches, bend up to 1.2 modules, shading) or a printed slip; soft shadow edges across paper; pinhole camera
(f = 560 px), lens softness, exposure, shot and read noise, JPEG. Payloads (hardpayloads.py): CCCD 40 %,
PC-Covid 25 %, URL 15 %, HD1 pass 12 %, HC1 certificate 8 % (versions 2 to 18, EC L, M or Q).

Degradations and their ranges (RANGES; a frame is built around one `main` degradation, MAINS in turn):
  size      module pitch after perspective 2.4-4.5 px easy, 1.75-2.2 medium, 1.6-1.8 hard; the symbol's side
            (quiet zone excluded) stays within 22-45 % of the frame's height (Sample.degradations["size"])
  tilt      out-of-plane, about a random in-plane axis: 0-20 / 22-32 / 30-35 degrees; any in-plane rotation
  motion    linear blur 0-0.45 / 0.65-0.95 / 0.95-1.25 modules along a random direction, at most 15 px
  defocus   pillbox of radius 0-0.25 / 0.35-0.5 / 0.5-0.6 modules
  noise     2-6 / 9-13 / 13-18 grey levels at mid grey (shot noise grows with brightness), light-dark
            difference at least 7 sigma
  jpeg      recompression quality 55-90 / 35-50 / 30-35
  contrast  gain on the scene's range 0.5-1 / 0.2-0.32 / 0.1-0.18, with a random offset (dark or washed out)
  glare     phones: saturated core covering up to glare x (3 % for EC L, 7 % M, 11 % Q) of the symbol, sheen
            0.08 + 0.5 x glare of full scale; glare 0-0.25 / 0.5-0.8 / 0.8-1 (no core below 0.2)
  shadow    paper: shadow edge depth 0.8 x shadow, sharper when deeper, card bend 1.6 x shadow; 0-0.25 /
            0.35-0.55 / 0.55-0.75
Levels: easy has everything at easy (a third of easy frames one other degradation at medium); medium has the main
and three others at medium; hard has the main at hard, the code small (size at medium) and two or three others at
medium. Whatever the level: modules of at least 1.6 px, blur and defocus relative to the module, glare within
what the error correction carries (and off the finder patterns and format information), noise below contrast / 7.

Calibration (seed 13, 270 frames, zxing-cpp 3.1.1 defaults, QR only): raw zxing-cpp reads 94 % of easy, 58 % of
medium and 23 % of hard frames; the oracle (readable: rectified at the true corners, filtered, module centres
thresholded) reads 100 %, 86 % and 57 %, so a reader that finds codes better has room to double on the hard third.

Clips: the code comes in from an edge (mostly from below) over 3-6 frames, easing out, then shakes for 1-5 frames
(translation 1.5-3.5 / 2.5-5 / 4-7 px by level, roll 1-3 degrees, tilt 1.5-4 degrees, oscillating with periods of 3.5-7
frames, so that some frames are sharp), then settles (the shake decays over about 2 frames to a tremor of
0.3-1.2 px). Motion blur follows each frame's movement with a shutter open 45-80 % of the frame time. Its lasting
faults are a single frame's at the clip's level, with fewer extras (easy: none; medium: the main at medium; hard:
the main at hard, and in half of them one other at medium). Every clip's last frame is readable by the oracle.
Seed 13: raw zxing-cpp reads 23 of 24 clips, the first read 5.6 frames after the code is fully in view on average;
the oracle reads all 24, after 4.1 frames: most of that wait is the code still moving in (in view after 1-4 frames
of its 3-6 frame entry), so a first read within 4 frames on average is near what any reader can do here.

Empty frames: background only, a hand, a card's back (chip, machine-readable zone), a phone showing text, a
printed notice, clutter (checks, stripes), a logo with three finder-like squares; same camera faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import cv2
import hardpayloads as pay
import hardscene as sc
import numpy as np
import zxingcpp
from hardscene import Arr, Camera, Pose, Prop

Level = Literal["easy", "medium", "hard"]
Medium = Literal["phone", "paper"]
LEVELS: tuple[Level, ...] = ("easy", "medium", "hard")
FPS = 15
_QR = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
CLIP_FRAMES = 36

# The range of each degradation at each level (uniform within). Sizes, motion and defocus are drawn relative to
# the module, since that is what decides whether a code can be read; the pixels reached are in Sample.degradations.
RANGES: dict[str, dict[Level, tuple[float, float]]] = {
    "size": {"easy": (2.4, 4.5), "medium": (1.75, 2.2), "hard": (1.6, 1.8)},  # module pitch, px (after tilt)
    "tilt": {"easy": (0, 20), "medium": (22, 32), "hard": (30, 35)},  # degrees out of plane
    "motion": {"easy": (0, 0.45), "medium": (0.65, 0.95), "hard": (0.95, 1.25)},  # linear blur, modules
    "defocus": {"easy": (0, 0.25), "medium": (0.35, 0.5), "hard": (0.5, 0.6)},  # disk radius, modules
    "noise": {"easy": (2, 6), "medium": (9, 13), "hard": (13, 18)},  # grey levels at mid grey
    "jpeg": {"easy": (55, 90), "medium": (35, 50), "hard": (30, 35)},  # quality
    "contrast": {"easy": (0.5, 1.0), "medium": (0.2, 0.32), "hard": (0.1, 0.18)},  # gain on the scene's range
    "glare": {"easy": (0, 0.25), "medium": (0.5, 0.8), "hard": (0.8, 1.0)},  # phone: share of the glare allowance
    "shadow": {"easy": (0, 0.25), "medium": (0.35, 0.55), "hard": (0.55, 0.75)},  # paper: shadow depth, bend
}
MAINS = tuple(RANGES)
GLARE_ALLOWANCE = {"l": 0.03, "m": 0.07, "q": 0.11, "h": 0.14}  # saturated share of the symbol at glare 1.0
SIZE_RANGE = (0.22, 0.45)  # symbol side (quiet zone excluded) over the frame's height
MIN_MODULE_PX = {"easy": 2.2, "medium": 1.8, "hard": 1.6}  # smallest module pitch after perspective
MAX_MOTION_PX = 15.0
MIN_SNR = 7.0  # light-dark difference over noise sigma, at least


@dataclass(frozen=True)
class Sample:
    """One degraded frame of one code."""

    image: Arr  # 480x640 uint8 grey
    text: str
    level: Level
    degradations: dict[str, float]
    medium: Medium
    main: str = ""  # the degradation this frame was built around (one of MAINS)
    kind: str = ""  # payload kind (hardpayloads.KINDS)
    corners: Arr = field(default_factory=lambda: np.zeros((4, 2)))  # symbol corners in the frame, no quiet zone
    modules: int = 0  # symbol side in modules
    error: str = "m"  # error correction level the symbol was made with (l, m, q)


@dataclass(frozen=True)
class Clip:
    """A code brought into view, shaken, then held: 36 grey frames at 15 fps."""

    frames: list[Arr]
    text: str
    in_view: int  # first frame where the whole symbol, quiet zone included, is inside the frame (and stays)
    medium: Medium
    level: Level = "easy"
    kind: str = ""
    quads: list[Arr] = field(default_factory=list)  # per frame: symbol corners with the quiet zone
    modules: int = 0  # symbol side in modules


@dataclass(frozen=True)
class _Spec:
    """Everything drawn for one code before rendering."""

    text: str
    kind: str
    error: str
    medium: Medium
    levels: dict[str, Level]
    values: dict[str, float]


def _rng(seed: int, *path: int) -> np.random.Generator:
    return np.random.default_rng([seed, *path])


def _draw(rng: np.random.Generator, name: str, level: Level) -> float:
    lo, hi = RANGES[name][level]
    return float(rng.uniform(lo, hi))


EXTRA_MEDIUM = {"easy": (0, 1), "medium": (3, 3), "hard": (2, 3)}  # how many other degradations at medium
CLIP_EXTRA_MEDIUM = {"easy": (0, 0), "medium": (0, 0), "hard": (0, 1)}  # the same for a clip's lasting faults


def _levels(rng: np.random.Generator, level: Level, main: str, clip: bool) -> dict[str, Level]:
    """The level of each degradation: `main` at `level`, a few others (EXTRA_MEDIUM) at medium, the rest easy;
    a hard frame's code is also small (size at medium) unless size is what it is built around."""
    levels: dict[str, Level] = dict.fromkeys(MAINS, "easy")
    others = [m for m in MAINS if m not in (main, "size", "glare", "shadow")]
    if level == "hard" and main != "size" and not clip:
        levels["size"] = "medium"
    lo, hi = (CLIP_EXTRA_MEDIUM if clip else EXTRA_MEDIUM)[level]
    extra = lo if lo == hi else int(rng.choice([lo, hi], p=[0.65, 0.35] if level == "easy" else [0.5, 0.5]))
    for name in rng.choice(others, extra, replace=False):
        levels[str(name)] = "medium"
    levels[main] = level
    return levels


def _spec(rng: np.random.Generator, level: Level, main: str, clip: bool = False) -> _Spec:
    """Payload, medium and degradation values for one code (not yet fitted to the frame)."""
    medium: Medium | None = "phone" if main == "glare" else "paper" if main == "shadow" else None
    while True:
        kind = str(rng.choice(pay.KINDS, p=pay.WEIGHTS))
        if medium == "phone" or medium is None:
            break
        if kind != "pccovid":  # PC-Covid codes are shown on phones only
            break
    if medium is None:
        share = {"cccd": 0.3, "pccovid": 1.0, "url": 0.5, "hd1": 0.6, "hc1": 0.5}[kind]
        medium = "phone" if rng.random() < share else "paper"
    text, error = pay.payload(kind, rng)
    levels = _levels(rng, level, main, clip)
    values = {name: _draw(rng, name, levels[name]) for name in MAINS}
    return _Spec(text, kind, error, medium, levels, values)


def _prop(spec: _Spec, rng: np.random.Generator) -> Prop:
    qr = sc.qr_matrix(spec.text, spec.error)
    v = spec.values
    if spec.medium == "phone":
        style = "vneid" if spec.kind == "cccd" else "pccovid"
        name = pay.ascii_upper(spec.text.split("|")[2]) if spec.kind == "cccd" else "NGUOI DUNG"
        prop = sc.phone(qr, style, name)
        allowance = GLARE_ALLOWANCE[spec.error] * v["glare"] if v["glare"] > 0.2 else 0.0
        v["glare_core"] = sc.add_glare(prop, allowance, 0.08 + 0.5 * v["glare"], rng)
        return prop
    if spec.kind == "cccd":
        return sc.card(qr, spec.text, 0.15 + 0.5 * v["shadow"], 1.6 * v["shadow"], rng)
    return sc.slip(qr, rng)


def _fit(spec: _Spec, prop: Prop, rng: np.random.Generator, level: Level) -> tuple[Pose, Arr]:
    """A pose that keeps the whole symbol in view at the module pitch asked for; turns module-relative values
    into pixels in `spec.values`."""
    v = spec.values
    lo, hi = (v["size"], v["size"]) if spec.levels["size"] != "easy" else (MIN_MODULE_PX[level], 99.0)
    roll, axis = float(rng.uniform(-180, 180)), float(rng.uniform(0, 180))
    side = float(rng.uniform(0.24, 0.42)) * sc.H if spec.levels["size"] == "easy" else 0.3 * sc.H
    pose = Pose(sc.W / 2, sc.H / 2, roll, v["tilt"], axis, side)
    for _ in range(8):  # the side that gives the pitch asked for (perspective makes it not quite linear)
        pitch = sc.module_px(prop, sc.homography(prop, pose))
        want = min(max(pitch, lo), hi)
        side = float(np.clip(side * want / pitch, SIZE_RANGE[0] * sc.H, SIZE_RANGE[1] * sc.H))
        pose = Pose(sc.W / 2, sc.H / 2, roll, v["tilt"], axis, side)
    for attempt in range(200):  # a place in view; shrink a little when rotation and tilt leave no room
        xy = rng.uniform(0, 1, 2) * (sc.W, sc.H)
        pose = Pose(float(xy[0]), float(xy[1]), roll, v["tilt"], axis, side * 0.99 ** (attempt // 20))
        hom = sc.homography(prop, pose)
        if sc.in_frame(prop, hom):
            break
    pitch = sc.module_px(prop, hom)
    v["size"], v["module_px"] = pose.side / sc.H, pitch
    v["motion"] = min(MAX_MOTION_PX, v["motion"] * pitch)
    v["defocus"] = v["defocus"] * pitch
    return pose, hom


def _camera(spec: _Spec, rng: np.random.Generator, motion: float, angle: float) -> Camera:
    v = spec.values
    contrast = v["contrast"]
    noise = min(v["noise"], contrast * 200 / MIN_SNR)
    v["noise"] = noise
    offset = float(rng.uniform(5, max(6.0, (1.0 - contrast) * 190)))
    moire = 0.03 + 0.09 * v["glare"] if spec.medium == "phone" else 0.0
    return Camera(
        motion=motion,
        motion_angle=angle,
        defocus=v["defocus"],
        noise=noise,
        jpeg=round(v["jpeg"]),
        contrast=contrast,
        offset=offset,
        screen=float(rng.uniform(0.8, 1.12)),
        moire=moire,
        shadow=0.8 * v["shadow"] if spec.medium == "paper" else 0.0,
        seed=int(rng.integers(2**31)),
    )


def single_frames(count: int = 300, seed: int = 13) -> list[Sample]:
    """`count` frames, levels in turn (easy, medium, hard), each built around one degradation of MAINS in turn.

    Frame i depends only on (seed, i): a shorter run is a prefix of a longer one."""
    return [single_frame(i, seed) for i in range(count)]


def single_frame(i: int, seed: int = 13) -> Sample:
    rng = _rng(seed, 1, i)
    level, main = LEVELS[i % 3], MAINS[(i // 3) % len(MAINS)]
    spec = _spec(rng, level, main)
    prop = _prop(spec, rng)
    pose, hom = _fit(spec, prop, rng, level)
    cam = _camera(spec, rng, spec.values["motion"], float(rng.uniform(0, 180)))
    stack = sc.prepared(prop, pose.side)
    image = sc.shoot(sc.background(rng), [(stack, hom)], cam)
    corners = sc.project(hom, prop.symbol_quad(quiet=False))
    values = {k: round(float(x), 3) for k, x in spec.values.items()}
    values["motion_angle"] = round(cam.motion_angle, 1)
    return Sample(image, spec.text, level, values, spec.medium, main, spec.kind, corners, prop.modules, spec.error)


CLIP_MAINS = tuple(m for m in MAINS if m != "motion")  # in a clip, motion comes from the hand
SHAKE_PX = {"easy": (1.5, 3.5), "medium": (2.5, 5), "hard": (4, 7)}  # hand jitter amplitude while shaking


def clips(count: int = 24, seed: int = 13) -> list[Clip]:
    """`count` clips, levels in turn; each clip's lasting degradation is one of CLIP_MAINS in turn."""
    return [clip(i, seed) for i in range(count)]


def clip(i: int, seed: int = 13) -> Clip:
    """A phone or card coming in from an edge, shaking, then settling; the first attempt that stays in view."""
    level, main = LEVELS[i % 3], CLIP_MAINS[(i // 3) % len(CLIP_MAINS)]
    for attempt in range(50):
        rng = _rng(seed, 2, i, attempt)
        spec = _spec(rng, level, main, clip=True)
        spec.values["motion"] = 0.0
        prop = _prop(spec, rng)
        hold, _ = _fit(spec, prop, rng, level)
        hold = Pose(sc.W / 2 + 0.8 * (hold.cx - sc.W / 2), sc.H / 2 + 0.8 * (hold.cy - sc.H / 2), hold.roll,
                    hold.tilt, hold.axis, hold.side)  # fmt: skip
        poses = _track(hold, rng, level)
        homs = [sc.homography(prop, p) for p in poses]
        inside = [sc.in_frame(prop, h) for h in homs]
        if inside[0] or True not in inside or not all(inside[inside.index(True) :]):
            continue
        film = _film(spec, prop, poses, homs, inside.index(True), level, rng)
        if readable(film.frames[-1], film.quads[-1], prop.modules, spec.text, quiet=True):
            return film
    raise RuntimeError(f"clip {i}: no track keeps the code in view")


def _track(hold: Pose, rng: np.random.Generator, level: Level) -> list[Pose]:
    """Per-frame poses: in from an edge (ease-out), hand shake, then settling with a small residual tremor."""
    n_in, n_shake = int(rng.integers(3, 7)), int(rng.integers(1, 6))
    edge = rng.choice(["bottom", "left", "right", "top"], p=[0.5, 0.2, 0.2, 0.1])
    reach = hold.side * rng.uniform(0.9, 1.4)
    starts = {
        "bottom": (hold.cx + rng.uniform(-60, 60), sc.H + reach),
        "top": (hold.cx, -reach),
        "left": (-reach, hold.cy + rng.uniform(-40, 40)),
        "right": (sc.W + reach, hold.cy),
    }
    sx, sy = starts[str(edge)]
    d_roll, d_tilt = rng.uniform(-20, 20), rng.uniform(-12, 12)
    amp, res = rng.uniform(*SHAKE_PX[level]), rng.uniform(0.3, 1.2)
    period, phase = rng.uniform(3.5, 7, 4), rng.uniform(0, 2 * np.pi, 4)
    rot_amp, tilt_amp = rng.uniform(1, 3), rng.uniform(1.5, 4)
    poses = []
    for k in range(CLIP_FRAMES):
        u = min(1.0, k / n_in)
        ease = 1 - (1 - u) ** 2
        t = k - n_in
        env = 0.0 if t < 0 else (1.0 if t < n_shake else float(np.exp(-(t - n_shake) / 2.0)))
        wave = np.sin(2 * np.pi * k / period + phase)
        shake = amp * env + res
        poses.append(Pose(
            sx + (hold.cx - sx) * ease + shake * wave[0], sy + (hold.cy - sy) * ease + shake * wave[1],
            hold.roll + d_roll * (1 - ease) + rot_amp * env * wave[2],
            float(np.clip(hold.tilt + d_tilt * (1 - ease) + tilt_amp * env * wave[3], 0, 38)),
            hold.axis, hold.side * (0.85 + 0.15 * ease),
        ))  # fmt: skip
    return poses


def _film(spec: _Spec, prop: Prop, poses: list[Pose], homs: list[Arr], in_view: int, level: Level,
          rng: np.random.Generator) -> Clip:  # fmt: skip
    """Render the track: motion blur along each frame's movement, fresh sensor noise, the same scene."""
    stack = sc.prepared(prop, poses[-1].side)
    scene = sc.background(rng)
    base = _camera(spec, rng, 0.0, 0.0)
    shutter = rng.uniform(0.45, 0.8)  # share of the frame time the shutter is open (indoor light)
    frames, quads = [], []
    for k, pose in enumerate(poses):
        prev = poses[max(k - 1, 0)] if k else poses[1]
        dx, dy = pose.cx - prev.cx, pose.cy - prev.cy
        spin = abs(pose.roll - prev.roll) * np.pi / 180 * pose.side / 2
        length = min(40.0, shutter * (float(np.hypot(dx, dy)) + spin))
        cam = Camera(**{**base.__dict__, "motion": length, "motion_angle": float(np.degrees(np.arctan2(dy, dx))),
                        "seed": int(rng.integers(2**31))})  # fmt: skip
        frames.append(sc.shoot(scene, [(stack, homs[k])], cam))
        quads.append(sc.project(homs[k], prop.symbol_quad(quiet=True)))
    return Clip(frames, spec.text, in_view, spec.medium, level, spec.kind, quads, prop.modules)


EMPTY_KINDS = ("bare", "hand", "card-back", "phone-text", "notice", "clutter", "bare", "finders")


def empty_frames(count: int = 60, seed: int = 13) -> list[Arr]:
    """The same scenes and camera faults with no code in view (some with a hand, a card's back, text, clutter)."""
    return [empty_frame(i, seed) for i in range(count)]


def empty_frame(i: int, seed: int = 13) -> Arr:
    return idle_stream(i, 1, seed)[0]


def idle_stream(i: int, frames: int, seed: int = 13) -> list[Arr]:
    """An idle gate: empty frame `i`'s scene filmed `frames` times in a row, only the sensor's noise changing
    (frame 0 is `empty_frame(i)`)."""
    rng = _rng(seed, 3, i)
    level, kind = LEVELS[i % 3], EMPTY_KINDS[(i // 3) % len(EMPTY_KINDS)]
    spec = _spec(rng, level, MAINS[int(rng.integers(len(MAINS)))])
    prop = sc.bare_prop(kind, rng)
    layers = []
    if prop is not None:
        pose = Pose(float(rng.uniform(150, 490)), float(rng.uniform(120, 360)), float(rng.uniform(-180, 180)),
                    spec.values["tilt"], float(rng.uniform(0, 180)), float(rng.uniform(120, 260)))  # fmt: skip
        layers.append((sc.prepared(prop, pose.side), sc.homography(prop, pose)))
    cam = _camera(spec, rng, spec.values["motion"], float(rng.uniform(0, 180)))
    scene = sc.background(rng)
    return [sc.shoot(scene, layers, replace(cam, seed=cam.seed + n)) for n in range(frames)]


ORACLE_PX = 8  # pixels per module of the rectified symbol


def readable(image: Arr, corners: Arr, modules: int, text: str, quiet: bool = False) -> bool:
    """Whether the code can be read from `image` by someone who knows where its corners are: the symbol is
    rectified at its true corners, lightly filtered, and read by zxing-cpp both as it is and after sampling each
    module's centre against a local threshold. Not a reader (it is given the answer's geometry): a ceiling."""
    p, n = ORACLE_PX, modules
    margin = 0 if quiet else 4 * p
    size = n * p + 8 * p
    lo, hi = (0, size) if quiet else (margin, margin + n * p)
    dst = np.array([[lo, lo], [hi, lo], [hi, hi], [lo, hi]], np.float32)
    hom = cv2.getPerspectiveTransform(np.asarray(corners, np.float32), dst)
    rect = cv2.warpPerspective(image.astype(np.float32), hom, (size, size), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    for v in (rect, cv2.GaussianBlur(rect, (0, 0), 2), cv2.GaussianBlur(rect, (0, 0), 3.5),
              rect * 2 - cv2.GaussianBlur(rect, (0, 0), 4)):  # fmt: skip
        if _zxing_reads(np.clip(v, 0, 255).astype(np.uint8), text):
            return True
        centres = cv2.boxFilter(v, -1, (p // 2, p // 2))[4 * p + p // 2 :: p, 4 * p + p // 2 :: p][:n, :n]
        for k in (5, 9, 15):
            light = (centres > cv2.blur(centres, (k, k), borderType=cv2.BORDER_REFLECT)).astype(np.uint8) * 255
            clean = cv2.resize(np.pad(light, 4, constant_values=255), None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST)
            if _zxing_reads(clean, text):
                return True
    return False


FUSED = 3  # frames the fused oracle averages at most


def readable_fused(clip: Clip, k: int) -> bool:
    """Whether frame `k` of `clip`, averaged with up to FUSED - 1 frames before it (those with the symbol in
    view) after warping each onto frame k at the symbol's true corners, is `readable`: what a reader that aligned
    several frames perfectly and combined them could read (noise and glare average out; blur does not)."""
    target = np.asarray(clip.quads[k], np.float32)
    height, width = clip.frames[k].shape[:2]
    warped = []
    for j in range(k, max(clip.in_view, k - FUSED + 1) - 1, -1):
        hom = cv2.getPerspectiveTransform(np.asarray(clip.quads[j], np.float32), target)
        warped.append(cv2.warpPerspective(clip.frames[j].astype(np.float32), hom, (width, height),
                                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))  # fmt: skip
        mean = np.clip(np.mean(warped, axis=0) + 0.5, 0, 255).astype(np.uint8)
        if readable(mean, target, clip.modules, clip.text, quiet=True):
            return True
    return False


def _zxing_reads(image: Arr, text: str) -> bool:
    found = zxingcpp.read_barcodes(image, formats=_QR, try_rotate=False, try_downscale=False)
    return any(r.text == text for r in found)
